"""Beam centre per hit from the rings alone, for hits with too few Friedel pairs.

With a detector half dead or not read out, a pattern has almost no pixel whose point mirror
is good, so Friedel symmetry (``centering.friedel_offsets``) cannot place the beam. The
rings can: about the true centre, the good pixels are best described by a radial profile.
For every candidate centre ``c`` the profile is fitted by least squares on the *same* good
pixels (soft one-pixel radial bins, so the score is smooth in ``c``), and the centre is the
candidate with the least residual variance per degree of freedom,

    score(c) = (sum_x g v^2 - sum_b S_b(c)^2 / N_b(c)) / (sum_x g - bins(c)),

``S_b``, ``N_b`` the weighted sums of the values and of the good pixels in bin ``b``. Every
candidate sees all the good pixels (a fit that drops the rings it cannot see slides into
the missing half). Values enter as ``log1p`` of the counts over the hit's mean, so the bright
centre does not outweigh the rings. The search is coarse to fine: one-pixel steps on the image
binned by 2, then half-pixel steps within 1.5 pixels, then a parabola through the minimum.

On simulated runs with known centres (``benchmarks/bench_beam_centre.py``) this is as good
as Friedel symmetry when the beam falls on the live half, and a few pixels off when the
beam falls on the dead half (the rings' centre is then outside every ring seen).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

#: Fine search: half-pixel steps this far (working pixels) about the coarse minimum.
FINE_REACH = 1.5
#: Fewer good pixels than this: no centre (the caller keeps the nominal one).
MIN_PIXELS = 64
#: Firmness (``ring_offsets(..., with_firmness=True)``) from which the rings place a centre
#: as well as they can; under it the features' reliability falls in proportion.
FIRM = 0.01


def ring_bins(shape: tuple[int, int], center: tuple[float, float]) -> sp.csc_matrix:
    """Sparse ``(n_bins, H*W)`` soft one-pixel radial bins about ``center``: each pixel
    splits between the two bins around its radius (linear weights).

    Built column by column (pixel ``p``: rows ``floor(r_p)`` and ``floor(r_p) + 1``), which
    needs no sorting; a product sums each bin over the pixels in order, as a sorted CSR
    matrix would, so the scores are the same bits."""
    h, w = shape
    r = np.hypot(np.arange(h)[:, None] - center[0], np.arange(w)[None, :] - center[1]).ravel()
    i = np.floor(r).astype(np.int32)
    f = r - i
    rows = np.empty(2 * r.size, dtype=np.int32)
    rows[0::2], rows[1::2] = i, i + 1
    data = np.empty(2 * r.size)
    data[0::2], data[1::2] = 1.0 - f, f
    indptr = np.arange(0, 2 * r.size + 1, 2, dtype=np.int32)
    return sp.csc_matrix((data, rows, indptr), shape=(int(i.max()) + 2, h * w))


def ring_scores(bins: sp.spmatrix, vg: np.ndarray, g: np.ndarray,
                sums: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Residual variance per degree of freedom of the radial-profile fit, per image.

    ``vg`` and ``g`` are ``(H*W, n)``: values times the good mask, and the good mask;
    ``sums``, when given, their column sums ``((vg * vg).sum(0), g.sum(0))``, which do not
    depend on the candidate."""
    s = bins @ vg
    cnt = bins @ g
    fitted = (s * s / np.maximum(cnt, 1e-9)).sum(axis=0)
    sq, ng = ((vg * vg).sum(axis=0), g.sum(axis=0)) if sums is None else sums
    return (sq - fitted) / np.maximum(ng - (cnt > 0.5).sum(axis=0), 1.0)


def ring_offsets(values: np.ndarray, good: np.ndarray, center: tuple[float, float],
                 search: float, with_firmness: bool = False) -> Any:
    """Beam-centre offsets ``(n, 2)`` (row, col; working pixels) from ``center`` that best
    explain each image's good pixels by rings, within ``search``; NaN where an image has
    fewer than :data:`MIN_PIXELS` good pixels or its best centre is outside the search.

    ``with_firmness``: also ``(n,)`` how firmly the rings place each centre: the score's
    curvature at the minimum over the score there (half-pixel steps), along the flatter
    of the two axes (0 where the minimum lies on the fine grid's edge, NaN with no centre).
    With the beam on a dead half moving the candidate along the normal to the edge shifts
    every visible radius alike, which the free profile absorbs: on a dead-half run with 6 px
    jitter the median is 0.23 with the beam more than 3 px inside the live half, 0.003 at
    0-3 px inside the dead half and 0 deeper (docs/features.md)."""
    n, h, w = values.shape
    good = np.broadcast_to(good, values.shape)
    v = _log_counts(values, good)
    out = np.full((n, 2), np.nan)
    firm = np.full(n, np.nan)
    has = good.reshape(n, -1).sum(axis=1) >= MIN_PIXELS
    if has.any() and search > 0:
        c = 2 if min(h, w) >= 32 else 1
        coarse = _coarse(v[has], good[has], center, search, c)
        out[has], firm[has] = _fine(v[has], good[has], center, coarse,
                                    FINE_REACH if c > 1 else 1.0)
        lost = np.any(np.abs(out) > search, axis=1)
        out[lost], firm[lost] = np.nan, np.nan
    return (out, firm) if with_firmness else out


