"""Psocake's SPI hit-finder output: "Launch hit finder" + "Save hits" (xtc2cxi --mode spi).

Also holds the CXI helpers (images, mask, geometry, lengths) that the SFX reader shares.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import EmptyRunError, LayoutError
from .events import check_event_numbers
from .h5files import (
    attr_text,
    get_dataset,
    median_number,
    open_h5,
    read_dataset,
    row_count,
)
from .runs import Run
from .schema import EVENT_NUMBER, SPI_ALL, SPI_HITS, parse_name
from .sources import H5DatasetSource, NoImageSource, PsanaSource, psana_available

DET = "/entry_1/instrument_1/detector_1"
IMAGE_PATHS = (f"{DET}/data", "/entry_1/data_1/data", f"{DET}/photons")
# CXI/CrystFEL convention: non-zero = bad pixel (Psocake's SFX master inverts psana's mask
# to write it this way).
MASK_PATHS = (f"{DET}/mask", "/entry_1/data_1/mask")
EXPERIMENTAL_ID = "/entry_1/experimental_identifier"
PHOTON_ENERGY = "/LCLS/photon_energy_eV"
SOURCE_ENERGY = "/entry_1/instrument_1/source_1/energy"  # joules (CXI)
EV = 1.602176634e-19


def num_events_attr(ds) -> int | None:
    """The ``numEvents`` attribute (valid rows of a pre-allocated dataset), or None."""
    if ds is None or "numEvents" not in ds.attrs:
        return None
    try:
        count = int(np.asarray(ds.attrs["numEvents"]).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        return None
    return count if count >= 0 else None


def hit_count(path: Path, lengths: dict[str, int], count: int | None) -> int:
    """Number of hits from per-hit dataset lengths and an optional ``numEvents``.

    Without ``numEvents`` all lengths must agree; with it, none may be shorter. Otherwise
    LayoutError names the two datasets that disagree.
    """
    n = min(lengths.values()) if count is None else count
    ref = max(lengths, key=lengths.get)
    short = [k for k, v in lengths.items() if v < (lengths[ref] if count is None else n)]
    if short:
        name = short[0]
        if count is not None and lengths[ref] < n:
            ref = "numEvents"
        top = lengths[ref] if ref in lengths else n
        raise LayoutError(f"{path}: datasets disagree in length: {ref} has {top} rows but "
                          f"{name} has {lengths[name]}; the job writing it was probably "
                          "interrupted: run it again")
    return n


def find_images(f, path: Path, paths=IMAGE_PATHS) -> tuple[str, tuple] | None:
    """The first image dataset among ``paths`` as ``(name, (H, W))``, or None."""
    for name in paths:
        ds = get_dataset(f, name)
        if ds is None:
            continue
        if ds.ndim != 3:
            raise LayoutError(f"{path}: dataset {name} has shape {ds.shape}; expected "
                              "(hits, rows, cols)")
        if ds.dtype.kind not in "iuf":
            raise LayoutError(f"{path}: dataset {name} holds {ds.dtype}, not numbers")
        if min(ds.shape[1:]) < 1:
            raise LayoutError(f"{path}: dataset {name} has images of {ds.shape[1]}x"
                              f"{ds.shape[2]} pixels; the file is damaged")
        return name, (int(ds.shape[1]), int(ds.shape[2]))
    return None


def good_is_zero(ds, default: bool = True) -> bool:
    """Whether 0 marks a good pixel in mask ``ds``, from its ``convention`` attribute.

    "psana ... 1 = good" means non-zero is good; "0 = good" (CXI bits) means zero is good;
    without the attribute, ``default`` (CXI/CrystFEL files: non-zero = bad).
    """
    text = (attr_text(ds.attrs.get("convention")) or "").lower().replace(" ", "")
    if "1=good" in text or text.startswith("psana"):
        return False
    if "0=good" in text:
        return True
    return default


def read_mask(f, path: Path, shape: tuple | None, paths=MASK_PATHS,
              default_zero_good: bool = True) -> tuple[np.ndarray, str] | tuple[None, None]:
    """``(good-pixel mask, dataset)`` from the first 2-D mask of the image shape found."""
    for name in paths:
        ds = get_dataset(f, name)
        if ds is None or ds.ndim != 2 or (shape is not None and tuple(ds.shape) != shape):
            continue
        raw = read_dataset(f, name, path)
        good = raw == 0 if good_is_zero(ds, default_zero_good) else raw != 0
        return np.asarray(good, dtype=bool), name
    return None, None


def read_center(f, n: int) -> tuple[float, float] | None:
    """Beam centre ``(row, col)`` from ``beam_center_y/x`` (pixels) of detector_1."""
    cy = median_number(f, f"{DET}/beam_center_y", n)
    cx = median_number(f, f"{DET}/beam_center_x", n)
    return None if cy is None or cx is None else (cy, cx)


def cxi_metadata(f, path: Path, kind: str, n: int | None) -> dict:
    """Experiment, run, detector and geometry of a CXI file (None where absent)."""
    md = {"kind": kind}
    name = parse_name(path)
    md["experiment"], md["run"] = name.get("experiment"), name.get("run")
    args = attr_text(read_dataset(f, "/psana/input", path)) if get_dataset(
        f, "/psana/input") is not None else None
    if args:
        # Psocake stores the job's arguments; they name exp, run and detector.
        for key, pat in (("experiment", r"exp[=:'\"\s]+([A-Za-z]+\d+)"),
                         ("run", r"run[=:'\"\s]+(\d+)"),
                         ("detector", r"(?:^|\s)(?:-d|--det|--detectorName|det)[=\s]+"
                                      r"([A-Za-z][\w.:-]*)")):
            m = re.search(pat, args)
            if m and md.get(key) is None:
                md[key] = int(m[1]) if key == "run" else m[1]
    if md.get("detector") is None and get_dataset(f, f"{DET}/description") is not None:
        md["detector"] = attr_text(read_dataset(f, f"{DET}/description", path))
    energy = median_number(f, PHOTON_ENERGY, n)
    if energy is None:
        joules = median_number(f, SOURCE_ENERGY, n)
        energy = None if joules is None else joules / EV
    md["photon_energy_eV"] = energy
    md["distance_m"] = median_number(f, f"{DET}/distance", n)
    md["pixel_size_m"] = median_number(f, f"{DET}/x_pixel_size", n)
    return md


def no_images_message(path: Path, n: int, paths=IMAGE_PATHS) -> str:
    """The one sentence for hits saved without images, with the remedy."""
    return (f"{path}: holds {n} hits but no images (none of {', '.join(paths)}): it was "
            "written by 'Save hits' without --saveADU; re-run xtc2cxi with --saveADU, or "
            "open it inside Psocake or wherever LCLS's psana is importable, so that the "
            "images come from psana")


def open_spi(path: Path, use_psana: bool | None = None) -> Run:
    """Open an SPI hits file (``nHits``, ``/LCLS/eventNumber``, optional images).

    Without images, they come from psana when ``use_psana`` (None: when psana is importable)
    and the file names experiment, run and detector; else reading them says what to do.
    """
    if use_psana is None:
        use_psana = psana_available()
    with open_h5(path) as f:
        events_name = next((d for d in (EVENT_NUMBER, EXPERIMENTAL_ID)
                            if get_dataset(f, d) is not None), None)
        if events_name is None:
            if get_dataset(f, SPI_ALL) is not None:
                all_hits = read_dataset(f, SPI_ALL, path).reshape(-1)
                raise EmptyRunError(
                    f"{path}: holds only the hit finder's {SPI_ALL} ({len(all_hits)} events,"
                    f" {int((all_hits >= 0).sum())} processed) and no saved hits; run "
                    "'Save hits' (xtc2cxi --mode spi --saveADU) first")
            raise LayoutError(f"{path}: no {EVENT_NUMBER} or {EXPERIMENTAL_ID}: not a "
                              "Psocake hits file")
        ev_ds = f[events_name]
        hits_ds = get_dataset(f, SPI_HITS)
        lengths = {events_name: row_count(ev_ds)}
        if hits_ds is not None:
            lengths[SPI_HITS] = row_count(hits_ds)
        if events_name == EVENT_NUMBER and get_dataset(f, EXPERIMENTAL_ID) is not None:
            lengths[EXPERIMENTAL_ID] = row_count(f[EXPERIMENTAL_ID])
        found = find_images(f, path)
        if found is not None:
            lengths[found[0]] = row_count(f[found[0]])
        # Only nHits' numEvents counts hits ("Save hits" sets it); on eventNumber the peak
        # finder uses the attribute for events, so it is not trusted there.
        n = hit_count(path, lengths, num_events_attr(hits_ds))
        n_events = (row_count(f[SPI_ALL]) if get_dataset(f, SPI_ALL) is not None
                    and get_dataset(f, "/psocake_labeler/run") is None else None)
        row_runs = get_dataset(f, "/psocake_labeler/run")
        events = check_event_numbers(
            path, events_name, read_dataset(f, events_name, path)[:n], n_events,
            None if row_runs is None else read_dataset(f, "/psocake_labeler/run", path)[:n])
        if n == 0:
            raise EmptyRunError(f"{path}: holds 0 hits ({events_name} is empty); lower the "
                                "hit threshold and run 'Save hits' again")
        md = cxi_metadata(f, path, "spi", n)
        shape = found[1] if found else None
        mask, mask_name = read_mask(f, path, shape)
        center = read_center(f, n)
        info = {"events_dataset": events_name,
                "hits_dataset": SPI_HITS if hits_ds is not None else None,
                "images_dataset": found[0] if found else None, "mask_dataset": mask_name}
        if get_dataset(f, SPI_ALL) is not None:
            all_hits = read_dataset(f, SPI_ALL, path).reshape(-1)
            info["n_events"] = int(len(all_hits))
            info["n_processed"] = int((all_hits >= 0).sum())
        if hits_ds is not None:
            info["lit_pixels"] = read_dataset(f, SPI_HITS, path).reshape(-1)[:n]
        if row_runs is not None and row_count(row_runs) == n:
            # our one-class CXI export: hits may come from several runs
            info["row_runs"] = read_dataset(f, "/psocake_labeler/run", path).reshape(-1)
            runs = np.unique(info["row_runs"])
            md["run"] = int(runs[0]) if len(runs) == 1 else None
            md["runs"] = [int(r) for r in runs]
            if len(runs) > 1:   # the copied nHitsAll is the first run's only
                info.pop("n_events", None)
                info.pop("n_processed", None)
            cls = f["/psocake_labeler"].attrs.get("class_name")
            info["export_class"] = attr_text(cls) if cls is not None else "?"
        if get_dataset(f, "/status/findHits") is not None:
            info["status"] = attr_text(read_dataset(f, "/status/findHits", path))
    if found is not None:
        source = H5DatasetSource(path, found[0], n, found[1])
    elif use_psana and md.get("experiment") and md.get("run") is not None \
            and md.get("detector"):
        source = PsanaSource(md["experiment"], md["run"], md["detector"], events)
    else:
        source = NoImageSource(n, no_images_message(path, n))
    return Run(path, source, events, md, mask=mask, center=center, info=info)
