"""Bad-pixel mask: the file mask plus pixels found bad across a sample of the run.

A pixel is bad when it is non-finite (NaN/inf) in any sampled image (except images that are
mostly non-finite, which are corrupt images rather than evidence against a pixel), *dead* (always ~0
while the other pixels at the same radius usually are not) or *hot* (an outlier against
the other pixels at the same radius in nearly every sampled image). Rings about the beam
centre are the right comparison because particles arrive in random orientations: averaged
over hits, every pixel of a ring sees the same intensity, so a pixel that is always far
from its ring is the detector, not the sample.

The counts are integers summed over ranks, so the mask does not depend on the number of
MPI ranks.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# Fewer sampled images than this say too little to call a pixel dead or hot.
MIN_SAMPLE = 8
# Rings with fewer good pixels have no meaningful spread to compare against.
MIN_RING_PIXELS = 6


def radius_map(shape: tuple[int, int], center: tuple[float, float]) -> np.ndarray:
    """float64 ``(H, W)`` distance of each pixel centre from ``center`` (row, col)."""
    rows = np.arange(shape[0], dtype=np.float64) - center[0]
    cols = np.arange(shape[1], dtype=np.float64) - center[1]
    return np.hypot(rows[:, None], cols[None, :])


def ring_index(shape: tuple[int, int], center: tuple[float, float]) -> np.ndarray:
    """int ``(H, W)`` index of the one-pixel-wide ring each pixel falls in."""
    return np.floor(radius_map(shape, center)).astype(np.intp)


def ring_matrix(rings: np.ndarray, good: np.ndarray) -> sp.csr_matrix:
    """Sparse ``(n_rings, H*W)`` 0/1 membership of the good pixels in each ring."""
    flat = rings.ravel()
    cols = np.flatnonzero(good.ravel())
    n_rings = int(flat.max()) + 1 if flat.size else 0
    data = np.ones(cols.size, dtype=np.float64)
    return sp.csr_matrix((data, (flat[cols], cols)), shape=(n_rings, flat.size))


class PixelStats:
    """Per-pixel counts over sampled images, additive across blocks and MPI ranks.

    Parameters
    ----------
    shape, center
        Image shape and beam centre (row, col).
    file_mask
        bool ``(H, W)``, True = good, from the file (or all True).
    hot_sigma
        A pixel is an outlier in an image when it lies more than ``hot_sigma`` standard
        deviations from the other good pixels of its ring (leave-one-out).
    """

    def __init__(self, shape: tuple[int, int], center: tuple[float, float],
                 file_mask: np.ndarray, hot_sigma: float = 6.0) -> None:
        self.shape = tuple(shape)
        self.file_mask = np.asarray(file_mask, dtype=bool)
        self.hot_sigma = float(hot_sigma)
        self.rings = ring_index(self.shape, center)
        self._ring_m = ring_matrix(self.rings, self.file_mask)
        # counts per pixel: [0] good observations, [1] non-finite, [2] ~0, [3] outlier
        self.counts = np.zeros((4,) + self.shape, dtype=np.int64)

    def update(self, images: np.ndarray) -> None:
        """Add a block of images ``(n, H, W)`` to the counts (image by image: the counts of
        an image depend on it alone, and one image's temporaries stay in cache)."""
        block = np.asarray(images).reshape(len(images), -1)
        fm = self.file_mask.ravel()
        # Good pixels per ring of the usual, all-finite image (its good pixels are the
        # mask's): the row lengths of the mask's 0/1 ring matrix.
        mask_ring_n = np.diff(self._ring_m.indptr).astype(np.float64)
        flat = self.counts.reshape(4, -1)
        for image in block:
            finite = np.isfinite(image)
            n_r = mask_ring_n
            if finite.all():
                good = fm   # the usual image: its good pixels are the file mask's
            else:
                n_r = None
                good = finite & fm
                bad = ~finite & fm
                # A mostly non-finite image is a corrupt image, not evidence against its
                # pixels: it is masked image by image at transform time instead.
                if bad.sum() <= 0.5 * max(int(fm.sum()), 1):
                    flat[1] += bad
            flat[0] += good
            x = np.where(good, image, 0).astype(np.float64)
            # "~0": below a millionth of the image's typical good-pixel magnitude.
            ax = np.abs(x)
            scale = ax.sum() / max(int(good.sum()), 1)
            flat[2] += good & (ax <= 1e-6 * max(scale, 1e-30))
            flat[3][self._outliers(x, image.astype(np.float32, copy=False), good, n_r)] += 1

    def _outliers(self, x: np.ndarray, x32: np.ndarray, good: np.ndarray,
                  n_r: np.ndarray | None = None) -> np.ndarray:
        """Flat indices of the good pixels of one image (``x`` float64 with bad pixels 0,
        ``x32`` as read; ``n_r`` its good pixels per ring, if known) more than ``hot_sigma``
        leave-one-out standard deviations from the rest of their ring (so a single hot pixel
        cannot hide itself).

        A good pixel at ``d`` from the mean of its ring (``N`` good pixels, spread ``s``)
        is such an outlier exactly when ``d^2 > k^2 s^2 (N - 1) / (N + k^2)``, ``k`` =
        hot_sigma. That cheap test in float32, with a margin of 2 in ``d^2`` (and every
        pixel of a ring flat to 1e-8, where rounding rules), picks the candidates; the
        leave-one-out test itself, in float64, decides on those alone.
        """
        m = self._ring_m
        if n_r is None:
            n_r = m @ good.astype(np.float64)
        s1 = m @ x
        s2 = m @ (x * x)
        k2 = self.hot_sigma ** 2
        cnt = np.maximum(n_r, 1)
        mu = s1 / cnt
        var = s2 / cnt - mu * mu
        reach = np.sqrt(np.maximum(0.5 * k2 * var * (n_r - 1) / (n_r + k2), 0.0))
        lo, hi = (mu - reach).astype(np.float32), (mu + reach).astype(np.float32)
        flat_ring = var <= 1e-8 * (mu * mu + np.abs(var))
        lo[flat_ring], hi[flat_ring] = np.inf, -np.inf
        few = n_r < MIN_RING_PIXELS + 1
        lo[few], hi[few] = -np.inf, np.inf
        r = self.rings.ravel()
        cand = np.flatnonzero(((x32 > hi[r]) | (x32 < lo[r])) & good)
        ring = r[cand]
        xi = x[cand]
        n_o = n_r[ring] - 1.0
        den = np.maximum(n_o, 1)
        mean_o = (s1[ring] - xi) / den
        var_o = (s2[ring] - xi * xi) / den - mean_o ** 2
        std_o = np.sqrt(np.maximum(var_o, 0.0))
        tol = 1e-12 * np.maximum(np.abs(mean_o), 1e-30)
        hot = (n_o >= MIN_RING_PIXELS) & (np.abs(xi - mean_o) > self.hot_sigma * std_o + tol)
        return cand[hot]

    def bad_mask(self, counts: np.ndarray | None = None, hot_fraction: float = 0.9,
                 detect: bool = True) -> np.ndarray:
        """bool ``(H, W)`` True = good: file mask minus non-finite, dead and hot pixels.

        ``counts`` are the (possibly rank-summed) counts; default this object's own.
        """
        c = self.counts if counts is None else counts
        seen = c[0]
        good = self.file_mask & (c[1] == 0)
        if not detect or seen.max(initial=0) < MIN_SAMPLE:
            return good
        # Judge each pixel on the images where it was finite.
        n = np.maximum(seen, 1)
        zero_frac = c[2] / n
        # Typical ~0 fraction of each ring: a pixel is dead only where its ring is not.
        m = ring_matrix(self.rings, good)
        per_ring = m.sum(axis=1).A1
        ring_zero = (m @ zero_frac.ravel()) / np.maximum(per_ring, 1)
        dead = (seen > 0) & (c[2] == seen) & (ring_zero[self.rings] < 0.5)
        hot = c[3] >= hot_fraction * n
        return good & ~dead & ~hot