def _log_counts(values: np.ndarray, good: np.ndarray) -> np.ndarray:
    """log1p of the (sqrt-scaled) values' counts over each image's mean count."""
    n = len(values)
    counts = np.where(good, np.maximum(values, 0), 0).astype(np.float64) ** 2
    mean = counts.reshape(n, -1).sum(axis=1) / np.maximum(good.reshape(n, -1).sum(axis=1), 1)
    return np.log1p(counts / np.maximum(mean, 1e-30)[:, None, None])


def _columns(v: np.ndarray, good: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = good.reshape(len(v), -1).T.astype(np.float64)
    return v.reshape(len(v), -1).T * g, g


def _coarse(v, good, center, search, c) -> np.ndarray:
    """Best offsets on a grid of ``c``-pixel steps, from the image binned by ``c``."""
    n, h, w = v.shape
    hb, wb = h // c, w // c
    s = (v * good)[:, :hb * c, :wb * c].reshape(n, hb, c, wb, c).sum(axis=(2, 4))
    k = good[:, :hb * c, :wb * c].reshape(n, hb, c, wb, c).sum(axis=(2, 4))
    vg, g = _columns(s / np.maximum(k, 1), k > 0)
    sums = (vg * vg).sum(axis=0), g.sum(axis=0)
    vg, g = np.ascontiguousarray(vg), np.ascontiguousarray(g)   # as the products read them
    cb = ((center[0] - (c - 1) / 2.0) / c, (center[1] - (c - 1) / 2.0) / c)
    steps = np.arange(-int(np.ceil(search / c)), int(np.ceil(search / c)) + 1)
    score = np.empty((n, steps.size, steps.size))
    for a, dy in enumerate(steps):
        for b, dx in enumerate(steps):
            bins = ring_bins((hb, wb), (cb[0] + dy, cb[1] + dx))
            score[:, a, b] = ring_scores(bins, vg, g, sums)
    best = score.reshape(n, -1).argmin(axis=1)
    return np.stack([steps[best // steps.size], steps[best % steps.size]], axis=1) * float(c)


def _fine(v, good, center, coarse, reach) -> np.ndarray:
    """Half-pixel grid within ``reach`` of each image's coarse offset, parabola-refined."""
    n, h, w = v.shape
    vg, g = _columns(v, good)
    sq, ng = (vg * vg).sum(axis=0), g.sum(axis=0)
    fine = np.arange(-reach, reach + 1e-9, 0.5)
    m = fine.size
    score = np.full((n, m, m), np.inf)
    # Images with the same coarse offset have the same candidates: their columns are
    # gathered once, and candidates that coincide across groups share one set of bins.
    groups: dict[tuple[float, float], list[int]] = {}
    for k in range(n):
        groups.setdefault((coarse[k, 0], coarse[k, 1]), []).append(k)
    # (in the row order the sparse products read, so that none copies them again)
    blocks = {key: (np.asarray(idx), np.ascontiguousarray(vg[:, idx]),
                    np.ascontiguousarray(g[:, idx])) for key, idx in groups.items()}
    todo: dict[tuple[float, float], list[tuple]] = {}
    for key in groups:
        for a in range(m):
            for b in range(m):
                todo.setdefault((key[0] + fine[a], key[1] + fine[b]), []).append((key, a, b))
    for (oy, ox), uses in todo.items():
        bins = ring_bins((h, w), (center[0] + oy, center[1] + ox))
        for key, a, b in uses:
            idx, bvg, bg = blocks[key]
            score[idx, a, b] = ring_scores(bins, bvg, bg, (sq[idx], ng[idx]))
    out = np.empty((n, 2))
    firm = np.empty(n)
    for k in range(n):
        i, j = np.unravel_index(np.argmin(score[k]), (m, m))
        out[k] = coarse[k] + (fine[i] + 0.5 * vertex(score[k][:, j], i),
                              fine[j] + 0.5 * vertex(score[k][i, :], j))
        firm[k] = min(_curvature(score[k][:, j], i), _curvature(score[k][i, :], j))
    return out, firm


def _curvature(line: np.ndarray, i: int) -> float:
    """``(a - 2 b + c) / b`` through ``line[i-1:i+2]``; 0 at an end (the minimum not
    bracketed) or where the score is not finite."""
    if i == 0 or i == len(line) - 1 or not np.all(np.isfinite(line[i - 1:i + 2])):
        return 0.0
    a, b, c = line[i - 1], line[i], line[i + 1]
    return float(max(a - 2 * b + c, 0.0) / b) if b > 0 else 0.0


def vertex(line: np.ndarray, i: int) -> float:
    """Sub-step offset (in steps) of the minimum of a parabola through ``line[i-1:i+2]``."""
    if i == 0 or i == len(line) - 1 or not np.all(np.isfinite(line[i - 1:i + 2])):
        return 0.0
    a, b, c = line[i - 1], line[i], line[i + 1]
    den = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den > 0 else 0.0
