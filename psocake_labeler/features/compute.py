"""``compute_features``: the feature rows of this MPI rank, fitting the transform if needed."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._parallel import block_range
from ..errors import InputError
from ..progress import ProgressCallback
from .geometry import run_geometry
from .stream import Tracker, iter_blocks, require_images
from .transform import FeatureTransform


def compute_features(run, transform: FeatureTransform | None = None, comm=None,
                     progress: ProgressCallback | None = None,
                     **options: Any) -> tuple[np.ndarray, FeatureTransform]:
    """Features of rows ``block_range(len(run), size, rank)`` of ``run``.

    Parameters
    ----------
    run
        A :class:`~psocake_labeler.io.Run` (or anything with ``__len__``, ``images(sel)``,
        ``image_shape``, ``mask``, ``center``).
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
    size, rank = (1, 0) if comm is None else (comm.Get_size(), comm.Get_rank())
    start, stop = block_range(len(run), size, rank)
    tracker = Tracker(progress)
    if transform is None:
        transform = FeatureTransform(**options)
        local = transform._fit(run, comm, tracker, keep=True)
        if local is not None:
            return transform.project(local), transform
    elif options:
        raise InputError(f"feature options {', '.join(sorted(options))} cannot change a "
                         f"transform that is already fitted; pass one or the other")
    elif not transform.fitted:
        transform._fit(run, comm, tracker, keep=False)
    tracker.plan(stop - start)
    require_images(run)
    if transform.image_shape != run.image_shape:
        raise InputError(f"{getattr(run, 'path', 'the run')}: images of shape "
                         f"{run.image_shape} do not match the {transform.image_shape} images "
                         f"the feature transform was fitted on")
    out = np.zeros((stop - start, transform.n_features), dtype=np.float32)
    row = 0
    geometry = run_geometry(run, transform.q_edges is not None)
    for images in iter_blocks(run, start, stop):
        out[row:row + len(images)] = transform.transform(images, mask=run.mask,
                                                         geometry=geometry)
        row += len(images)
        tracker.add(len(images))
    return out, transform
