"""Detector geometry -> q: ring radii in momentum transfer, so runs at other distances,
pixel sizes or photon energies share one feature space.

A pixel at distance ``r`` from the beam on a flat detector at distance ``D`` scatters at
angle ``2 theta = atan(r / D)``; its momentum transfer is ``q = 2 sin(theta) / lambda``
(nm^-1, no 2 pi), ``lambda = hc / E``. The same particle gives the same I(q) whatever the
geometry, so features sampled on fixed q rings (not pixel rings) land on one manifold.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..progress import LOG
from .centering import friedel_fill

HC_EV_NM = 1239.841984
GEOMETRY_KEYS = ("distance_m", "pixel_size_m", "photon_energy_eV")


@dataclass(frozen=True)
class Geometry:
    """Detector distance (m), pixel size (m) and photon energy (eV) of a run."""

    distance_m: float
    pixel_m: float
    energy_eV: float

    def q_of_radius(self, r_px: np.ndarray) -> np.ndarray:
        """|q| (nm^-1) at ``r_px`` pixels from the beam."""
        two_theta = np.arctan(np.asarray(r_px, dtype=np.float64) * self.pixel_m / self.distance_m)
        return 2.0 * np.sin(two_theta / 2.0) * self.energy_eV / HC_EV_NM

    def radius_of_q(self, q: np.ndarray) -> np.ndarray:
        """Pixels from the beam at which ``|q|`` (nm^-1) is seen."""
        s = np.clip(np.asarray(q, dtype=np.float64) * HC_EV_NM / self.energy_eV / 2.0, 0, 1)
        return np.tan(2.0 * np.arcsin(s)) * self.distance_m / self.pixel_m

    def as_list(self) -> list[float]:
        return [self.distance_m, self.pixel_m, self.energy_eV]


def run_geometry(run, required: bool = False) -> Geometry | None:
    """The run's geometry from the metadata Psocake writes (detector distance, x pixel size,
    photon energy); None when a value is missing, or InputError naming it if ``required``."""
    meta = getattr(run, "metadata", None) or {}
    vals = {k: meta.get(k) for k in GEOMETRY_KEYS}
    try:
        g = Geometry(*(float(np.mean(vals[k])) for k in GEOMETRY_KEYS))
        ok = all(np.isfinite(v) and v > 0 for v in g.as_list())
    except (TypeError, ValueError):
        ok = False
    if ok:
        return g
    if required:
        raise InputError(f"{getattr(run, 'path', 'the run')}: features in q units need the "
                         f"detector distance, pixel size and photon energy, but the file lacks "
                         f"{_missing(vals)}; embed with units='pixel'")
    return None


def auto_geometry(run, fallback: Geometry | None = None) -> Geometry | None:
    """``units="auto"``: the run's geometry, or ``fallback`` (the fitted run's, when extending
    a manifold in q units) or None (pixel units), with one log line saying which."""
    g = run_geometry(run)
    if g is not None:
        return g
    vals = {k: (getattr(run, "metadata", None) or {}).get(k) for k in GEOMETRY_KEYS}
    path = getattr(run, "path", "the run")
    if fallback is not None:
        LOG.warning("%s: the file lacks %s; its features use the geometry of the run the "
                    "manifold was fitted on (distance %.4g m, pixel %.3g m, %.5g eV)",
                    path, _missing(vals), *fallback.as_list())
    else:
        LOG.warning("%s: the file lacks %s, so features are in pixel units (runs at another "
                    "detector distance or photon energy will not share this manifold)",
                    path, _missing(vals))
    return fallback


def part_geometries(run, units: str, fallback: Geometry | None = None
                    ) -> list[tuple[int, Geometry | None]]:
    """``(rows, geometry)`` of each run read as ``run``, in row order: one pair for a single
    run, one per run for several read as one (``io.RunSet``, whose runs may have been taken
    at other distances or energies).

    ``units`` "pixel": no geometry; "q": each run's own, an InputError naming a file that
    lacks it; "auto": each run's own, and for a run without one ``fallback`` (the fitted
    run's, when extending) or, with no fallback, no geometry for any run (pixel units),
    with one log line naming the file (:func:`auto_geometry`).
    """
    parts = list(getattr(run, "runs", None) or [run])
    if units == "pixel":
        return [(len(r), None) for r in parts]
    if units == "q":
        return [(len(r), run_geometry(r, True)) for r in parts]
    found = [run_geometry(r) for r in parts]
    lacking = [r for r, g in zip(parts, found) if g is None]
    if lacking and fallback is None:
        auto_geometry(lacking[0])
        return [(len(r), None) for r in parts]
    return [(len(r), g if g is not None else auto_geometry(r, fallback))
            for r, g in zip(parts, found)]


def reference_geometry(parts: list[tuple[int, Geometry | None]]) -> Geometry | None:
    """The geometry to lay the q rings out in: of the runs in ``parts``
    (:func:`part_geometries`), the one that sees a ring on the fewest pixels (shortest
    distance over pixel size and wavelength), so that every other run sees the rings on
    more pixels, which costs nothing (docs/features.md, "Runs at a shorter distance")."""
    found = [g for _, g in parts if g is not None]
    if not found:
        return None
    return min(found, key=lambda g: g.distance_m / g.pixel_m * HC_EV_NM / g.energy_eV)


def _missing(vals: dict) -> str:
    """The geometry values a file lacks (or says are not valid), for a message."""
    return ", ".join(k for k, v in vals.items() if v is None) or "a valid value"


def ring_layout(r_start: float, r_top: float, n_rings: int, b: int,
                geometry: Geometry | None, q_edges: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Ring edges in working pixels (binned by ``b``) and, with a geometry, in q.

    Without a geometry the rings are evenly spaced in pixels from ``r_start`` to ``r_top``;
    with one they are evenly spaced in q over the same span (or are the saved ``q_edges``).
    """
    if geometry is None:
        return np.linspace(r_start, r_top, n_rings + 1), None
    if q_edges is None:
        q_edges = np.linspace(*geometry.q_of_radius(np.array([r_start, r_top]) * b),
                              n_rings + 1)
    q_edges = np.asarray(q_edges, dtype=np.float64)
    return geometry.radius_of_q(q_edges) / b, q_edges


def hole_radius(mask: np.ndarray, b: int, center: tuple[float, float],
                friedel: bool = False) -> float:
    """Radius (working pixels) of the masked region about the beam: the first one-pixel
    ring about ``center`` of the ``b``-binned ``mask`` with at least half its blocks good.

    ``friedel``: a block counts as good when it or its mirror through ``center`` is, as
    the Friedel fill restores it; a gap or panel edge masked on one side of the beam then
    does not make a hole of its width (which would drop the low-q rings of every hit).
    """
    h, w = mask.shape[0] // b, mask.shape[1] // b
    good = mask[:h * b, :w * b].reshape(h, b, w, b).any(axis=(1, 3))
    if friedel:
        # the fill's own known mask: it rounds the mirror index as the fill does
        good = friedel_fill(np.zeros((1, h, w), np.float32), good[None],
                            np.array([center], dtype=np.float64))[1][0]
    ring = np.floor(np.hypot(np.arange(h)[:, None] - center[0],
                             np.arange(w)[None, :] - center[1])).astype(np.intp)
    frac = np.bincount(ring.ravel(), good.ravel()) / np.maximum(np.bincount(ring.ravel()), 1)
    ok = np.flatnonzero(frac >= 0.5)
    return float(ok[0]) if ok.size else 0.0

