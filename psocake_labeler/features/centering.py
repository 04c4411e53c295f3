"""Beam centre per hit from Friedel symmetry, and masks that differ from event to event.

A diffraction pattern of a (nearly) real object is centrosymmetric about the beam:
I(c + d) = I(c - d) (Friedel's law). The beam moves by a few pixels from shot to shot, so
the centre is found per hit: the point ``c`` about which the good pixels of the image best
match their mirror images. For all candidate centres at once, with ``g`` the good-pixel
mask and ``v`` the (photon-scaled) image,

    S(t) = sum_x g(x) g(t - x) (v(x) - v(t - x))^2 = 2 (v^2 g * g)(t) - 2 (v g * v g)(t)
    N(t) = (g * g)(t),   centre = argmin_t S(t) / N(t) / 2,

where ``*`` is a convolution (three FFTs per image). Where too few mirror pairs are good
(a dead or clipped half leaves almost none), the centre comes from a fit of the rings on the
good pixels (``ringfit``), else the nominal centre is kept. A bad pixel whose
mirror pixel about the found centre is good takes the mirror's value: the Friedel mate is
the same intensity, unlike a ring average, which erases the speckle of a missing half. The
polar grid is then sampled about the found centre (no resampled image, no extra blur).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import fft, ndimage

from .ringfit import ring_offsets, vertex

#: How the beam centre of a hit is searched (``beam_offsets``): ring fit or Friedel first;
#: the first is the default.
CENTRES = ("rings", "friedel")
#: Fraction of the good pixels that must have a good mirror pixel for a centre estimate.
MIN_OVERLAP = 0.5


def zero_rows(images: np.ndarray, good: np.ndarray, min_rows: int) -> np.ndarray:
    """Per-event bad mask ``(n, H, W)``: runs of >= ``min_rows`` rows whose good pixels all
    read exactly 0 in that image (a detector half that was not read out for that event).

    Read noise makes a real pixel exactly 0 with probability ~0, and one row of zeros can be
    a faint image's far edge; a block of them is a read-out failure.
    """
    n, h, w = images.shape
    has = good.any(axis=1)
    zero = np.all((images == 0) | ~good[None], axis=2) & has[None]   # (n, H)
    bad = np.zeros((n, h), dtype=bool)
    for k in np.flatnonzero(zero.sum(axis=1) >= min_rows):
        lab, count = ndimage.label(zero[k])
        sizes = ndimage.sum(zero[k], lab, np.arange(1, count + 1))
        bad[k] = np.isin(lab, 1 + np.flatnonzero(sizes >= min_rows))
    return np.broadcast_to(bad[:, :, None], (n, h, w))


def unread_rows(images: np.ndarray, good: np.ndarray) -> np.ndarray:
    """:func:`zero_rows` with blocks of at least 1/16 of the image height (2 rows at least):
    the per-event mask of the features' ``zero_rows`` option and of the brightness."""
    return zero_rows(images, good, max(2, images.shape[1] // 16))


def friedel_offsets(values: np.ndarray, good: np.ndarray, center: tuple[float, float],
                    search: float, with_pairs: bool = False) -> Any:
    """Beam-centre offsets ``(n, 2)`` (row, col) from ``center`` that make each image most
    centrosymmetric, within ``search`` pixels; NaN where too few mirror pairs are good or
    the best centre is outside the search. ``with_pairs``: also ``(n,)`` bool, whether
    enough mirror pairs were good (False: a dead or clipped half)."""
    n, h, w = values.shape
    # t = 2 c (pixel indices); candidates within +-2 search of 2 * center.
    t0 = np.array([2 * center[0], 2 * center[1]])
    r = int(np.ceil(2 * search))
    lo = np.floor(t0).astype(int) - r
    shape = _fft_shape((h, w), lo, 2 * r + 2)
    win = (slice(lo[0], lo[0] + 2 * r + 2), slice(lo[1], lo[1] + 2 * r + 2))
    # One mask for the whole block (the usual case): its two transforms are done once.
    good = good.reshape((-1, h, w))
    if len(good) > 1 and bool((good == good[:1]).all()):
        good = good[:1]
    g = _padded(good, shape)
    fg = fft.rfft2(g, workers=1, overwrite_x=True)
    pad = _padded(values, shape)
    pad[:, :h, :w] *= g[:, :h, :w]
    fvg = fft.rfft2(pad, workers=1)
    pad[:, :h, :w] *= values
    fv2g = fft.rfft2(pad, workers=1, overwrite_x=True)
    sw = 2.0 * fft.irfft2(fv2g * fg - fvg * fvg, shape, workers=1)[:, win[0], win[1]]
    cw = fft.irfft2(fg * fg, shape, workers=1)[:, win[0], win[1]]
    need = MIN_OVERLAP * good.reshape(len(good), -1).sum(axis=1)
    score = np.where(cw > np.maximum(need, 1.0)[:, None, None], sw / np.maximum(cw, 1.0), np.inf)
    out = np.full((n, 2), np.nan)
    paired = np.isfinite(score.reshape(n, -1)).any(axis=1)
    for k in range(n):
        if not paired[k]:
            continue
        i, j = np.unravel_index(np.argmin(score[k]), score[k].shape)
        di, dj = vertex(score[k][:, j], i), vertex(score[k][i, :], j)
        t = lo + np.array([i + di, j + dj])
        off = t / 2.0 - np.array(center)
        if np.all(np.abs(off) <= search):
            out[k] = off
    return (out, paired) if with_pairs else out


def _padded(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """float32 ``(n,) + shape``: ``x`` ``(n, h, w)`` in the top-left corner, zeros after."""
    out = np.zeros((len(x),) + tuple(shape), dtype=np.float32)
    out[:, :x.shape[1], :x.shape[2]] = x
    return out


def _fft_shape(shape: tuple[int, int], lo: np.ndarray, width: int) -> tuple[int, int]:
    """The smallest fast FFT size per axis whose circular correlation equals the linear one
    on the window ``lo .. lo + width`` of candidates (``2 * shape`` when the window starts
    below 0): an alias ``t +- N`` of a window index must fall outside ``0 .. 2 (n - 1)``."""
    out = []
    for n, a in zip(shape, lo):
        full = 2 * n
        if a < 0:
            out.append(full)
            continue
        need = max(a + width, 2 * n - 1 - a)
        out.append(min(full, fft.next_fast_len(need, real=True)))
    return tuple(out)


def find_offsets(values: np.ndarray, good: np.ndarray, center: tuple[float, float],
                 search: float, centre: str = CENTRES[0]) -> tuple[np.ndarray, np.ndarray]:
    """Per-hit beam-centre offsets ``(n, 2)``, NaN where no centre lies within the search,
    and ``(n,)`` how firmly each is placed: inf where enough mirror pairs are good (a whole
    pattern, or no pattern: a non-hit's rings place nothing and need not), the ring fit's
    firmness where they are not (``ringfit.ring_offsets``), NaN for no centre.

    ``centre="rings"``: the ring fit places each hit, Friedel symmetry those it cannot.
    ``"friedel"``: Friedel symmetry where enough mirror pairs are good, else the ring fit
    (a dead or clipped half). The ring fit scores every candidate on the same pixels;
    Friedel symmetry compares a different set of pixel pairs for every candidate, so a gap
    or hole fixed on the sensor, off the beam, pulls it toward the gap's centre (measured:
    benchmarks/bench_beam_centre.py, docs/features.md).
    """
    g = np.broadcast_to(good, values.shape)
    fr, paired = friedel_offsets(values, good, center, search, with_pairs=True)
    if centre == "rings":
        off, firm = ring_offsets(values, g, center, search, True)
        miss = np.isnan(off[:, 0])
        off[miss] = fr[miss]
        firm[paired | miss] = np.inf
    else:
        off, firm = fr, np.full(len(fr), np.inf)
        miss = np.isnan(off[:, 0])
        if miss.any():
            off[miss], firm[miss] = ring_offsets(values[miss], g[miss], center, search, True)
            firm[miss & paired] = np.inf
    firm[np.isnan(off[:, 0])] = np.nan
    return off, firm


def beam_offsets(values: np.ndarray, good: np.ndarray, center: tuple[float, float],
                 search: float, centre: str = CENTRES[0]) -> np.ndarray:
    """:func:`find_offsets`, 0 (the nominal centre) where it found none."""
    off = find_offsets(values, good, center, search, centre)[0]
    off[np.isnan(off[:, 0])] = 0.0
    return off


def known_share(known: np.ndarray, centers: np.ndarray, radii: tuple[float, float]
                ) -> np.ndarray:
    """float64 ``(n,)``: the share of the pixels at ``radii[0] .. radii[1]`` about each
    image's centre (``centers`` (n, 2)) that are ``known`` (``(n, H, W)`` or ``(H, W)``):
    how much of the rings the features sample was measured, not filled in."""
    n = len(centers)
    h, w = known.shape[-2:]
    dy2 = (np.arange(h)[None, :] - centers[:, :1]) ** 2
    dx2 = (np.arange(w)[None, :] - centers[:, 1:]) ** 2
    r2 = dy2[:, :, None] + dx2[:, None, :]
    band = (r2 >= radii[0] ** 2) & (r2 <= radii[1] ** 2)
    seen = (band & np.broadcast_to(known, (n, h, w))).sum(axis=(1, 2))
    return seen / np.maximum(band.sum(axis=(1, 2)), 1)


def friedel_fill(values: np.ndarray, good: np.ndarray, centers: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Fill bad pixels from their point mirror about each image's centre (``centers``
    (n, 2), nearest pixel) where the mirror is good; returns values and the known mask."""
    n, h, w = values.shape
    v, g = values.copy(), good.copy()
    for k in range(n):
        mi = int(round(2 * centers[k, 0])) - np.arange(h)
        mj = int(round(2 * centers[k, 1])) - np.arange(w)
        inside = ((mi >= 0) & (mi < h))[:, None] & ((mj >= 0) & (mj < w))[None, :]
        mi, mj = np.clip(mi, 0, h - 1), np.clip(mj, 0, w - 1)
        take = ~good[k] & good[k][mi][:, mj] & inside
        v[k] = np.where(take, values[k][mi][:, mj], values[k])
        g[k] |= take
    return v, g
