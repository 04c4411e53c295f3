"""Psocake's stand-alone ``litPixels`` output: a hit metric per event, no images.

Layout: ``<exp>_<run>[_tag].h5`` (run not zero-padded), group ``/litPixels`` with
``hitMetric`` (attributes ``numEvents``, ``photonEnergy``, ``exprun``, ``detectorName``),
``event``, ``eventTime``, ``fiducials``, and per detector ``<alias>/mask``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import EmptyRunError, LayoutError
from .events import check_event_numbers
from .h5files import attr_text, get_dataset, open_h5, read_dataset, row_count
from .runs import Run
from .schema import LIT_PIXELS, parse_name
from .sources import NoImageSource
from .spi import hit_count, num_events_attr

METRIC = f"{LIT_PIXELS}/hitMetric"
EVENT = f"{LIT_PIXELS}/event"


def _find_mask(f, detector: str | None) -> tuple[np.ndarray | None, str | None]:
    """The detector's 2-D mask (psana convention: 1 = good pixel) and its dataset name."""
    import h5py

    names = []
    if detector:
        names += [f"{LIT_PIXELS}/{detector}/mask", f"/{detector}/mask"]
    for group in (f, f.get(LIT_PIXELS)):
        if isinstance(group, h5py.Group):
            for item in group.values():
                if isinstance(item, h5py.Group) and "mask" in item:
                    names.append(f"{item.name}/mask")
    for name in names:
        ds = get_dataset(f, name)
        if ds is not None and ds.ndim == 2:
            return np.asarray(ds[()] != 0, dtype=bool), name
    return None, None


def open_litpixels(path: Path) -> Run:
    """Open a litPixels file: events and hit metric; reading images raises NoImagesError."""
    with open_h5(path) as f:
        for name in (METRIC, EVENT):
            if get_dataset(f, name) is None:
                raise LayoutError(f"{path}: litPixels file without {name}")
        metric_ds = f[METRIC]
        lengths = {METRIC: row_count(metric_ds), EVENT: row_count(f[EVENT])}
        n = hit_count(path, lengths, num_events_attr(metric_ds))
        if n == 0:
            raise EmptyRunError(f"{path}: holds 0 events ({METRIC} is empty); run "
                                "litPixels again over the run")
        events = check_event_numbers(path, EVENT, read_dataset(f, EVENT, path)[:n])
        metric = read_dataset(f, METRIC, path).reshape(-1)[:n]
        attrs = metric_ds.attrs
        md = {"kind": "litpixels"}
        md.update({k: v for k, v in parse_name(path).items() if k != "rest"})
        exprun = attr_text(attrs.get("exprun"))
        if exprun:
            m = re.search(r"exp=([A-Za-z]+\d+)", exprun)
            r = re.search(r"run=(\d+)", exprun)
            md["experiment"] = md.get("experiment") or (m[1] if m else None)
            md["run"] = md.get("run") if md.get("run") is not None else (
                int(r[1]) if r else None)
        md["detector"] = attr_text(attrs.get("detectorName"))
        energy = attrs.get("photonEnergy")
        md["photon_energy_eV"] = None if energy is None else float(
            np.median(np.asarray(energy, dtype=np.float64)))
        mask, mask_name = _find_mask(f, md["detector"])
    message = (f"{path}: is a litPixels file: it holds a hit metric for {n} events "
               f"({METRIC}) but no images; open the run's .cxi hits file saved with "
               "--saveADU, or the run inside Psocake, where images come from psana")
    info = {"events_dataset": EVENT, "hits_dataset": METRIC, "images_dataset": None,
            "mask_dataset": mask_name, "hit_metric": metric}
    return Run(path, NoImageSource(n, message), events, md, mask=mask, info=info)
