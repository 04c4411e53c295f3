"""Psocake's SFX peak-finder output: per-rank ``<exp>_<run:04d>_<rank>[_tag].cxi`` files and
the master ``<exp>_<run:04d>[_tag].cxi`` (``nPeaksAll`` per event) that ties them together.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import EmptyRunError, LayoutError
from .events import check_event_numbers
from .h5files import (
    get_dataset,
    median_number,
    open_h5,
    read_dataset,
    row_count,
)
from .runs import Run
from .schema import EVENT_NUMBER, SFX_ALL, SFX_HITS, file_kind, parse_name
from .sources import ConcatSource, H5DatasetSource, NoImageSource
from .spi import DET, cxi_metadata, find_images, hit_count, read_center, read_mask

SFX_IMAGE_PATHS = ("/entry_1/data_1/data", f"{DET}/data")
SFX_MASK_PATHS = ("/entry_1/data_1/mask", f"{DET}/mask")
CLEN = "/LCLS/detector_1/EncoderValue"  # camera length, mm


def rank_files(master: str | Path) -> list[Path]:
    """The per-rank files beside ``master``, sorted by rank (empty if none)."""
    master = Path(master)
    name = parse_name(master)
    if not name:
        return []
    tag = name["rest"]
    pattern = re.compile(rf"^{re.escape(name['experiment'])}_{name['run']:04d}_(\d+)"
                         + (rf"_{re.escape(tag)}" if tag else "") + r"\.cxi$")
    found = []
    for p in master.parent.iterdir():
        m = pattern.match(p.name)
        if m and p != master:
            found.append((int(m[1]), p))
    return [p for _, p in sorted(found)]


def missing_ranks(parts: list[Path]) -> list[int]:
    """Rank numbers below the highest found with no file: their hits may be missing.

    MPI ranks are numbered 0..size-1 and each writes its own file, so a gap usually means a
    file was not copied (or a rank died); ``info`` reports it rather than refusing the run.
    """
    ranks = []
    for p in parts:
        rest = parse_name(p).get("rest") or ""
        if rest.split("_")[0].isdigit():
            ranks.append(int(rest.split("_")[0]))
    return sorted(set(range(max(ranks) + 1)) - set(ranks)) if ranks else []


def _open_rank(path: Path) -> tuple[np.ndarray, object, dict]:
    """Events, image source and facts of one per-rank file (may hold 0 hits)."""
    with open_h5(path) as f:
        if get_dataset(f, EVENT_NUMBER) is None:
            raise LayoutError(f"{path}: per-rank peak-finder file without {EVENT_NUMBER}")
        lengths = {EVENT_NUMBER: row_count(f[EVENT_NUMBER])}
        if get_dataset(f, SFX_HITS) is not None:
            lengths[SFX_HITS] = row_count(f[SFX_HITS])
        found = find_images(f, path, SFX_IMAGE_PATHS)
        if found is not None:
            lengths[found[0]] = row_count(f[found[0]])
        # Here eventNumber's numEvents counts the rank's events, not its hits: the
        # peak finder crops every per-hit dataset to the hits, so lengths must agree.
        n = hit_count(path, lengths, None)
        events = check_event_numbers(path, EVENT_NUMBER,
                                     read_dataset(f, EVENT_NUMBER, path)[:n])
        md = cxi_metadata(f, path, "sfx", n)
        clen = median_number(f, CLEN, n)
        mask, mask_name = read_mask(f, path, found[1] if found else None, SFX_MASK_PATHS)
        center = read_center(f, n)
    if found is not None:
        source = H5DatasetSource(path, found[0], n, found[1])
    else:
        source = NoImageSource(n, f"{path}: holds {n} hits but no images (no "
                               f"{' or '.join(SFX_IMAGE_PATHS)}); run the peak finder "
                               "again, or open the run inside Psocake, where images come "
                               "from psana")
    facts = {"metadata": md, "clen_mm": clen, "mask": mask, "mask_dataset": mask_name,
             "center": center, "images_dataset": found[0] if found else None}
    return events, source, facts


def open_sfx(path: Path) -> Run:
    """Open an SFX master (gathering its per-rank files) or a single per-rank file."""
    with open_h5(path) as f:
        kind = file_kind(f)
        master_info: dict = {}
        master_md: dict = {}
        master_mask = None
        self_contained = False
        if kind == "sfx-master":
            all_peaks = read_dataset(f, SFX_ALL, path).reshape(-1)
            master_info = {"n_events": int(len(all_peaks)),
                           "n_processed": int((all_peaks >= 0).sum())}
            master_mask, _ = read_mask(f, path, None, ("/entry_1/data_1/mask",))
            master_md = cxi_metadata(f, path, "sfx", None)
            self_contained = (get_dataset(f, EVENT_NUMBER) is not None
                              and find_images(f, path, SFX_IMAGE_PATHS) is not None
                              and row_count(f[EVENT_NUMBER]) > 0)
    parts = rank_files(path) if kind == "sfx-master" else [path]
    if kind == "sfx-master" and not parts:
        if not self_contained:
            raise LayoutError(f"{path}: is an SFX peak-finder master file ({SFX_ALL}) but "
                              "its per-rank files <exp>_<run:04d>_<rank>.cxi are not beside "
                              "it; copy them into the same folder")
        parts = [path]
    opened = [_open_rank(p) for p in parts]
    n = sum(len(ev) for ev, _, _ in opened)
    if n == 0:
        raise EmptyRunError(f"{path}: holds 0 hits in {len(parts)} per-rank file(s); lower "
                            "the peak-finder thresholds (minimum peaks) and run it again")
    # every rank processes its own events: across rank files they are unique too
    events = check_event_numbers(path, f"{EVENT_NUMBER} of {len(parts)} rank file(s)",
                                 np.concatenate([ev for ev, _, _ in opened]),
                                 master_info.get("n_events"))
    row_sources = [str(p) for p, (ev, _, _) in zip(parts, opened) for _ in range(len(ev))]
    source = ConcatSource([s for _, s, _ in opened])
    first = next(facts for ev, _, facts in opened if len(ev))  # ranks may have no hits
    md = dict(first["metadata"])
    name = parse_name(path)
    md["experiment"] = name.get("experiment", md.get("experiment"))
    md["run"] = name.get("run", md.get("run"))
    md["clen_mm"] = first["clen_mm"]
    for key, value in master_md.items():
        if md.get(key) is None:
            md[key] = value
    mask, mask_name = first["mask"], first["mask_dataset"]
    if mask is None and master_mask is not None:
        mask, mask_name = master_mask, "/entry_1/data_1/mask (master)"
    if mask is not None and source.shape is not None and mask.shape != source.shape:
        mask, mask_name = None, None  # e.g. a master mask of another detector layout
    info = dict(master_info)
    info.update({"parts": [str(p) for p in parts], "images_dataset": first["images_dataset"],
                 "mask_dataset": mask_name, "events_dataset": EVENT_NUMBER,
                 "hits_dataset": SFX_HITS})
    if kind == "sfx-master" and parts != [path]:
        info["missing_ranks"] = missing_ranks(parts)
    return Run(path, source, events, md, mask=mask, center=first["center"],
               row_sources=row_sources, info=info)
