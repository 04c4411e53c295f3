"""Polar features from the known part of each ring only, so that a mask is not a feature.

A ring filled with its mean where pixels are missing has less angular power than the
same ring seen whole, in proportion to the part missing; with the beam jittering by
several pixels next to a dead half, that part changes from hit to hit and becomes the
feature. Here each polar cell is the mean of its known samples (``known`` is sampled on
the same grid as the values), a cell with less than half its weight known is unknown, and
per ring:

* the radial profile is the mean of its known cells (a ring with none takes the nearest
  ring's: no hole in the profile, no "unknown" value that only masked hits have);
* the angular spectrum comes from the autocorrelation over known pairs only,
  ``A(l) = sum_t x(t) x(t+l) / sum_t k(t) k(t+l)`` (``x`` the known values minus the
  ring mean, ``k`` the known cells), whose Fourier transform estimates the whole ring's power
  ``|F_m|^2 / n`` (Wiener-Khinchin); the amplitude is its square root, clipped at 0.

For a ring seen whole this is exactly ``representations.polar_features``: the same radial
profile and ``|F_m| / n``. Friedel mates (``centering.friedel_fill``) are filled in first,
so that only what no symmetry recovers is left out.
"""
from __future__ import annotations

import numpy as np

#: A polar cell is known when at least this much of its sampling weight is good.
KNOWN_WEIGHT = 0.5


def ring_means(val: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``(n, R)`` mean of each ring's known cells; a ring with none takes the nearest ring's
    (0 where an image has no known cell at all)."""
    n, r, _ = val.shape
    cnt = known.sum(axis=2)
    mean = np.where(cnt > 0, (val * known).sum(axis=2) / np.maximum(cnt, 1), 0.0)
    has = cnt > 0
    ring = np.arange(r)
    below = np.maximum.accumulate(np.where(has, ring, -1), axis=1)
    above = np.minimum.accumulate(np.where(has, ring, 2 * r)[:, ::-1], axis=1)[:, ::-1]
    d_below = np.where(below >= 0, ring - below, 4 * r)
    d_above = np.where(above < r, above - ring, 4 * r)
    near = np.clip(np.where(d_below <= d_above, below, above), 0, r - 1)
    return np.take_along_axis(mean, near, axis=1) * has.any(axis=1, keepdims=True)


def known_spectra(val: np.ndarray, known: np.ndarray, mean: np.ndarray,
                  n_harmonics: int) -> np.ndarray:
    """``(n, R, M)`` angular amplitudes of harmonics 1..M from the known pairs of each ring."""
    n, r, t = val.shape
    x = np.where(known, val - mean[:, :, None], 0.0)
    k = known.astype(np.float64)
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, axis=2)) ** 2, t, axis=2)
    pairs = np.fft.irfft(np.abs(np.fft.rfft(k, axis=2)) ** 2, t, axis=2)
    # Lags with no known pair say nothing: 0, the value of a ring without structure.
    acn = np.where(pairs > 0.5, ac / np.maximum(pairs, 1.0), 0.0)
    power = np.fft.rfft(acn, axis=2).real
    m = min(n_harmonics, power.shape[2] - 1)
    return np.sqrt(np.maximum(power[:, :, 1:m + 1], 0.0) / t)


def masked_polar_features(polar_v: np.ndarray, polar_k: np.ndarray, n_harmonics: int,
                          unit: bool) -> np.ndarray:
    """float32 ``(n, R * (1 + M))``: radial profile plus angular amplitudes, as
    ``representations.polar_features``, from polar grids of ``values * known``
    (``polar_v``) and of ``known`` (``polar_k``).

    ``unit``: scale each hit to unit RMS over its known cells (q units, where the rings,
    not the image, set the scale)."""
    known = polar_k > KNOWN_WEIGHT
    val = np.where(known, polar_v / np.maximum(polar_k, 1e-6), 0.0).astype(np.float64)
    if unit:
        n = len(val)
        cnt = np.maximum(known.reshape(n, -1).sum(axis=1), 1)
        rms = np.sqrt((val.reshape(n, -1) ** 2).sum(axis=1) / cnt)
        val = val * np.where(rms > 0, 1.0 / np.where(rms > 0, rms, 1.0), 0.0)[:, None, None]
    mean = ring_means(val, known)
    amp = known_spectra(val, known, mean, n_harmonics)
    return np.concatenate([mean, amp.reshape(len(val), -1)], axis=1).astype(np.float32)
