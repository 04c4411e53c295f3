"""The radial profile of a hit's autocorrelation: a shift-invariant feature (issue 13).

For a working image ``v`` with good pixels ``g`` the masked autocorrelation is
``A(l) = sum_x g(x) g(x+l) v(x) v(x+l) / sum_x g(x) g(x+l)``: the mean product over the pairs
of good pixels ``l`` apart. Moving the pattern on the detector (a beam-centre error) leaves it
unchanged, and its average over each lag radius is rotation invariant, so it needs no beam
centre at all. Dividing by the mask's own autocorrelation (the count of good pairs at each
lag) keeps a dead half, a beam stop or a half read as zeros from becoming the feature: every
lag is an average over the pairs actually seen, not a sum that shrinks with the mask.

Both sums are FFT correlations, zero-padded so that the circular correlation equals the
linear one for lags up to the profile's reach; a block whose images share one mask
transforms the mask once.
"""
from __future__ import annotations

import numpy as np
import scipy.fft as sfft
import scipy.sparse as sp

#: Lag radii of the profile (working pixels of the fitted run): 1 .. MAX_LAG.
MAX_LAG = 40
#: Fewest pairs of good pixels a lag radius needs before it counts (else its value is 0).
MIN_PAIRS = 16


class AutocorrProfile:
    """Images ``(n, H, W)`` + good masks -> float32 ``(n, n_lags)`` autocorrelation profiles.

    Parameters
    ----------
    shape
        Working image shape ``(H, W)``.
    n_lags
        Lag radii 1 .. ``n_lags`` (fitted run's working pixels; capped by the image).
    scale
        Working pixels of these images per working pixel of the fitted run at the same q
        (q units: a run at a longer distance sees the same q lag over more pixels); 1 in
        pixel units.
    """

    def __init__(self, shape: tuple[int, int], n_lags: int = MAX_LAG, scale: float = 1.0
                 ) -> None:
        h, w = int(shape[0]), int(shape[1])
        reach = min(int(np.ceil((n_lags + 0.5) * scale)), h - 1, w - 1)
        self.n_lags = int(n_lags)
        # Padding by the reach makes the circular correlation the linear one on those lags.
        self.fft_shape = (sfft.next_fast_len(h + reach, real=True),
                          sfft.next_fast_len(w + reach, real=True))
        dy, dx = np.mgrid[0:reach + 1, -reach:reach + 1]
        # A(l) = A(-l): one half plane holds every lag once (lag 0 is the normaliser).
        half = (dy > 0) | ((dy == 0) & (dx > 0))
        which = np.rint(np.hypot(dy, dx) / scale).astype(np.intp)
        keep = half & (which >= 1) & (which <= self.n_lags)
        self.iy = dy[keep]
        self.ix = dx[keep] % self.fft_shape[1]
        self.bins = sp.csr_matrix(
            (np.ones(int(keep.sum())), (np.arange(int(keep.sum())), which[keep] - 1)),
            shape=(int(keep.sum()), self.n_lags))

    def _lags(self, x: np.ndarray) -> np.ndarray:
        """float64 ``(n, 1 + n_lags)``: the autocorrelation sums of ``x`` at lag 0, then
        summed over each lag radius."""
        f = sfft.rfft2(x, s=self.fft_shape, workers=1)
        c = sfft.irfft2(f.real ** 2 + f.imag ** 2, s=self.fft_shape, workers=1)
        at0 = c[:, 0, 0].astype(np.float64)
        radii = self.bins.T @ c[:, self.iy, self.ix].astype(np.float64).T
        return np.column_stack([at0, np.asarray(radii).T])

    def __call__(self, values: np.ndarray, good: np.ndarray) -> np.ndarray:
        """Profiles of photon-scaled working images ``values`` with bool ``good`` (same
        shape, or one ``(H, W)`` mask): ``A(r) / A(0)``, 0 where too few pairs."""
        n = len(values)
        if n == 0:
            return np.zeros((0, self.n_lags), dtype=np.float32)
        g = np.broadcast_to(good, values.shape)
        # Not mean-subtracted: how far the hit's intensity reaches (its envelope) is what
        # tells water from particles at low photon counts (logistic regression on the
        # photons case 0.887 -> 0.915 with it, 0.867 mean-subtracted; docs/features.md).
        s = self._lags(np.where(g, values, np.float32(0)).astype(np.float32, copy=False))
        same = g[:1] if bool((g == g[:1]).all()) else g
        pairs = np.rint(self._lags(same.astype(np.float32)))
        per_pair = s / np.maximum(pairs, 1)
        at0 = per_pair[:, :1]
        ok = (pairs[:, 1:] >= MIN_PAIRS) & (at0 > 0)
        out = np.where(ok, per_pair[:, 1:] / np.where(at0 > 0, at0, 1.0), 0.0)
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
