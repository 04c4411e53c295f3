"""One hit: its random parameters and its expected photons per pixel.

Hits are independent: hit ``i`` of a run with seed ``s`` draws everything from
``default_rng([s, i])``, so it is the same whatever the block size or the number of worker
processes.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy.spatial.transform import Rotation

from .detector import Detector
from .particles import (
    IcosahedronTransform,
    cached_transform,
    cluster_intensity,
    cluster_offsets,
    sphere_intensity_profile,
)

PARTICLE_NM = 70.0       # PR772, vertex to vertex
SIZE_JITTER = 0.03       # relative rms of the particle diameter
MAX_SCALE = 1.0 + 4 * SIZE_JITTER
# Per-hit values kept in the ground truth.
TRUTH_KEYS = ("photons", "background_photons", "diameter_nm", "n_particles", "rotation")


def hit_params(seed: int, i: int, kind: str) -> dict:
    """Random parameters of hit ``i``: sizes, orientations, offsets, photon numbers."""
    rng = np.random.default_rng([seed, i])
    p = {"kind": kind, "n_particles": 0, "diameter_nm": 0.0, "photons": 0.0,
         "rotation": np.eye(3), "rng": rng}
    p["background_photons"] = float(np.exp(rng.uniform(np.log(30), np.log(300))))
    if kind in ("single", "multiple"):
        k = 1 if kind == "single" else int(rng.choice([2, 3], p=[0.7, 0.3]))
        scales = np.clip(1.0 + SIZE_JITTER * rng.normal(size=k), 0.9, MAX_SCALE)
        rots = Rotation.random(k, random_state=rng).as_matrix()
        radii = scales * PARTICLE_NM / 2.0
        p.update(n_particles=k, scales=scales, rotations=rots, rotation=rots[0],
                 offsets=cluster_offsets(rng, radii), diameter_nm=float(2 * radii[0]))
        photons = k * np.exp(rng.uniform(np.log(2e3), np.log(3e4)))
    elif kind == "water":
        p["diameter_nm"] = float(rng.uniform(100.0, 400.0))
        photons = np.exp(rng.uniform(np.log(3e3), np.log(1e5)))
    else:
        photons = 0.0
    p["photons"] = float(np.clip(photons, 1e3, 1e5)) if photons else 0.0
    return p


def transform_for(det: Detector) -> IcosahedronTransform:
    """The particle transform covering ``det``'s q range at every particle size.

    q is rounded up to a step so that runs of different shapes share one grid.
    """
    q = float(np.ceil(det.q_max * MAX_SCALE / 0.02) * 0.02)
    return cached_transform(q, PARTICLE_NM)


def expected_image(det: Detector, p: dict) -> np.ndarray:
    """Expected photons per pixel (H, W) of one hit: signal + background, 0 off the sensor."""
    kind = p["kind"]
    if kind in ("single", "multiple"):
        tr = transform_for(det)
        inten = cluster_intensity(tr, det.q, p["rotations"], p["scales"], p["offsets"])
        sig = det.bin(inten * det.weight)
    elif kind == "water":
        r = p["diameter_nm"] / 2.0
        sig = det.bin(det.weight) * sphere_intensity_profile(det.q_abs_pixel, r, det.dq_pixel)
    else:
        sig = np.zeros(det.shape)
    sig = sig * det.active
    total = sig.sum()
    lam = sig * (p["photons"] / total) if total > 0 else sig
    return lam + det.background_map * p["background_photons"]


@functools.lru_cache(maxsize=2)
def detector_for(shape: tuple[int, int], photon_energy_eV: float) -> Detector:
    """One detector model per (shape, energy) and process."""
    return Detector(shape, photon_energy_eV=photon_energy_eV)


def simulate_block(seed: int, start: int, kinds, shape: tuple[int, int],
                   photon_energy_eV: float) -> tuple[np.ndarray, dict]:
    """Photon counts (k, H, W) int32 of hits ``start .. start + k`` and their truth values."""
    det = detector_for(tuple(shape), float(photon_energy_eV))
    photons = np.empty((len(kinds), *shape), dtype=np.int32)
    truth = {k: [] for k in TRUTH_KEYS}
    for k, kind in enumerate(kinds):
        p = hit_params(seed, start + k, kind)
        photons[k] = p["rng"].poisson(expected_image(det, p))
        for key in TRUTH_KEYS:
            truth[key].append(p[key])
    return photons, {k: np.asarray(v) for k, v in truth.items()}
