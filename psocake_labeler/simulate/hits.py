"""One hit: its random parameters and its expected photons per pixel.

Hits are independent: hit ``i`` of a run with seed ``s`` draws everything from
``default_rng([s, i])``, so it is the same whatever the block size or the number of worker
processes.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy.spatial.transform import Rotation

from .conditions import Conditions
from .detector import Detector
from .particles import (
    IcosahedronTransform,
    cached_transform,
    cluster_intensity,
    cluster_offsets,
    sphere_amplitude,
    sphere_intensity_profile,
)

PARTICLE_NM = 70.0       # PR772, vertex to vertex
SIZE_JITTER = 0.03       # relative rms of the particle diameter
MAX_SCALE = 1.0 + 4 * SIZE_JITTER
# Per-hit values kept in the ground truth.
TRUTH_KEYS = ("photons", "background_photons", "diameter_nm", "n_particles", "rotation",
              "beam_center", "clipped", "unknown_type")
#: "unknown" hits: a particle with a small water droplet stuck to it, or a faint particle.
UNKNOWN_TYPES = ("contaminated", "faint")
DROPLET_NM = (30.0, 70.0)     # diameters of droplets stuck to a particle
WATER_CONTRAST = 0.78         # water / protein electron density (334 / 430 e nm^-3)
FAINT_FACTOR = 0.05           # faint particles: this times a single's photons
CLEAN = Conditions()          # no conditions: the default run


def hit_params(seed: int, i: int, kind: str, cond: Conditions = CLEAN) -> dict:
    """Random parameters of hit ``i``: sizes, orientations, offsets, photon numbers.

    Draws for the conditions come after the default draws, so a run without conditions is
    the same as before they existed.
    """
    rng = np.random.default_rng([seed, i])
    p = {"kind": kind, "n_particles": 0, "diameter_nm": 0.0, "photons": 0.0,
         "rotation": np.eye(3), "rng": rng, "clipped": 0, "unknown_type": 0}
    p["background_photons"] = float(np.exp(rng.uniform(np.log(30), np.log(300))))
    if kind in ("single", "multiple", "unknown"):
        k = 2 if kind == "multiple" else 1
        if kind == "multiple":
            k = int(rng.choice([2, 3], p=[0.7, 0.3]))
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
    lo, hi = 1e3, 1e5
    if cond.photons is not None and photons:
        lo, hi = cond.photons
        photons = max(p["n_particles"], 1) * np.exp(rng.uniform(np.log(lo), np.log(hi)))
        hi = hi * 3
    p["photons"] = float(np.clip(photons, lo, hi)) if photons else 0.0
    if kind == "unknown":
        _unknown(p, rng)
    p["beam_offset"] = (rng.normal(0.0, cond.jitter_px, size=2) if cond.jitter_px > 0
                        else np.zeros(2)) + np.asarray(cond.offset_px, dtype=np.float64)
    if cond.clipped > 0 and rng.uniform() < cond.clipped:
        p["clipped"] = int(rng.integers(1, 3))   # 1 = top half reads 0, 2 = bottom half
    return p


def _unknown(p: dict, rng: np.random.Generator) -> None:
    """Turn a single-particle hit into an "unknown": droplet stuck to it, or faint."""
    t = int(rng.integers(len(UNKNOWN_TYPES)))
    p["unknown_type"] = t + 1
    if UNKNOWN_TYPES[t] == "faint":
        p["photons"] *= FAINT_FACTOR
        return
    d = float(rng.uniform(*DROPLET_NM))
    r_p = p["diameter_nm"] / 2.0
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    # Touching the particle's circumsphere; the particle's own centre stays at the origin.
    p["droplet"] = (d / 2.0, direction * (r_p * 0.9 + d / 2.0))
    p["photons"] *= 1.0 + (d / p["diameter_nm"]) ** 3


def transform_for(det: Detector) -> IcosahedronTransform:
    """The particle transform covering ``det``'s q range at every particle size.

    q is rounded up to a step so that runs of different shapes share one grid.
    """
    q = float(np.ceil(det.q_max * MAX_SCALE / 0.02) * 0.02)
    return cached_transform(q, PARTICLE_NM)


def expected_image(det: Detector, p: dict) -> np.ndarray:
    """Expected photons per pixel (H, W) of one hit: signal + background, 0 off the sensor."""
    kind = p["kind"]
    if np.any(p.get("beam_offset", 0.0)):
        det = det.shifted(tuple(p["beam_offset"]))
    if "droplet" in p:
        sig = det.bin(_contaminated_intensity(det, p) * det.weight)
    elif kind in ("single", "multiple", "unknown"):
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


def _contaminated_intensity(det: Detector, p: dict) -> np.ndarray:
    """|F_particle + F_droplet exp(-2 pi i q.r)|^2 of a particle with a droplet stuck to it."""
    tr = transform_for(det)
    amp = tr.amplitude(det.q, p["rotations"][0], p["scales"][0]).astype(np.complex64)
    radius, offset = p["droplet"]
    # Amplitudes relative to the particle's F(0) = scale^3 (volume of the reference).
    equiv_r = 0.5 * PARTICLE_NM * EQUIVALENT_SPHERE
    rel = WATER_CONTRAST * (radius / equiv_r) ** 3
    phase = np.tensordot(np.asarray(offset, dtype=np.float32), det.q, axes=1)
    amp += (rel * sphere_amplitude(det.q_abs, radius)).astype(np.float32) \
        * np.exp(-2j * np.pi * phase)
    return amp.real ** 2 + amp.imag ** 2


#: Equal-volume sphere diameter of the icosahedron over its vertex-to-vertex diameter.
EQUIVALENT_SPHERE = 0.84


@functools.lru_cache(maxsize=4)
def detector_for(shape: tuple[int, int], photon_energy_eV: float,
                 distance_m: float | None = None, pixel_m: float | None = None) -> Detector:
    """One detector model per (shape, energy, distance, pixel size) and process."""
    extra = {} if pixel_m is None else {"pixel_m": float(pixel_m)}
    return Detector(shape, photon_energy_eV=photon_energy_eV, distance_m=distance_m, **extra)


def simulate_block(seed: int, start: int, kinds, shape: tuple[int, int],
                   photon_energy_eV: float, cond: Conditions = CLEAN
                   ) -> tuple[np.ndarray, dict]:
    """Photon counts (k, H, W) int32 of hits ``start .. start + k`` and their truth values."""
    det = detector_for(tuple(shape), float(photon_energy_eV), cond.distance_m, cond.pixel_m)
    photons = np.empty((len(kinds), *shape), dtype=np.int32)
    truth = {k: [] for k in TRUTH_KEYS}
    for k, kind in enumerate(kinds):
        p = hit_params(seed, start + k, kind, cond)
        photons[k] = p["rng"].poisson(expected_image(det, p))
        p["beam_center"] = np.add(det.center, p["beam_offset"])
        for key in TRUTH_KEYS:
            truth[key].append(p[key])
    return photons, {k: np.asarray(v) for k, v in truth.items()}
