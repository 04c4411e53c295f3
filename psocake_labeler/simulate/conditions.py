"""Beamtime conditions a simulated run can be made harder with (all off by default).

Real runs differ from the clean default: the beam hits a slightly different spot on every
shot, a detector half fails for a whole run or for single events, photon numbers are lower,
and the next run sits at another detector distance or photon energy. Each condition is one
field of :class:`Conditions`; ``parse_conditions("jitter=2,clipped=0.1")`` reads the
command-line form.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping

from ..errors import InputError

HALVES = ("top", "bottom")


@dataclass(frozen=True)
class Conditions:
    """What makes a simulated run harder.

    Attributes
    ----------
    jitter_px : rms beam-centre offset per hit along each axis, pixels of the image; the
        true centre of every hit is in the truth file (``params/beam_center``).
    photons : (low, high) signal photons per hit, log-uniform, for every kind (clusters
        times their particle count); None keeps the default ranges.
    dead_half : "top" or "bottom": that pnCCD half reads 0 in every image, and the file
        mask does not say so (the feature code must find it).
    clipped : fraction of hits whose top or bottom half reads 0 (per event, not in any mask).
    offset_px : (row, col) beam-centre offset of every hit of the run, pixels, on top of the
        jitter: the beam pointing moved, the sensor and its nominal centre did not.
    distance_m : detector distance; None keeps ``0.130 * N / 1024``.
    pixel_m : pixel size; None keeps 75 um.
    """

    jitter_px: float = 0.0
    photons: tuple[float, float] | None = None
    dead_half: str | None = None
    clipped: float = 0.0
    distance_m: float | None = None
    pixel_m: float | None = None
    offset_px: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if len(self.offset_px) != 2 or not all(abs(float(v)) <= 40.0 for v in self.offset_px):
            raise InputError(f"beam offset must be two values of -40 to 40 pixels "
                             f"(offset=ROW:COL), got {self.offset_px}")
        if not 0.0 <= float(self.jitter_px) <= 20.0:
            raise InputError(f"beam jitter must be 0-20 pixels, got {self.jitter_px}")
        if self.photons is not None:
            lo, hi = (float(v) for v in self.photons)
            if not 1.0 <= lo <= hi <= 1e7:
                raise InputError(f"photon range must be 1 <= low <= high <= 1e7, got "
                                 f"{self.photons}")
        if self.dead_half not in (None, *HALVES):
            raise InputError(f"dead half must be 'top' or 'bottom', got {self.dead_half!r}")
        if not 0.0 <= float(self.clipped) <= 1.0:
            raise InputError(f"clipped fraction must be 0-1, got {self.clipped}")
        for name in ("distance_m", "pixel_m"):
            v = getattr(self, name)
            if v is not None and not 1e-6 <= float(v) <= 100.0:
                raise InputError(f"{name} must be a positive length in metres, got {v}")

    def as_dict(self) -> dict:
        """JSON-ready form, as stored in the truth file's settings."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["photons"] = list(self.photons) if self.photons is not None else None
        d["offset_px"] = [float(v) for v in self.offset_px]
        return d


_ALIASES = {"jitter": "jitter_px", "distance": "distance_m", "pixel": "pixel_m",
            "pixel_size": "pixel_m", "offset": "offset_px"}


def parse_conditions(value: Conditions | Mapping | str | None) -> Conditions:
    """``Conditions`` from a dict or ``"jitter=2,photons=100-2000,dead_half=top,clipped=0.1,
    distance=0.02,pixel=75e-6,offset=4:-3"``; None gives the clean default."""
    if value is None:
        return Conditions()
    if isinstance(value, Conditions):
        return value
    if isinstance(value, str):
        items = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, sep, v = part.partition("=")
            if not sep:
                raise InputError(f"condition {part!r} is not name=value")
            items[name.strip()] = v.strip()
        value = items
    known = {f.name for f in fields(Conditions)}
    out: dict = {}
    for name, v in dict(value).items():
        key = _ALIASES.get(name, name)
        if key not in known:
            raise InputError(f"unknown condition {name!r}; use jitter, photons, dead_half, "
                             f"clipped, distance, pixel, offset")
        try:
            if key == "photons" and isinstance(v, str):
                lo, _, hi = v.partition("-")
                v = (float(lo), float(hi or lo))
            elif key == "photons" and v is not None:
                v = tuple(float(x) for x in v)
            elif key == "offset_px":
                parts = v.split(":") if isinstance(v, str) else list(v)
                v = tuple(float(x) for x in (parts * 2 if len(parts) == 1 else parts))
            elif key == "dead_half":
                v = None if v in (None, "", "none") else str(v)
            elif v is not None:
                v = float(v)
        except (TypeError, ValueError):
            raise InputError(f"condition {name}={v!r}: not a number") from None
        out[key] = v
    return Conditions(**out)
