"""The label file of earlier releases (HDF5, schema ``psocake-labeler/labels`` version 1).

The whole file was rewritten on every save, so saving grew with the log. It is read here,
checked, and converted into a store by :func:`psocake_labeler.labelfiles.store.open_store`;
:func:`write_v1` is kept so that tests and ``benchmarks/bench_label_store.py`` can make such
files and measure what the old format cost.

Layout: root attrs ``schema``, ``schema_version``, ``events_hash``, ``n_rows``;
``/classes/{name,id,colour,history_id,history_name}`` (attr ``next_id``); ``/events/{source_list,
source,run,event}``; ``/log/actions/{kind,user,time,ref,detail}``;
``/log/entries/{action,row,class_id,prev_id}`` (+ readable copies); ``/labels``;
``/predictions/{predicted,confidence,scores}`` (attrs ``propagated_at``, ``method``,
``auto_propagate``).
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from ..errors import LayoutError, NotHDF5Error
from ..io.atomic import atomic_h5
from ..io.events import make_event_table
from ..io.h5files import attr_str, check_file, first_line
from ..io.schema import SCHEMA_LABELS as SCHEMA
from ..labelling.classes import ClassList
from ..labelling.log import actions_from_flat
from ..labelling.state import LabelData
from .checks import check_log, check_version, replay

_STR = h5py.string_dtype("utf-8")


def read_v1(path: str | os.PathLike) -> LabelData:
    """Read and check a version-1 HDF5 label file.

    Raises MissingFileError, NotHDF5Error, or LayoutError naming the file and dataset.
    """
    p = Path(path)
    with open_label_h5(p) as f:
        schema = attr_str(f, "schema")
        if schema != SCHEMA:
            raise LayoutError(f"{p}: not a psocake-labeler label file (schema {schema!r}, "
                              f"expected {SCHEMA!r}); Psocake's *_labels.h5 files are read "
                              "with session.import_labels or merge")
        check_version(p, f.attrs.get("schema_version"), "root attribute")
        try:
            return _read_groups(f, p)
        except (KeyError, ValueError, TypeError) as exc:
            raise LayoutError(f"{p}: damaged label file ({first_line(exc)}); restore it "
                              "from a copy or start a new session") from None


def _read_groups(f: h5py.File, p: Path) -> LabelData:
    cg = f["classes"]
    classes = ClassList(list(cg["name"].asstr()[()]), list(cg["colour"].asstr()[()]),
                        [int(i) for i in cg["id"][()]], int(cg.attrs["next_id"]))
    history = dict(zip((int(i) for i in cg["history_id"][()]),
                       cg["history_name"].asstr()[()]))
    history.update(zip(classes.ids, classes.names))
    g = f["events"]
    names = np.array(list(g["source_list"].asstr()[()]), dtype=object)
    events = make_event_table(names[g["source"][()]] if len(names) else [], g["run"][()],
                              g["event"][()])
    ag, eg = f["log/actions"], f["log/entries"]
    kinds = list(ag["kind"].asstr()[()])
    cols = [eg[k][()] for k in ("action", "row", "class_id", "prev_id")]
    check_log(p, "group 'log'", kinds, *cols, len(events), history)
    acts = actions_from_flat(0, kinds, list(ag["user"].asstr()[()]), ag["time"][()],
                             ag["ref"][()], list(ag["detail"].asstr()[()]), *cols)
    log = replay(p, "group 'log/actions'", len(events), acts)
    pg = f["predictions"]
    data = LabelData(classes, log, events, attr_str(f, "events_hash"), history,
                     propagated_at=int(pg.attrs["propagated_at"]),
                     method=attr_str(pg, "method"),
                     auto_propagate=bool(pg.attrs["auto_propagate"]))
    pred, conf = pg["predicted"][()], pg["confidence"][()]
    if pred.shape == (len(events),) and pg["scores"].shape == (len(events), len(classes)):
        if ((pred < -1) | (pred >= len(classes))).any() or \
                not np.all((conf >= 0) & (conf <= 1)):
            raise LayoutError(f"{p}: group 'predictions': predictions outside the "
                              f"{len(classes)} classes or confidences outside [0, 1]")
        data.predicted, data.confidence = pred.astype(np.int64), conf.astype(np.float64)
        data.scores = pg["scores"][()].astype(np.float64)
    return data


def write_v1(path: str | os.PathLike, data: LabelData) -> None:
    """Write ``data`` in the version-1 layout (whole file, atomically), as releases before
    the store did on every save."""
    ev, flat, acts = data.events, data.log.flat(), data.log.actions
    with atomic_h5(path, SCHEMA, 1) as f:
        f.attrs["events_hash"] = data.events_hash
        f.attrs["n_rows"] = len(ev)
        cg = f.create_group("classes")
        _strings(cg, "name", data.classes.names)
        cg.create_dataset("id", data=np.array(data.classes.ids, dtype=np.int64))
        _strings(cg, "colour", data.classes.colours)
        cg.attrs["next_id"] = data.classes.next_id
        hist = sorted(data.class_history.items())
        cg.create_dataset("history_id", data=np.array([h[0] for h in hist], dtype=np.int64))
        _strings(cg, "history_name", [h[1] for h in hist])
        names, index = np.unique(np.asarray(ev["source"], dtype=str), return_inverse=True)
        g = f.create_group("events")
        _strings(g, "source_list", list(names))
        g.create_dataset("source", data=index.astype(np.int32))
        g.create_dataset("run", data=np.asarray(ev["run"], dtype=np.int32))
        g.create_dataset("event", data=np.asarray(ev["event"], dtype=np.int64))
        ag = f.create_group("log/actions")
        _strings(ag, "kind", [a.kind for a in acts])
        _strings(ag, "user", [a.user for a in acts])
        ag.create_dataset("time", data=np.array([a.time for a in acts], dtype=np.float64))
        ag.create_dataset("ref", data=np.array([a.ref for a in acts], dtype=np.int64))
        _strings(ag, "detail", [a.detail for a in acts])
        eg = f.create_group("log/entries")
        for key in ("action", "row", "class_id", "prev_id"):
            eg.create_dataset(key, data=flat[key])
        _readable_entries(eg, data, flat)
        f.create_dataset("labels", data=data.user_index())
        pg = f.create_group("predictions")
        pg.create_dataset("predicted", data=np.asarray(data.predicted, dtype=np.int64))
        pg.create_dataset("confidence", data=np.asarray(data.confidence, dtype=np.float64))
        pg.create_dataset("scores", data=np.asarray(data.scores, dtype=np.float64))
        pg.attrs["propagated_at"] = int(data.propagated_at)
        pg.attrs["method"] = data.method
        pg.attrs["auto_propagate"] = bool(data.auto_propagate)


def open_label_h5(path, what: str = "label file") -> h5py.File:
    """``path`` opened read-only; each way it can be unusable is one clear error."""
    p = check_file(path, what)
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise NotHDF5Error(f"{p}: not a readable HDF5 file ({first_line(exc)}); it is "
                           f"probably truncated: restore the {what} from a copy") from None


def _readable_entries(eg: h5py.Group, data: LabelData, flat: dict) -> None:
    # copies that let the log be read without replaying it (part of the version-1 cost)
    ev, rows, acts = data.events, flat["row"], data.log.actions
    eg.create_dataset("run", data=np.asarray(ev["run"][rows], dtype=np.int32))
    eg.create_dataset("event", data=np.asarray(ev["event"][rows], dtype=np.int64))
    _strings(eg, "source", np.asarray(ev["source"][rows], dtype=object))
    _strings(eg, "class_name", [data.class_history.get(int(c), "") if c >= 0 else ""
                                for c in flat["class_id"]])
    _strings(eg, "user", [acts[i].user for i in flat["action"]])
    eg.create_dataset("time", data=np.array([acts[i].time for i in flat["action"]],
                                            dtype=np.float64))


def _strings(g: h5py.Group, name: str, values) -> None:
    g.create_dataset(name, data=np.array(list(values), dtype=object), dtype=_STR)
