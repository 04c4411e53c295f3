"""``compute_features``: the feature rows of this MPI rank, fitting the transform if needed."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..progress import ProgressCallback
from .transform import FeatureTransform


def compute_features(run, transform: FeatureTransform | None = None, comm=None,
                     progress: ProgressCallback | None = None,
                     **options: Any) -> tuple[np.ndarray, FeatureTransform]:
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

    Returns
    -------
    (local_feats, transform)
        float32 ``(n_local, d)`` and the transform used.
    """
    if transform is None:
        transform = FeatureTransform.from_options(**options)
    elif options:
        raise InputError(f"feature options {', '.join(sorted(options))} cannot change a "
                         f"transform that is already fitted; pass one or the other")
    if hasattr(transform, "mean_"):   # fitted (or loaded): apply as is
        return transform.transform(run, comm=comm, progress=progress), transform
    return transform.fit_transform(run, comm=comm, progress=progress), transform
