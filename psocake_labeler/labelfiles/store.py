"""Our label file (schema ``psocake-labeler/labels``).

Ours is an HDF5 file written atomically (see docs/labels.md for the layout). It keeps the
whole action log, so it can be merged with other users' files; the current labels,
predictions and confidences are stored beside it for readers that do not replay the log.
"""
from __future__ import annotations

import os

import h5py
import numpy as np

from ..errors import LayoutError, NotHDF5Error
from ..io.atomic import atomic_h5
from ..io.events import make_event_table
from ..io.h5files import attr_str
from ..io.schema import SCHEMA_LABELS as SCHEMA
from ..labelling.classes import ClassList
from ..labelling.log import ActionLog
from ..labelling.state import LabelData

VERSION = 1
_STR = h5py.string_dtype("utf-8")


# -- our format ---------------------------------------------------------------------------
def write_label_file(path: str | os.PathLike, data: LabelData) -> None:
    """Write ``data`` to ``path`` atomically (a crash leaves the previous file intact)."""
    ev = data.events
    flat = data.log.flat()
    acts = data.log.actions
    with atomic_h5(path, SCHEMA, VERSION) as f:
        f.attrs["events_hash"] = data.events_hash
        f.attrs["n_rows"] = len(ev)
        cg = f.create_group("classes")
        cg.create_dataset("name", data=np.array(data.classes.names, dtype=object), dtype=_STR)
        cg.create_dataset("id", data=np.array(data.classes.ids, dtype=np.int64))
        cg.create_dataset("colour", data=np.array(data.classes.colours, dtype=object),
                          dtype=_STR)
        cg.attrs["next_id"] = data.classes.next_id
        hist = sorted(data.class_history.items())
        cg.create_dataset("history_id", data=np.array([h[0] for h in hist], dtype=np.int64))
        cg.create_dataset("history_name", data=np.array([h[1] for h in hist], dtype=object),
                          dtype=_STR)
        _write_events(f.create_group("events"), data)
        lg = f.create_group("log")
        ag = lg.create_group("actions")
        ag.create_dataset("kind", data=np.array([a.kind for a in acts], dtype=object), dtype=_STR)
        ag.create_dataset("user", data=np.array([a.user for a in acts], dtype=object), dtype=_STR)
        ag.create_dataset("time", data=np.array([a.time for a in acts], dtype=np.float64))
        ag.create_dataset("ref", data=np.array([a.ref for a in acts], dtype=np.int64))
        ag.create_dataset("detail", data=np.array([a.detail for a in acts], dtype=object),
                          dtype=_STR)
        eg = lg.create_group("entries")
        rows = flat["row"]
        for key in ("action", "row", "class_id", "prev_id"):
            eg.create_dataset(key, data=flat[key])
        # Readable copies so that the log is understood without replaying it.
        eg.create_dataset("run", data=np.asarray(ev["run"][rows], dtype=np.int32))
        eg.create_dataset("event", data=np.asarray(ev["event"][rows], dtype=np.int64))
        eg.create_dataset("source", data=np.asarray(ev["source"][rows], dtype=object),
                          dtype=_STR)
        names = np.array([data.class_history.get(int(c), "") if c >= 0 else ""
                          for c in flat["class_id"]], dtype=object)
        eg.create_dataset("class_name", data=names, dtype=_STR)
        a_of = flat["action"]
        eg.create_dataset("user", data=np.array([acts[i].user for i in a_of], dtype=object),
                          dtype=_STR)
        eg.create_dataset("time", data=np.array([acts[i].time for i in a_of], dtype=np.float64))
        f.create_dataset("labels", data=data.user_index())
        pg = f.create_group("predictions")
        pg.create_dataset("predicted", data=np.asarray(data.predicted, dtype=np.int64))
        pg.create_dataset("confidence", data=np.asarray(data.confidence, dtype=np.float64))
        pg.create_dataset("scores", data=np.asarray(data.scores, dtype=np.float64))
        pg.attrs["propagated_at"] = int(data.propagated_at)
        pg.attrs["method"] = data.method
        pg.attrs["auto_propagate"] = bool(data.auto_propagate)


def read_label_file(path: str | os.PathLike) -> LabelData:
    """Read a label file written by :func:`write_label_file`.

    Raises MissingFileError, NotHDF5Error, or LayoutError naming the file and what is wrong.
    """
    f = open_label_h5(path)
    with f:
        schema = attr_str(f, "schema")
        if schema != SCHEMA:
            raise LayoutError(f"{path}: not a psocake-labeler label file (schema {schema!r}, "
                              f"expected {SCHEMA!r}); Psocake's *_labels.h5 files are read "
                              f"with read_psocake_h5 / session.import_labels")
        try:
            cg = f["classes"]
            classes = ClassList(list(cg["name"].asstr()[()]), list(cg["colour"].asstr()[()]),
                                list(cg["id"][()]), int(cg.attrs["next_id"]))
            history = dict(zip((int(i) for i in cg["history_id"][()]),
                               cg["history_name"].asstr()[()]))
            events = _read_events(f["events"])
            ag, eg = f["log/actions"], f["log/entries"]
            log = ActionLog.from_flat(
                len(events), list(ag["kind"].asstr()[()]), list(ag["user"].asstr()[()]),
                ag["time"][()], ag["ref"][()], list(ag["detail"].asstr()[()]),
                eg["action"][()], eg["row"][()], eg["class_id"][()], eg["prev_id"][()])
            pg = f["predictions"]
            data = LabelData(classes, log, events, attr_str(f, "events_hash"),
                             {**history}, pg["predicted"][()], pg["confidence"][()],
                             pg["scores"][()], int(pg.attrs["propagated_at"]),
                             attr_str(pg, "method"), bool(pg.attrs["auto_propagate"]))
        except (KeyError, ValueError) as exc:
            raise LayoutError(f"{path}: damaged label file ({exc}); restore it from a copy "
                              f"or start a new session") from exc
    return data


def _write_events(g: h5py.Group, data: LabelData) -> None:
    # source files as indices into a list of distinct paths: a run has one source for
    # 10^5 events, and 10^5 variable-length strings make every autosave slow. The
    # encoding is cached on ``data`` since a session's events never change.
    ev = data.events
    cached = getattr(data, "_events_enc", None)
    if cached is None or cached[0] is not ev:
        names, index = np.unique(np.asarray(ev["source"], dtype=str), return_inverse=True)
        cached = (ev, names, index)
        data._events_enc = cached
    names, index = cached[1], cached[2]
    g.create_dataset("source_list", data=np.array(names, dtype=object), dtype=_STR)
    g.create_dataset("source", data=index.astype(np.int32))
    g.create_dataset("run", data=np.asarray(ev["run"], dtype=np.int32))
    g.create_dataset("event", data=np.asarray(ev["event"], dtype=np.int64))


def _read_events(g: h5py.Group) -> np.ndarray:
    names = np.array(list(g["source_list"].asstr()[()]), dtype=object)
    return make_event_table(names[g["source"][()]] if len(names) else [], g["run"][()],
                            g["event"][()])


def open_label_h5(path, what: str = "label file") -> h5py.File:
    """``path`` opened read-only; each way it can be unusable is one clear error."""
    from ..io.h5files import check_file, first_line  # missing, folder, empty, not HDF5

    p = check_file(path, what)
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise NotHDF5Error(f"{p}: not a readable HDF5 file ({first_line(exc)}); it is "
                           f"probably truncated: restore the {what} from a copy") from None
