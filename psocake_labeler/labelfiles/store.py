"""Label files: ours (schema ``psocake-labeler/labels``) and Psocake's older formats.

Ours is an HDF5 file written atomically (see docs/labels.md for the layout). It keeps the
whole action log, so it can be merged with other users' files; the current labels,
predictions and confidences are stored beside it for readers that do not replay the log.

Psocake's formats, one file per run: ``<exp>_%04d_labels.h5`` with datasets ``labels`` and
``propLabels`` of shape (events in run, 1), 0 = no label, k = k-th class (1-based); and
``<exp>_%04d.label.json`` mapping ``"<event>"`` to a class name.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError, LayoutError, MissingFileError, NotHDF5Error
from ..io.atomic import atomic_h5, atomic_write_text
from ..io.events import make_event_table
from ..io.schema import SCHEMA_LABELS as SCHEMA
from ..io.schema import SCHEMA_PSOCAKE_LABELS as PSOCAKE_H5_SCHEMA
from ..labelling.classes import ClassList
from ..labelling.log import ActionLog

VERSION = 1
_STR = h5py.string_dtype("utf-8")
_RUN_NAME = re.compile(r"^(?P<exp>.+?)_(?P<run>\d{4})(?:_|\.|$)")


@dataclass
class LabelData:
    """Everything a label file holds, independent of any manifold object.

    ``log.labels`` holds class *ids*; :meth:`user_index` converts them to positions in
    ``classes``. ``predicted`` is -1 where nothing was propagated.
    """

    classes: ClassList
    log: ActionLog
    events: np.ndarray
    events_hash: str = ""
    class_history: dict[int, str] = field(default_factory=dict)
    predicted: np.ndarray | None = None
    confidence: np.ndarray | None = None
    scores: np.ndarray | None = None
    propagated_at: int = -1      # number of actions in the log when propagated
    method: str = ""
    auto_propagate: bool = False

    def __post_init__(self) -> None:
        n = len(self.events)
        if self.predicted is None:
            self.predicted = np.full(n, -1, dtype=np.int64)
        if self.confidence is None:
            self.confidence = np.zeros(n, dtype=np.float64)
        if self.scores is None:
            self.scores = np.zeros((n, len(self.classes)), dtype=np.float64)
        for cid, name in zip(self.classes.ids, self.classes.names):
            self.class_history[cid] = name

    def user_index(self) -> np.ndarray:
        """(N,) class position of each row's user label, -1 when unlabelled."""
        lut = {cid: i for i, cid in enumerate(self.classes.ids)}
        out = np.full(len(self.events), -1, dtype=np.int64)
        for cid, i in lut.items():
            out[self.log.labels == cid] = i
        return out

    def final(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Label index, source ("user", "propagated" or "") and confidence of every row.

        A user label always wins over a prediction for its own event (confidence 1).
        """
        user = self.user_index()
        label = np.where(user >= 0, user, self.predicted).astype(np.int64)
        source = np.where(user >= 0, "user", np.where(self.predicted >= 0, "propagated", ""))
        conf = np.where(user >= 0, 1.0, np.where(self.predicted >= 0, self.confidence, 0.0))
        return label, source.astype(object), conf.astype(np.float64)


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
    f = _open_h5(path)
    with f:
        schema = _attr_str(f, "schema")
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
            data = LabelData(classes, log, events, _attr_str(f, "events_hash"),
                             {**history}, pg["predicted"][()], pg["confidence"][()],
                             pg["scores"][()], int(pg.attrs["propagated_at"]),
                             _attr_str(pg, "method"), bool(pg.attrs["auto_propagate"]))
        except (KeyError, ValueError) as exc:
            raise LayoutError(f"{path}: damaged label file ({exc}); restore it from a copy "
                              f"or start a new session") from exc
    return data


# -- Psocake's formats --------------------------------------------------------------------
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
    with atomic_h5(path, PSOCAKE_H5_SCHEMA, 1) as f:
        f.create_dataset("labels", data=labels)
        f.create_dataset("propLabels", data=prop)


def read_psocake_h5(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read Psocake's ``labels`` and ``propLabels`` as flat int arrays (1-based, 0 = none)."""
    with _open_h5(path) as f:
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
            if "entry_1/result_1/nHitsAll" in f:
                return max(n, int(f["entry_1/result_1/nHitsAll"].shape[0]))
    except (OSError, TypeError):
        pass  # source not reachable here: the largest hit event is the best we know
    return n


def is_our_label_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is an HDF5 file with our schema."""
    try:
        with h5py.File(path, "r") as f:
            return _attr_str(f, "schema") == SCHEMA
    except OSError:
        return False


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


def _open_h5(path, what: str = "label file") -> h5py.File:
    from ..io.h5files import check_file, first_line  # missing, folder, empty, not HDF5

    p = check_file(path, what)
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise NotHDF5Error(f"{p}: not a readable HDF5 file ({first_line(exc)}); it is "
                           f"probably truncated: restore the {what} from a copy") from None


def _attr_str(obj, name: str) -> str:
    v = obj.attrs.get(name, "")
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)
