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
from ..io.events import MAX_EVENT
from ..io.h5files import read_dataset
from ..io.schema import SCHEMA_PSOCAKE_LABELS, SPI_ALL
from .store_v1 import open_label_h5

# Psocake's class codes: real SPI label sets use 0 (not sample) to 9 (background).
MAX_CODE = 99
# A run's labels as JSON take ~20 bytes an event: 10^7 events stay below this.
MAX_JSON_BYTES = 256 << 20
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
    """Read Psocake's ``labels`` and ``propLabels`` as flat int arrays (1-based, 0 = none).

    Codes must be whole numbers from 0 to :data:`MAX_CODE`, one per event (a column);
    anything else is a LayoutError naming the file and the dataset.
    """
    with open_label_h5(path) as f:
        if "labels" not in f:
            raise LayoutError(f"{path}: no 'labels' dataset; not a Psocake *_labels.h5 file")
        labels = _codes(path, "labels", read_dataset(f, "labels", path))
        prop = (_codes(path, "propLabels", read_dataset(f, "propLabels", path))
                if "propLabels" in f else np.zeros_like(labels))
    if prop.shape != labels.shape:
        raise LayoutError(f"{path}: 'labels' has {labels.size} events but 'propLabels' "
                          f"{prop.size}; the file is inconsistent")
    return labels, prop


def _codes(path, name: str, values: np.ndarray) -> np.ndarray:
    where = f"{path}: dataset /{name}"
    if values.ndim > 2 or values.ndim == 2 and values.shape[1] != 1:
        raise LayoutError(f"{where} has shape {values.shape}; expected (events in run, 1)")
    values = values.reshape(-1)
    if values.dtype.kind not in "iuf" or values.dtype.kind == "f" and not (
            np.isfinite(values).all() and (values == np.round(values)).all()):
        raise LayoutError(f"{where} holds {values.dtype} values, not class codes (0 = no "
                          "label, k = k-th class)")
    codes = values.astype(np.int64)
    bad = np.flatnonzero((codes < 0) | (codes > MAX_CODE))
    if len(bad):
        raise LayoutError(f"{where} holds class code {int(codes[bad[0]])} at event "
                          f"{int(bad[0])}; codes go from 0 (no label) to {MAX_CODE}")
    return codes


def write_psocake_json(path: str | os.PathLike, labels: dict[int, str]) -> None:
    """Write ``{"<event>": "<label>"}`` atomically, events in ascending order."""
    text = json.dumps({str(int(e)): str(labels[e]) for e in sorted(labels)}, indent=1)
    atomic_write_text(path, text + "\n")


def read_psocake_json(path: str | os.PathLike) -> dict[int, str]:
    """Read ``{"<event>": "<label>"}`` into ``{event: label}``."""
    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{p}: no such file")
    what = f"{p}: not a Psocake label JSON file ({{\"<event>\": \"<label>\"}})"
    if p.stat().st_size > MAX_JSON_BYTES:
        raise InputError(f"{what}: {p.stat().st_size} bytes, more than a run's labels take "
                         f"(at most {MAX_JSON_BYTES})")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except RecursionError:
        raise InputError(f"{what}: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{what}: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError(f"{what}: it holds a JSON {type(raw).__name__}")
    out = {}
    for k, v in raw.items():
        if not (k.isdigit() and int(k) < MAX_EVENT) or not isinstance(v, str):
            raise InputError(f"{what}: entry {k[:40]!r}: {str(v)[:40]!r} is not an event "
                             "number (0, 1, ...) and a class name")
        out[int(k)] = v
    return out


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
