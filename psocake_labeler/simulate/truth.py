"""Ground truth of a simulated run, in ``<stem>.truth.h5`` beside the run's ``.cxi``."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError, LayoutError, MissingFileError, NotHDF5Error
from ..io.atomic import atomic_h5
from ..io.schema import SCHEMA_TRUTH as SCHEMA
from ..labelling.classes import DEFAULT_CLASSES

KINDS = ("single", "multiple", "water", "nonhit", "unknown")
# Class index of each kind: water droplets and non-hits are both "Water/Unknown".
KIND_TO_LABEL = {"single": 0, "multiple": 1, "water": 2, "nonhit": 2}
#: Runs with "unknown" hits (particles with a droplet stuck to them, faint particles) have
#: five classes, water and non-hits apart.
FIVE_CLASSES = ("Single", "Multiple", "Water", "Non-hit", "Unknown")
FIVE_KIND_TO_LABEL = {"single": 0, "multiple": 1, "water": 2, "nonhit": 3, "unknown": 4}


def classes_for(mix: dict) -> tuple[tuple[str, ...], dict]:
    """(class names, kind -> class index) of a run with this mix."""
    if mix.get("unknown", 0.0) > 0:
        return FIVE_CLASSES, FIVE_KIND_TO_LABEL
    return DEFAULT_CLASSES, KIND_TO_LABEL


VERSION = 1


def truth_path_for(path: str | Path) -> Path:
    """``run.cxi`` -> ``run.truth.h5`` (same folder)."""
    path = Path(path)
    return path.with_name(path.stem + ".truth.h5")


@dataclass
class Truth:
    """What was simulated for each hit, in the run's event order.

    ``events`` int64, ``labels`` int (index into ``class_names``), ``kinds`` str,
    ``params`` per-hit arrays (n_particles, diameter_nm, photons, background_photons,
    rotation), ``attrs`` run-level settings (seed, shape, mix, beam_center, ...).
    """

    events: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray
    class_names: tuple[str, ...] = DEFAULT_CLASSES
    params: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.events)


def write_truth(path: str | Path, truth: Truth) -> None:
    """Write ``truth`` atomically to ``path``."""
    with atomic_h5(path, SCHEMA, VERSION) as f:
        f.create_dataset("events", data=np.asarray(truth.events, dtype=np.int64))
        f.create_dataset("labels", data=np.asarray(truth.labels, dtype=np.int64))
        f.create_dataset("kinds", data=np.asarray(truth.kinds, dtype=object),
                         dtype=h5py.string_dtype())
        f.create_dataset("class_names", data=list(truth.class_names),
                         dtype=h5py.string_dtype())
        g = f.create_group("params")
        for k, v in truth.params.items():
            g.create_dataset(k, data=v)
        f.attrs["settings"] = json.dumps(truth.attrs)


def read_truth(path: str | Path) -> Truth:
    """Read a ground-truth file written by :func:`simulate_run`.

    ``path`` may also be the simulated ``.cxi`` itself; its ``.truth.h5`` is then used.
    """
    path = Path(path)
    if path.suffix != ".h5" or not path.name.endswith(".truth.h5"):
        path = truth_path_for(path)
    if not path.exists():
        raise MissingFileError(f"{path}: ground-truth file not found; simulate the run again "
                               "with `psocake-labeler simulate`")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise NotHDF5Error(f"{path}: not a readable HDF5 file; simulate the run again") from None
    with f:
        schema = f.attrs.get("schema")
        if isinstance(schema, bytes):
            schema = schema.decode()
        if schema != SCHEMA:
            raise LayoutError(f"{path}: not a simulation ground-truth file (schema {schema!r})")
        try:
            events = f["events"][()]
            labels = f["labels"][()]
            kinds = np.asarray(f["kinds"].asstr()[()], dtype=object)
            names = tuple(f["class_names"].asstr()[()])
            params = {k: v[()] for k, v in f["params"].items()}
            attrs = json.loads(f.attrs.get("settings", "{}"))
        except KeyError as exc:
            raise LayoutError(f"{path}: ground-truth dataset missing ({exc})") from None
    if not len(events) == len(labels) == len(kinds):
        raise InputError(f"{path}: events, labels and kinds differ in length")
    return Truth(events, labels, kinds, names, params, attrs)
