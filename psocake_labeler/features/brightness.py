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

A block of rows read as exact zeros in one image (a half not read out for that event; the
features' ``zero_rows`` rule, ``centering.unread_rows``) is left out, and both numbers are
scaled by the good pixels over those left: a diffraction pattern is centrosymmetric, so the
lost half held what the other half holds. Counted as read, a clipped single looked as dim as
a faint one (log signal 1.2 lower on a five-class run).
"""
from __future__ import annotations

import numpy as np

from .centering import unread_rows
from .stream import SUB_PIXELS

#: Names of the brightness columns, in order.
BRIGHTNESS_NAMES = ("log_signal", "log_lit_pixels")
#: The per-hit columns the features pass hands on beside the features (``with_brightness``):
#: the brightness, then the reliability of the hit's features
#: (``pipeline.ImagePipeline.reliability``); with ``classifier_autocorr`` the hit's
#: autocorrelation radial profile follows (features/autocorr.py). The manifold keeps them
#: apart (:func:`split_hit_columns`).
HIT_COLUMNS = BRIGHTNESS_NAMES + ("reliability",)
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
    step = max(1, SUB_PIXELS // max(1, v.shape[1] * v.shape[2]))
    if len(v) > step:   # a few images at a time: small temporaries (stream.SUB_PIXELS)
        return np.concatenate([hit_brightness(v[a:a + step], good)
                               for a in range(0, len(v), step)])
    n, h, w = v.shape
    v = v.reshape(n, -1)
    ok = None if good is None else np.asarray(good, dtype=bool).reshape(1, -1)
    if not np.isfinite(v).all():
        ok = np.isfinite(v) if ok is None else np.isfinite(v) & ok
    scale = None
    unread = unread_rows(v.reshape(n, h, w), np.ones((h, w), dtype=bool) if good is None
                         else np.asarray(good, dtype=bool))
    if unread[:, :, 0].any():
        # Good pixels over those read out: what a lost half would have added.
        full = np.broadcast_to(True if ok is None else ok, v.shape)
        ok = full & ~unread.reshape(n, -1)
        scale = np.count_nonzero(full, axis=1) / np.maximum(np.count_nonzero(ok, axis=1), 1)
    if ok is not None and not ok.all():
        v = np.where(ok, v, np.float32(0))
    # Sums in float64 without float64 copies of the images (einsum, reduce where=).
    neg = np.minimum(v, 0)
    n_neg = np.maximum(np.count_nonzero(neg, axis=1), 1)
    noise = np.sqrt(np.einsum("ij,ij->i", neg, neg, dtype=np.float64) / n_neg)
    lit = v > (NOISE_SIGMAS * noise)[:, None].astype(np.float32)
    signal = np.add.reduce(v, axis=1, dtype=np.float64, where=lit)
    count = np.count_nonzero(lit, axis=1).astype(np.float64)
    if scale is not None:
        signal *= scale
        count *= scale
    return np.stack([np.log1p(signal), np.log1p(count)], axis=1).astype(np.float32)


def hit_columns(images: np.ndarray, good: np.ndarray | None, reliability: np.ndarray,
                profile: np.ndarray | None = None) -> np.ndarray:
    """float32 ``(n, len(HIT_COLUMNS) [+ k])``: :func:`hit_brightness`, ``reliability``, then
    the ``profile`` (n, k) columns if given."""
    parts = [hit_brightness(images, good), np.asarray(reliability, dtype=np.float32)]
    return np.column_stack(parts if profile is None else parts + [profile])


def split_hit_columns(columns: np.ndarray | None) -> tuple:
    """``(brightness (n, 2), reliability (n,), profile (n, k) or None)`` of
    :func:`hit_columns` rows ((None, None, None) for None)."""
    if columns is None:
        return None, None, None
    k = len(BRIGHTNESS_NAMES)
    rest = columns[:, len(HIT_COLUMNS):]
    return (np.ascontiguousarray(columns[:, :k]),
            np.ascontiguousarray(columns[:, HIT_COLUMNS.index("reliability")]),
            np.ascontiguousarray(rest) if rest.shape[1] else None)
