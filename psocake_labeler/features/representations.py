"""Image -> vector before PCA: binning, photon-count scaling, rotation-invariant transforms.

All functions work on blocks ``(n, H, W)`` and treat every image independently, so the
result for an image does not depend on which block (or MPI rank) it came in.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .stream import SUB_PIXELS

REPRESENTATIONS = ("polar", "correlation", "radial", "image")
PHOTON_SCALES = ("sqrt", "log", "none")


def binned_center(center: tuple[float, float], b: int) -> tuple[float, float]:
    """Beam centre in the coordinates of the image binned by ``b`` (pixel centres)."""
    return ((center[0] - (b - 1) / 2.0) / b, (center[1] - (b - 1) / 2.0) / b)


def bin_images(images: np.ndarray, mask: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the good, finite pixels in each ``b x b`` block (``mask`` (H, W) or (n, H, W)).

    Returns ``(values, good)``: float32 ``(n, H//b, W//b)`` and bool, False where a block
    has no good pixel in that image (its value is then 0). Edges that do not fill a block
    are dropped.
    """
    n, h, w = images.shape
    hb, wb = h // b, w // b
    x = images[:, :hb * b, :wb * b]
    m = (mask if mask.ndim == 3 else mask[None])[:, :hb * b, :wb * b]
    # A few images at a time (stream.SUB_PIXELS): small temporaries, not block-sized ones.
    step = max(1, SUB_PIXELS // (h * w))
    parts = [slice(a, a + step) for a in range(0, n, step)]
    if m.shape[0] == 1 and all(np.isfinite(x[p]).all() for p in parts):
        # The usual block: one mask for every image, so its counts are counted once.
        good = m
        c = m.reshape(1, hb, b, wb, b).sum(axis=(2, 4))
    else:
        good = np.isfinite(x) & m
        c = good.reshape(n, hb, b, wb, b).sum(axis=(2, 4))
    if b == 1:
        x = np.where(good, x, np.float32(0)).astype(np.float32, copy=False)
        return x, np.broadcast_to(good, x.shape).copy()
    s = np.empty((n, hb, wb))
    for p in parts:
        xs = np.where(good if len(good) == 1 else good[p], x[p], np.float32(0))
        s[p] = _block_sums(xs.astype(np.float32, copy=False).reshape(-1, hb, b, wb, b), b)
    return (s / np.maximum(c, 1)).astype(np.float32), np.broadcast_to(c > 0, s.shape).copy()


def _block_sums(r: np.ndarray, b: int) -> np.ndarray:
    """float64 sums of the ``b x b`` blocks of ``r`` ``(k, hb, b, wb, b)``: the rows of each
    block first, then its columns, by strided adds (numpy reduces short axes slowly; the sums
    of b * b float32 values are the same)."""
    rows = r[:, :, 0].astype(np.float64)
    for i in range(1, b):
        rows += r[:, :, i]
    s = rows[..., 0].copy()
    for j in range(1, b):
        s += rows[..., j]
    return s


def photon_scale(values: np.ndarray, good: np.ndarray, scale: str) -> np.ndarray:
    """Compress the photon-count range and normalise each hit to unit RMS over good pixels.

    ``sqrt`` stabilises Poisson variance; ``log`` is log1p of the counts relative to the
    hit's mean; ``none`` only normalises. With the normalisation all three remove
    brightness exactly (an image times c gives the same output). Negative values (detector
    noise) count as 0.
    """
    v = np.maximum(values, 0).astype(np.float32, copy=False)
    n = len(v)
    cnt = np.maximum(good.reshape(n, -1).sum(axis=1), 1).astype(np.float64)
    if scale == "sqrt":
        v = np.sqrt(v)
    elif scale == "log":
        mean = v.reshape(n, -1).sum(axis=1, dtype=np.float64) / cnt
        v = np.log1p(v / np.maximum(mean, 1e-30).astype(np.float32)[:, None, None])
    elif scale != "none":
        raise ValueError(f"unknown photon scale {scale!r}; use one of {PHOTON_SCALES}")
    v = np.where(good, v, np.float32(0))
    rms = np.sqrt((v.reshape(n, -1).astype(np.float64) ** 2).sum(axis=1) / cnt)
    # A blank hit stays all zero rather than dividing by zero.
    inv = np.where(rms > 0, 1.0 / np.where(rms > 0, rms, 1.0), 0.0).astype(np.float32)
    return v * inv[:, None, None]


class RingFiller:
    """Replace bad pixels by the mean of the good pixels of their ring in the same image.

    A ring average adds no angular structure, so masked regions do not fake anisotropy.
    """

    def __init__(self, shape: tuple[int, int], center: tuple[float, float]) -> None:
        h, w = shape
        rows = np.arange(h) - center[0]
        cols = np.arange(w) - center[1]
        self.rings = np.floor(np.hypot(rows[:, None], cols[None, :])).astype(np.intp).ravel()
        n_r = int(self.rings.max()) + 1
        # (H*W, n_rings) membership, so that (n, H*W) @ member sums each ring per image.
        self.member = sp.csr_matrix(
            (np.ones(self.rings.size, np.float32), (np.arange(self.rings.size), self.rings)),
            shape=(self.rings.size, n_r))

    def __call__(self, values: np.ndarray, good: np.ndarray) -> np.ndarray:
        if good.all():
            return values
        n = len(values)
        v = values.reshape(n, -1)
        g = good.reshape(n, -1)
        sums = np.asarray((v * g) @ self.member, dtype=np.float64)
        counts = np.asarray(g.astype(np.float32) @ self.member)
        mean = (sums / np.maximum(counts, 1)).astype(np.float32)
        return np.where(g, v, mean[:, self.rings]).reshape(values.shape)


def polar_matrix(shape: tuple[int, int], center: tuple[float, float], n_rings: int,
                 n_angles: int, r_max: float, edges: np.ndarray | None = None
                 ) -> sp.csr_matrix:
    """Sparse ``(n_rings * n_angles, H*W)`` operator: image -> polar grid about ``center``.

    Rings are ``r_max / n_rings`` wide, or span ``edges[i] .. edges[i + 1]`` pixels when
    ``edges`` (n_rings + 1 radii, e.g. fixed q rings of another geometry) is given. Each
    polar cell averages bilinear samples spread over its area (more samples on outer rings,
    where a cell covers several pixels), so the grid neither aliases far out nor leaves
    holes near the centre.
    """
    h, w = shape
    cell, ry, rx, wk = polar_points(n_rings, n_angles, r_max, edges)
    y = np.clip(center[0] + ry, 0, h - 1)
    x = np.clip(center[1] + rx, 0, w - 1)
    y0 = np.minimum(np.floor(y).astype(np.intp), h - 2 if h > 1 else 0)
    x0 = np.minimum(np.floor(x).astype(np.intp), w - 2 if w > 1 else 0)
    fy, fx = y - y0, x - x0
    rows_i, cols_i, vals = [], [], []
    for dy, dx, wt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                       (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        rows_i.append(cell)
        cols_i.append(np.minimum(y0 + dy, h - 1) * w + np.minimum(x0 + dx, w - 1))
        vals.append(wt * wk)
    m = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(cols_i))),
                      shape=(n_rings * n_angles, h * w))
    return m.tocsr().astype(np.float32)


