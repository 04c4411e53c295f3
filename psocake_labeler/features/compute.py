"""``compute_features``: the feature rows of this MPI rank, fitting the transform if needed."""
from __future__ import annotations

from typing import Any

from ..errors import InputError
from ..progress import ProgressCallback
from .transform import FeatureTransform


def compute_features(run, transform: FeatureTransform | None = None, comm=None,
                     progress: ProgressCallback | None = None, with_brightness: bool = False,
                     **options: Any) -> tuple:
    """Features of rows ``block_range(len(run), size, rank)`` of ``run``.

    Parameters
    ----------
    run
        A :class:`~psocake_labeler.io.Run` (or anything with ``__len__``, ``images(sel)``,
        ``image_shape``, ``mask``, ``center``), or an images array ``(n, H, W)``.
    transform
        A fitted transform (e.g. loaded from a manifold) to apply as is, combined with
        this run's file mask; an unfitted one is fitted on this run first; None fits a new
        ``FeatureTransform(**options)`` on this run, across all ranks of ``comm``.
    comm
        mpi4py communicator, or None for one process.
    progress
        ``progress(stage, done, total)`` callable; stage is ``"features"``.
    with_brightness
        Also return the rows' brightness and reliability (``HIT_COLUMNS``,
        features/brightness.py) and, with ``classifier_autocorr``, their autocorrelation
        profile, computed on the blocks the features are read in (one read of the images).

    Returns
    -------
    (local_feats, transform) or, with ``with_brightness``, (local_feats, transform, bright)
        float32 ``(n_local, d)``, the transform used and float32 ``(n_local, 3 [+ 40])``.
    """
    if transform is None:
        transform = FeatureTransform.from_options(**options)
    elif options:
        raise InputError(f"feature options {', '.join(sorted(options))} cannot change a "
                         f"transform that is already fitted; pass one or the other")
    if hasattr(transform, "mean_"):   # fitted (or loaded): apply as is
        out = transform.transform(run, comm=comm, progress=progress,
                                  with_brightness=with_brightness)
    else:
        out = transform.fit_transform(run, comm=comm, progress=progress,
                                      with_brightness=with_brightness)
    return (out[0], transform, out[1]) if with_brightness else (out, transform)
