"""Where each run's beam hit the detector, for the runs read together or added later.

A run's nominal beam centre comes from its file (the geometry Psocake writes) or is the
image centre; its beam may hit elsewhere (the beam pointing or the detector moved between
runs, or the file gives no centre). Each hit's own centre is searched only ``beam_search``
pixels about the nominal one, so a run whose beam lies further off would have every hit's
rings about the wrong point. The centres of a sample of its hits, found within the widest
search, tell where it is: their median, when more than :data:`CENTRE_MOVE` pixels off, moves
the run's centre there (``ImagePipeline.moved``). Measured: docs/features.md, "A run whose
beam hit elsewhere".
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import centering
from . import representations as rep
from .pipeline import ImagePipeline

# beam_search="auto": the search lies in this range (image pixels); the widest is the
# probe's, which finds where a run's beam is ...
AUTO_SEARCH = (6.0, 16.0)
# ... on the centres of this many hits spread over the run.
JITTER_SAMPLE = 200
#: A run's centre moves to its hits' median centre when that lies this far off (image px).
CENTRE_MOVE = 1.0
#: ... and when at least this many of the sampled hits placed a centre.
MIN_PLACED = 5


def follows_beam(params: dict) -> bool:
    """Whether each run is read about where its beam hit: the per-hit search is on
    (``beam_search`` "auto" or > 0) and the representation is taken about the beam (not
    "image"). With the search off every run is read about its nominal centre, as manifolds
    saved with it were made, and extend new runs so."""
    search = params["beam_search"]
    return params["representation"] != "image" and (search == "auto" or float(search) > 0)


def sample_offsets(params: dict, run, mask: np.ndarray, center: tuple[float, float],
                   span: tuple[int, int], rows: tuple[int, int], comm: Any) -> np.ndarray:
    """Beam-centre offsets (image pixels, ``(k, 3)``: row, col, NaN where none was placed;
    then 1 where the centre was placed on a whole pattern, enough Friedel pairs good, else
    0) of :data:`JITTER_SAMPLE` hits spread over rows ``span`` of ``run``, each searched
    within the widest search about ``center``; this rank reads the sampled rows in ``rows``
    (its block), and every rank gets all offsets."""
    hi = min(AUTO_SEARCH[1], min(mask.shape) / 4.0)
    a, b = span
    sample = a + np.unique(np.linspace(0, b - a - 1, min(b - a, JITTER_SAMPLE))
                           .round().astype(np.int64))
    local = sample[(sample >= rows[0]) & (sample < rows[1])]
    probe = ImagePipeline({**params, "beam_search": hi, "units": "pixel"}, tuple(mask.shape),
                          center, mask)
    offsets = np.zeros((0, 3))
    if len(local):
        images = np.asarray(run.images(local), dtype=np.float32)
        good = mask[None] & ~centering.unread_rows(images, mask)
        values, ok = rep.bin_images(images, good, probe.bin)
        v = rep.photon_scale(values, ok, params["photon"])
        off, firm = probe.locate(v, ok)
        offsets = np.column_stack([off * probe.bin, np.isinf(firm)])
    if comm is not None:
        offsets = np.concatenate(comm.allgather(offsets))
    return offsets


def centre_shift(offsets: np.ndarray) -> np.ndarray:
    """Where a run's beam is, from :func:`sample_offsets`: the median offset of the hits
    placed on a whole pattern when it lies more than :data:`CENTRE_MOVE` off (and enough
    hits were), else 0. Hits beside a dead or clipped half are left out: their centres are
    pulled toward its edge (docs/features.md), which would move the whole run."""
    placed = offsets[(offsets[:, 2] > 0) & ~np.isnan(offsets[:, 0]), :2]
    if len(placed) < MIN_PLACED:
        return np.zeros(2)
    med = np.median(placed, axis=0)
    return med if float(np.hypot(*med)) > CENTRE_MOVE else np.zeros(2)


def auto_search(offsets: np.ndarray, shift: np.ndarray, shape: tuple[int, int]) -> float:
    """The beam search for ``beam_search="auto"``: 3 x the run's beam jitter, clipped to
    :data:`AUTO_SEARCH` (image pixels).

    ``offsets``: the centres of a sample of hits found within the widest search
    (:func:`sample_offsets`, every placed one), ``shift`` where the run's beam is
    (:func:`centre_shift`). The jitter is the larger of the two axes' robust rms about it
    (1.4826 x the median absolute offset), so the non-hits (no pattern, a centre anywhere)
    and the hits whose beam fell on a dead half (centres pulled a few pixels) do not
    inflate it. A run whose beam stays put keeps the narrow search and its outer rings
    (``ImagePipeline`` stops the rings ``beam_search`` inside the image); 6 px rms jitter
    gets the widest, and more of its hits keep their own centre than with 6 px.
    """
    # A small image keeps rings inside: at most a quarter of its shorter side.
    hi = min(AUTO_SEARCH[1], min(shape) / 4.0)
    lo = min(AUTO_SEARCH[0], hi)
    if len(offsets) == 0:
        return float(lo)
    off = np.where(np.isnan(offsets[:, :2]), 0.0, offsets[:, :2] - shift)
    jitter = float((1.4826 * np.median(np.abs(off), axis=0)).max())
    return float(np.clip(np.round(3.0 * jitter), lo, hi))


def part_frames(pipe: ImagePipeline, run, parts: list, rows: tuple[int, int], comm: Any,
                mask: np.ndarray | None = None, first: int = 0, auto: bool = False) -> list:
    """``(rows, (geometry, pipeline))`` for each part of ``parts`` (``(rows, geometry)`` of
    each run read as ``run``, ``geometry.part_geometries``): ``pipe`` moved to where that
    run's beam is, found about the run's own nominal centre, and with ``auto`` (the
    ``beam_search="auto"`` of the fit) searching as wide as that run's jitter needs when it
    needs more. Parts before ``first`` keep ``pipe`` (the run it was fitted on, already
    placed). ``mask``: the runs' good pixels, with the fitted ones."""
    runs = list(getattr(run, "runs", None) or [run])
    good = pipe.mask if mask is None else pipe.mask & np.asarray(mask, dtype=bool)
    out, start = [], 0
    for k, (r, (n, geometry)) in enumerate(zip(runs, parts)):
        moved = pipe
        if k >= first and follows_beam(pipe.params):
            own = np.asarray(r.center if r.center is not None else pipe.center, float)
            off = sample_offsets(pipe.params, run, good, tuple(own), (start, start + n),
                                 rows, comm)
            here = centre_shift(off)
            shift = own + here - np.asarray(pipe.center)
            search = float(pipe.params["beam_search"])
            if auto:
                search = max(search, auto_search(off, here, pipe.image_shape))
            if float(np.hypot(*shift)) > 1e-6 or search > float(pipe.params["beam_search"]):
                moved = pipe.moved(shift, search)
        out.append((n, (geometry, moved)))
        start += n
    return out