def polar_points(n_rings: int, n_angles: int, r_max: float, edges: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sample points of the polar grid relative to the centre: ``(cell, dy, dx, weight)``.

    Each cell (ring * n_angles + angle) averages its samples (weights sum to 1 per cell).
    """
    if edges is None:
        edges = np.arange(n_rings + 1) * (r_max / n_rings)
    cells, ys, xs, ws = [], [], [], []
    for i in range(n_rings):
        r0 = float(edges[i])
        dr = float(edges[i + 1]) - r0
        n_sub_r = max(1, int(np.ceil(dr)))
        radii = r0 + (np.arange(n_sub_r) + 0.5) * dr / n_sub_r
        arc = 2 * np.pi * (r0 + dr) / n_angles
        n_sub_t = max(1, int(np.ceil(arc)))
        off = (np.arange(n_sub_t) + 0.5) / n_sub_t - 0.5
        theta = 2 * np.pi * (np.arange(n_angles)[:, None] + off[None, :]) / n_angles
        rr = radii[None, None, :]
        y = rr * np.sin(theta)[:, :, None]
        cell = i * n_angles + np.broadcast_to(np.arange(n_angles)[:, None, None], y.shape)
        cells.append(cell.ravel())
        ys.append(y.ravel())
        xs.append((rr * np.cos(theta)[:, :, None]).ravel())
        ws.append(np.full(y.size, 1.0 / (n_sub_r * n_sub_t)))
    return (np.concatenate(cells), np.concatenate(ys), np.concatenate(xs),
            np.concatenate(ws))


def polar_at(images: np.ndarray, centers: np.ndarray, points, n_rings: int, n_angles: int
             ) -> np.ndarray:
    """float32 ``(n, n_rings, n_angles)``: each image sampled on the polar grid about its own
    centre (``centers`` (n, 2)), bilinear as :func:`polar_matrix` (no resampled image)."""
    from scipy import ndimage

    cell, ry, rx, wk = points
    n, h, w = images.shape
    out = np.empty((n, n_rings * n_angles), dtype=np.float64)
    for k in range(n):
        y = np.clip(centers[k, 0] + ry, 0, h - 1)
        x = np.clip(centers[k, 1] + rx, 0, w - 1)
        v = ndimage.map_coordinates(images[k], [y, x], order=1, mode="nearest")
        out[k] = np.bincount(cell, weights=v * wk, minlength=n_rings * n_angles)
    return out.astype(np.float32).reshape(n, n_rings, n_angles)


def polar_images(images: np.ndarray, pmat: sp.csr_matrix, n_rings: int) -> np.ndarray:
    """float32 ``(n, n_rings, n_angles)`` polar resampling of filled images."""
    n = len(images)
    out = (pmat @ images.reshape(n, -1).T).T
    return np.ascontiguousarray(out, dtype=np.float32).reshape(n, n_rings, -1)


def polar_features(polar: np.ndarray, n_harmonics: int) -> np.ndarray:
    """Radial profile plus |angular Fourier amplitude| of harmonics 1..M on each ring.

    A rotation about the beam is a cyclic shift in angle, which changes only the phase of
    the angular Fourier coefficients: the amplitudes are rotation invariant.
    """
    n, n_r, n_t = polar.shape
    f = np.fft.rfft(polar, axis=2)
    m = min(n_harmonics, f.shape[2] - 1)
    amp = np.abs(f[:, :, 1:m + 1]) / n_t
    return np.concatenate([polar.mean(axis=2), amp.reshape(n, -1)], axis=1).astype(np.float32)


def correlation_features(polar: np.ndarray, n_harmonics: int, band: int) -> np.ndarray:
    """Radial profile plus angular cross-correlations between rings up to ``band`` apart.

    Re(F_m(r1) F_m(r2)*) is rotation invariant (the rotation's phase cancels) and, unlike
    the per-ring amplitude, keeps how the speckles of neighbouring rings line up. Signed
    square roots bring the products back to amplitude scale.
    """
    n, n_r, n_t = polar.shape
    f = np.fft.rfft(polar, axis=2)
    m = min(n_harmonics, f.shape[2] - 1)
    f = f[:, :, 1:m + 1] / n_t
    parts = [polar.mean(axis=2)]
    for d in range(band + 1):
        c = (f[:, :n_r - d, :] * np.conj(f[:, d:, :])).real
        parts.append((np.sign(c) * np.sqrt(np.abs(c))).reshape(n, -1))
    return np.concatenate(parts, axis=1).astype(np.float32)


def unit_rms(polar: np.ndarray) -> np.ndarray:
    """Each ``(n, ...)`` row scaled to unit RMS (all-zero rows stay zero)."""
    n = len(polar)
    rms = np.sqrt(np.mean(polar.reshape(n, -1).astype(np.float64) ** 2, axis=1))
    scale = np.where(rms > 0, 1.0 / np.where(rms > 0, rms, 1.0), 0.0).astype(np.float32)
    return polar * scale.reshape((n,) + (1,) * (polar.ndim - 1))
