"""A pnCCD-like detector: geometry (q of every pixel), bad-pixel mask, photon and ADU noise.

The real AMO pnCCD front is 1024 x 1024 pixels of 75 um in two halves (top, bottom) with a
gap between them and a hole in the middle for the direct beam. A requested shape N keeps the
75 um pixel and moves the detector to ``REAL_DISTANCE_M * N / 1024`` so that the q range (the
scattering angles) of the small image equals the real one: a small image is the real one
binned. The beam centre is the image centre, ((H - 1) / 2, (W - 1) / 2) in pixel indices,
unless a hit's ``beam_offset`` moves it (beam jitter); distance and pixel size can be set.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HC_EV_NM = 1239.841984
REAL_SHAPE = 1024
REAL_DISTANCE_M = 0.130   # pnCCD distance assumed for the PR772 runs at AMO
PIXEL_M = 75e-6
GAP_REAL_PX = 24          # gap between the halves on the 1024-pixel detector
HOLE_RADIUS_REAL_PX = 20  # radius of the central hole on the 1024-pixel detector

# CXI pixel-mask bits (0 = good pixel).
MASK_INVALID = 1   # no pixel there: gap between halves, central hole
MASK_HOT = 4
MASK_DEAD = 8


@dataclass
class Detector:
    """Geometry and response of the simulated detector for one image shape."""

    shape: tuple[int, int]
    photon_energy_eV: float = 1600.0
    gain_adu: float = 4.0          # ADU per photon
    read_noise_adu: float = 0.6    # Gaussian read noise, ADU rms (0.15 photon)
    dead_fraction: float = 1e-3
    hot_fraction: float = 5e-4
    supersample: int = field(default=0)  # 0: chosen from the shape
    distance_m: float | None = None      # None: REAL_DISTANCE_M * N / REAL_SHAPE
    pixel_m: float = PIXEL_M
    # Where the beam hits, relative to the image centre (row, col) pixels; the sensor (gap,
    # hole) stays where it is, only the scattering geometry moves.
    beam_offset: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        h, w = self.shape
        n = max(h, w)
        if self.distance_m is None:
            self.distance_m = REAL_DISTANCE_M * n / REAL_SHAPE
        self.wavelength_nm = HC_EV_NM / self.photon_energy_eV
        self.center = ((h - 1) / 2.0, (w - 1) / 2.0)
        self.beam_center = (self.center[0] + float(self.beam_offset[0]),
                            self.center[1] + float(self.beam_offset[1]))
        if self.supersample <= 0:
            # Sub-pixel sampling so that pixels integrate the speckle like a binned pnCCD.
            self.supersample = int(min(4, max(1, np.ceil(128 / n))))
        s = self.supersample
        # Sub-pixel centres of pixel (i, j): i + (k + 0.5) / s - 0.5, k = 0..s-1.
        sub = (np.arange(s) + 0.5) / s - 0.5
        rows = (np.arange(h)[:, None] + sub[None, :]).ravel() - self.beam_center[0]
        cols = (np.arange(w)[:, None] + sub[None, :]).ravel() - self.beam_center[1]
        y = rows[:, None] * self.pixel_m
        x = cols[None, :] * self.pixel_m
        r = np.sqrt(x * x + y * y + self.distance_m ** 2)
        lam = self.wavelength_nm
        # q = k_out - k_in on the Ewald sphere, |k| = 1 / lambda.
        self.q = np.stack([np.broadcast_to(x / r, r.shape), np.broadcast_to(y / r, r.shape),
                           self.distance_m / r - 1.0]) / lam
        self.q = self.q.astype(np.float32)
        self.q_abs = np.sqrt((self.q.astype(np.float64) ** 2).sum(axis=0))
        # Solid angle (cos^3 of the scattering angle) and horizontal polarisation.
        self.weight = (self.distance_m / r) ** 3 * (1.0 - (x / r) ** 2)
        self.q_abs_pixel = self.bin(self.q_abs)
        self.dq_pixel = self.pixel_m / self.distance_m / lam
        self.active = self._active_area()
        self.background_map = self._background()

    def shifted(self, offset: tuple[float, float]) -> Detector:
        """The same detector with the beam ``offset`` (row, col) pixels off the centre."""
        return Detector(self.shape, self.photon_energy_eV, self.gain_adu, self.read_noise_adu,
                        self.dead_fraction, self.hot_fraction, self.supersample,
                        self.distance_m, self.pixel_m, (float(offset[0]), float(offset[1])))

    def half(self, which: str) -> np.ndarray:
        """bool (H, W): the "top" or "bottom" pnCCD half (rows above / below the gap)."""
        rows = np.arange(self.shape[0])[:, None] - self.center[0]
        sel = rows < 0 if which == "top" else rows > 0
        return np.broadcast_to(sel, self.shape) & self.active

    @property
    def q_max(self) -> float:
        """Largest |q| on the detector (its corners), nm^-1."""
        return float(self.q_abs.max())

    def bin(self, sub: np.ndarray) -> np.ndarray:
        """Average a supersampled (..., H*s, W*s) array down to (..., H, W)."""
        s = self.supersample
        if s == 1:
            return sub
        h, w = self.shape
        lead = sub.shape[:-2]
        return sub.reshape(*lead, h, s, w, s).mean(axis=(-3, -1))

    def _active_area(self) -> np.ndarray:
        """True where the detector has pixels: not in the gap, not in the central hole."""
        h, w = self.shape
        n = max(h, w)
        gap = max(1, int(round(GAP_REAL_PX * n / REAL_SHAPE)))
        hole = max(1.5, HOLE_RADIUS_REAL_PX * n / REAL_SHAPE)
        rows = np.arange(h)[:, None] - self.center[0]
        cols = np.arange(w)[None, :] - self.center[1]
        active = np.ones((h, w), dtype=bool)
        active[np.abs(rows[:, 0]) < gap / 2.0, :] = False
        active &= rows ** 2 + cols ** 2 > hole ** 2
        return active

    def pixel_mask(self, rng: np.random.Generator) -> np.ndarray:
        """uint16 CXI mask (0 = good): gap and hole, plus random dead and hot pixels."""
        mask = np.where(self.active, 0, MASK_INVALID).astype(np.uint16)
        h, w = self.shape
        n_dead = max(1, int(round(self.dead_fraction * h * w)))
        n_hot = max(1, int(round(self.hot_fraction * h * w)))
        good = np.flatnonzero(self.active)
        pick = rng.choice(good, size=n_dead + n_hot, replace=False)
        mask.flat[pick[:n_dead]] |= MASK_DEAD
        mask.flat[pick[n_dead:]] |= MASK_HOT
        return mask

    def _background(self) -> np.ndarray:
        """Expected background shape (H, W), sums to 1 over the active area.

        Stray light and gas scattering fall off with |q| away from the beam.
        """
        q0 = 0.03
        b = 1.0 / (1.0 + (self.q_abs_pixel / q0) ** 2) + 0.05
        b = b * self.active
        return b / b.sum()

    def to_adu(self, photons: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
               hot_values: np.ndarray) -> np.ndarray:
        """Photon counts (n, H, W) -> float32 ADU with read noise, dead/hot pixels, gap = 0."""
        adu = photons.astype(np.float32) * np.float32(self.gain_adu)
        adu += rng.normal(0.0, self.read_noise_adu, size=adu.shape).astype(np.float32)
        adu[:, (mask & MASK_DEAD) > 0] = 0.0
        hot = (mask & MASK_HOT) > 0
        adu[:, hot] = hot_values[None, :] + rng.normal(0.0, 20.0, size=(adu.shape[0], hot.sum()))
        adu[:, ~self.active] = 0.0
        return adu
