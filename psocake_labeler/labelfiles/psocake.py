"""Psocake's own label formats, one file per run, read and written for continuity.

``<exp>_%04d_labels.h5`` with datasets ``labels`` and ``propLabels`` of shape
(events in run, 1), 0 = no label, k = k-th class (1-based); and ``<exp>_%04d.label.json``
mapping ``"<event>"`` to a class name.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError, LayoutError, MissingFileError
from ..io.atomic import atomic_h5, atomic_write_text
from ..io.schema import SCHEMA_PSOCAKE_LABELS, SPI_ALL
from .store_v1 import open_label_h5

_RUN_NAME = re.compile(r"^(?P<exp>.+?)_(?P<run>\d{4})(?:_|\.|$)")


def psocake_h5_name(experiment: str, run: int) -> str:
    """``<exp>_%04d_labels.h5``."""
    return f"{experiment}_{int(run):04d}_labels.h5"


def psocake_json_name(experiment: str, run: int) -> str:
    """``<exp>_%04d.label.json``."""
    return f"{experiment}_{int(run):04d}.label.json"


def parse_run_name(path: str | os.PathLike) -> tuple[str, int] | None:
    """``(experiment, run)`` from a Psocake-style file name, None if it does not fit."""
    m = _RUN_NAME.match(Path(path).name)
    return (m["exp"], int(m["run"])) if m else None


def write_psocake_h5(path: str | os.PathLike, labels: np.ndarray,
                     prop_labels: np.ndarray | None = None) -> None:
    """Write Psocake's ``labels``/``propLabels`` (events in run, 1), 1-based, 0 = none."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1, 1)
    prop = (np.zeros_like(labels) if prop_labels is None
            else np.asarray(prop_labels, dtype=np.int64).reshape(-1, 1))
    if prop.shape != labels.shape:
        raise ValueError(f"labels {labels.shape} and propLabels {prop.shape} differ in shape")
    with atomic_h5(path, SCHEMA_PSOCAKE_LABELS, 1) as f:
        f.create_dataset("labels", data=labels)
        f.create_dataset("propLabels", data=prop)


def read_psocake_h5(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read Psocake's ``labels`` and ``propLabels`` as flat int arrays (1-based, 0 = none)."""
    with open_label_h5(path) as f:
        if "labels" not in f:
            raise LayoutError(f"{path}: no 'labels' dataset; not a Psocake *_labels.h5 file")
        labels = np.asarray(f["labels"][()], dtype=np.int64).reshape(-1)
        prop = (np.asarray(f["propLabels"][()], dtype=np.int64).reshape(-1)
                if "propLabels" in f else np.zeros_like(labels))
    if prop.shape != labels.shape:
        raise LayoutError(f"{path}: 'labels' has {labels.size} events but 'propLabels' "
                          f"{prop.size}; the file is inconsistent")
    return labels, prop


def write_psocake_json(path: str | os.PathLike, labels: dict[int, str]) -> None:
    """Write ``{"<event>": "<label>"}`` atomically, events in ascending order."""
    text = json.dumps({str(int(e)): str(labels[e]) for e in sorted(labels)}, indent=1)
    atomic_write_text(path, text + "\n")


def read_psocake_json(path: str | os.PathLike) -> dict[int, str]:
    """Read ``{"<event>": "<label>"}`` into ``{event: label}``."""
    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{p}: no such file")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
        return {int(k): str(v) for k, v in raw.items()}
    except (ValueError, AttributeError) as exc:
        raise InputError(f"{p}: not a Psocake label JSON file ({{\"<event>\": \"<label>\"}}): "
                         f"{exc}") from exc


def events_in_run(source: str, hit_events: np.ndarray) -> int:
    """Number of events in a run: ``nHitsAll``'s length when the source file has it."""
    n = int(np.max(hit_events)) + 1 if len(hit_events) else 0
    try:
        with h5py.File(source, "r") as f:
            if SPI_ALL in f:
                return max(n, int(f[SPI_ALL].shape[0]))
    except (OSError, TypeError):
        pass  # source not reachable here: the largest hit event is the best we know
    return n
