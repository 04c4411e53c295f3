"""Per-hit brightness: what the features remove by design, kept beside them for the classifier.

The features normalise every hit to unit RMS, so that a bright and a faint view of the same
particle land together on the manifold. Some classes differ mainly by brightness (a faint
particle from a single, a non-hit from a weak hit), so the manifold also stores two numbers
per hit, used by the labels' classifier only (labelling/blend.py), never by the graph:

* ``log1p`` of the summed signal of the good pixels above the hit's noise, and
* ``log1p`` of how many good pixels are above it.

The noise is the RMS of the hit's negative pixels (read noise around a zero pedestal:
pedestal-corrected detectors read both signs where no photon arrived); a pixel counts as
signal above ``NOISE_SIGMAS`` times it. A detector that stores photon counts has no negative
pixels, and then every positive pixel counts.
"""
from __future__ import annotations

import numpy as np

from .stream import iter_blocks, require_images

#: Names of the brightness columns, in order.
BRIGHTNESS_NAMES = ("log_signal", "log_lit_pixels")
#: A pixel is signal above this many noise RMS.
NOISE_SIGMAS = 5.0


def hit_brightness(images: np.ndarray, good: np.ndarray | None = None) -> np.ndarray:
    """float32 ``(n, 2)`` brightness of images ``(n, H, W)``: log signal, log lit pixels.

    ``good`` (bool ``(H, W)``, True = good pixel) leaves out masked pixels; non-finite
    pixels are left out image by image.
    """
    v = np.asarray(images, dtype=np.float32)
    if v.ndim == 2:
        v = v[None]
    n = len(v)
    v = v.reshape(n, -1)
    ok = np.isfinite(v)
    if good is not None:
        ok &= np.asarray(good, dtype=bool).reshape(1, -1)
    v = np.where(ok, v, np.float32(0))
    neg = np.minimum(v, 0)
    n_neg = np.maximum((neg < 0).sum(axis=1), 1)
    noise = np.sqrt((neg.astype(np.float64) ** 2).sum(axis=1) / n_neg)
    lit = v > (NOISE_SIGMAS * noise)[:, None].astype(np.float32)
    signal = np.where(lit, v, np.float32(0)).sum(axis=1, dtype=np.float64)
    return np.stack([np.log1p(signal), np.log1p(lit.sum(axis=1))], axis=1).astype(np.float32)


def run_brightness(run, start: int, stop: int, good: np.ndarray | None = None) -> np.ndarray:
    """:func:`hit_brightness` of rows ``[start, stop)`` of ``run``, read block by block.

    ``good`` is combined with the run's own mask (``run.mask``) when it has one.
    """
    require_images(run)
    mask = getattr(run, "mask", None)
    if mask is not None:
        good = np.asarray(mask, dtype=bool) if good is None else good & np.asarray(mask, bool)
    out = np.zeros((stop - start, len(BRIGHTNESS_NAMES)), dtype=np.float32)
    row = 0
    for images in iter_blocks(run, start, stop):
        out[row:row + len(images)] = hit_brightness(images, good)
        row += len(images)
    return out
