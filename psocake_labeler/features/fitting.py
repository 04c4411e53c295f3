"""The streaming half of the feature transform: bad pixels and PCA over a whole run.

The run is read block by block; with an MPI communicator every rank reads only its own rows
(``block_range``) and the statistics (pixel counts, moments) are summed over ranks, so the
fit does not depend on the rank count.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._parallel import block_range
from ..errors import EmptyRunError, InputError, LayoutError
from .brightness import hit_columns
from .frames import auto_search, centre_shift, follows_beam, part_frames, sample_offsets
from .geometry import part_geometries, reference_geometry
from .masking import MIN_SAMPLE, PixelStats
from .pipeline import ImagePipeline
from .reduction import COV_MAX_DIM, Moments, allreduce, pca_from_moments, randomized_pca
from .stream import Tracker, chunk_rows, iter_part_blocks, require_images

# Keep this rank's pre-PCA features in memory (to avoid a second read) below this size.
CACHE_BYTES = 256 * 2 ** 20
# At most this many pixels (summed over sampled images) go into the bad-pixel statistics.
MASK_PIXELS = 2 ** 26


@dataclass
class Fit:
    """What fitting found: the per-image pipeline and the centring / PCA statistics.

    ``local`` holds this rank's pre-PCA features when they were kept (else None);
    ``brightness`` this rank's per-hit brightness, reliability and profile (``HIT_COLUMNS``,
    features/brightness.py), computed on the blocks the features were read in (None when
    not asked for or loaded from a file).
    """

    pipeline: ImagePipeline
    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray | None
    explained_variance: np.ndarray | None
    local: np.ndarray | None
    brightness: np.ndarray | None = None


def _run_frame(run) -> tuple[tuple[int, int], np.ndarray, tuple[float, float]]:
    """The run's image shape, file mask (all good when absent) and beam centre."""
    path = getattr(run, "path", "the run")
    if len(run) == 0:
        raise EmptyRunError(f"{path}: the run holds no hits, so there is nothing to embed")
    require_images(run)
    shape = tuple(run.image_shape)
    file_mask = run.mask
    if file_mask is None:
        file_mask = np.ones(shape, dtype=bool)
    elif tuple(np.shape(file_mask)) != shape:
        raise LayoutError(f"{path}: mask shape {np.shape(file_mask)} differs from the "
                          f"image shape {shape}; fix or drop the mask")
    center = run.center
    if center is None:
        center = ((shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0)
    return shape, file_mask, center


def _bad_pixels(params: dict, run, shape, file_mask, center, rows: tuple[int, int], comm,
                tracker: Tracker) -> np.ndarray:
    """Good-pixel mask from a sample spread over the run; integer counts summed over ranks."""
    n = len(run)
    start, stop = rows
    # Bounded pixel count too: on a megapixel detector 64 images already tell dead and
    # hot pixels apart, and the statistics cost ~0.3 s per megapixel image.
    budget = max(4 * MIN_SAMPLE, MASK_PIXELS // (shape[0] * shape[1]))
    n_sample = min(n, int(params["mask_sample"]), budget)
    sample = np.unique(np.linspace(0, n - 1, n_sample).round().astype(np.int64))
    local_sample = sample[(sample >= start) & (sample < stop)]
    tracker.plan(len(local_sample) + (stop - start))
    stats = PixelStats(shape, center, file_mask, float(params["hot_sigma"]))
    step = chunk_rows(shape, 2 ** 19)
    for a in range(0, len(local_sample), step):
        idx = local_sample[a:a + step]
        stats.update(run.images(idx))
        tracker.add(len(idx))
    counts = allreduce(stats.counts, comm)
    mask = stats.bad_mask(counts, float(params["hot_fraction"]),
                          bool(params["detect_bad_pixels"]))
    if not mask.any():
        raise InputError(f"{getattr(run, 'path', 'the run')}: every pixel is masked (file "
                         f"mask, NaN/inf, dead or hot); check the mask or pass "
                         f"detect_bad_pixels=False")
    return mask


def fit_run(params: dict, run, comm: Any, tracker: Tracker, keep: bool,
            brightness: bool = False) -> Fit:
    """Fit on ``run`` (all ranks of ``comm``); keep this rank's pre-PCA features if asked.

    ``params`` are the transform's validated parameters. The features are kept when
    ``keep`` (or when the randomized PCA needs a second pass) and they fit in
    :data:`CACHE_BYTES`. ``brightness``: also each hit's ``HIT_COLUMNS``, from the same
    blocks.
    """
    shape, file_mask, center = _run_frame(run)
    size, rank = (1, 0) if comm is None else (comm.Get_size(), comm.Get_rank())
    start, stop = block_range(len(run), size, rank)
    mask = _bad_pixels(params, run, shape, file_mask, center, (start, stop), comm, tracker)
    # Where the (first) run's beam is, and how much it jitters about there.
    parts = part_geometries(run, params["units"])
    auto, follow = params["beam_search"] == "auto", follows_beam(params)
    offsets = sample_offsets(params, run, mask, center, (0, parts[0][0]), (start, stop),
                             comm) if auto or follow else np.zeros((0, 3))
    shift = centre_shift(offsets) if follow else np.zeros(2)
    if auto:
        params = {**params, "beam_search": auto_search(offsets, shift, shape)}
    center = (center[0] + float(shift[0]), center[1] + float(shift[1]))
    # Runs read as one may have been taken at other distances or energies, or have their
    # beam elsewhere: each keeps its own geometry and centre, the rings are laid out for
    # the coarsest geometry.
    pipe = ImagePipeline(params, shape, center, mask, reference_geometry(parts))
    frames = part_frames(pipe, run, parts, (start, stop), comm, first=1, auto=auto)

    # Pre-PCA features of this rank's rows: moments, and a cache if small enough.
    dim = pipe.raw_features(np.zeros((1,) + tuple(shape), np.float32)).shape[1]
    exact = dim <= COV_MAX_DIM
    mom = Moments(dim, gram=exact)
    keep = keep or not exact
    cache = [] if keep and (stop - start) * dim * 4 <= CACHE_BYTES else None
    # The brightness and reliability of each hit, from the same blocks: one read.
    bright = np.zeros((stop - start, pipe.n_hit_columns), dtype=np.float32) \
        if brightness else None
    row = 0
    for images, (geometry, part) in iter_part_blocks(run, start, stop, frames):
        if bright is not None:
            raw, rel, prof = part.hit_outputs(images, None, geometry)
            bright[row:row + len(images)] = hit_columns(images, pipe.mask, rel, prof)
        else:
            raw = part.raw_features(images, None, geometry)
        row += len(images)
        mom.update(raw)
        if cache is not None:
            cache.append(raw)
        tracker.add(len(raw))
    mom.reduce(comm)
    local = np.concatenate(cache) if cache else (
        np.zeros((0, dim), np.float32) if cache is not None else None)

    # PCA (or only centring).
    k = min(int(params["n_pca"]), dim)
    standardize = bool(params["standardize"])
    if k == 0:
        mean, scale = mom.mean_scale(standardize)
        return Fit(pipe, mean, scale, None, None, local, bright)
    if exact:
        return Fit(pipe, *pca_from_moments(mom, k, standardize), local, bright)

    def blocks():
        if local is not None:
            yield from np.array_split(local, max(1, len(local) // 4096))
        else:
            for images, (geometry, part) in iter_part_blocks(run, start, stop, frames):
                yield part.raw_features(images, None, geometry)
    return Fit(pipe, *randomized_pca(blocks, mom, k, standardize, comm,
                                     seed=int(params["random_state"])), local, bright)
