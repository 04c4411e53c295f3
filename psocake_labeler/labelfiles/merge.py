"""Merge several users' label files into one, reporting every disagreement.

Events are matched by ``(run, event)``. An event that users label differently is a
*conflict*: it is listed with the users and their labels and left unlabelled in the merged
file, never silently decided. Inputs may be our label files or Psocake's older
``<exp>_%04d_labels.h5`` / ``<exp>_%04d.label.json`` files.
"""
from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError, LayoutError, MissingFileError
from ..io.events import make_event_table
from ..io.h5files import attr_str
from ..io.schema import CONFLICT_FIELDS
from ..labelling.classes import DEFAULT_CLASSES, ClassList
from ..labelling.log import ActionLog
from ..labelling.state import LabelData
from .psocake import parse_run_name, read_psocake_h5, read_psocake_json
from .store import SCHEMA as LABELS_SCHEMA
from .store import file_format, read_label_file, write_label_file
from .store_v1 import open_label_h5

Key = tuple[int, int]   # (run, event)


@dataclass
class LabelSet:
    """The labels of one file: current ``{(run, event): (class name, user)}`` and history."""

    path: str
    labels: dict[Key, tuple[str, str]]
    history: list[tuple[float, str, Key, str]]       # (time, user, key, class name or "")
    sources: dict[Key, str] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    events_hash: str = ""
    events: np.ndarray | None = None


@dataclass
class Conflict:
    """One event labelled differently: the users, their labels and files, in input order."""

    run: int
    event: int
    users: tuple[str, ...]
    labels: tuple[str, ...]
    files: tuple[str, ...]


@dataclass
class MergeResult:
    """Agreed labels, conflicts, and enough history to write a merged label file."""

    labels: dict[Key, str]
    conflicts: list[Conflict]
    sets: list[LabelSet]
    classes: list[str]

    def report(self) -> str:
        """The conflicts as CSV text: run, event, users, labels (``;``-separated)."""
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(CONFLICT_FIELDS)
        for c in self.conflicts:
            w.writerow([c.run, c.event, ";".join(c.users), ";".join(c.labels),
                        ";".join(c.files)])
        return out.getvalue()

    def summary(self) -> str:
        """One line: how many events agree and how many conflict."""
        return (f"{len(self.sets)} files: {len(self.labels)} labelled events agree, "
                f"{len(self.conflicts)} conflict (left unlabelled, see the report)")

    def to_data(self, user: str = "merge") -> LabelData:
        """A :class:`LabelData` whose log replays every input, then sets the merged state."""
        same = [s for s in self.sets if s.events is not None]
        if same and len(same) == len(self.sets) and len({s.events_hash for s in same}) == 1:
            events, ehash = same[0].events, same[0].events_hash   # still tied to its manifold
        else:
            keys: dict[Key, str] = {}
            for s in self.sets:
                for k in list(s.sources) + list(s.labels):
                    if not keys.get(k):
                        keys[k] = s.sources.get(k, "")
            ks = list(keys)
            events = make_event_table([keys[k] for k in ks], [k[0] for k in ks],
                                      [k[1] for k in ks])
            ehash = ""   # a union of events belongs to no manifold: import it into a session
        row = {(int(r), int(e)): i for i, (r, e) in
               reversed(list(enumerate(zip(events["run"], events["event"]))))}
        classes = ClassList(self.classes)
        log = ActionLog(len(events))
        history = sorted((h for s in self.sets for h in s.history), key=lambda h: h[0])
        # one replayed action per (time, user) run of entries: an input action stays one
        i = 0
        while i < len(history):
            j = i
            while j < len(history) and history[j][:2] == history[i][:2]:
                j += 1
            chunk = [h for h in history[i:j] if h[2] in row]
            if chunk:
                ids = [classes.id_of(h[3]) if h[3] in classes.names else -1 for h in chunk]
                log.record("merge", history[i][1], [row[h[2]] for h in chunk],
                           np.asarray(ids, np.int64), detail="replayed", when=history[i][0])
            i = j
        keys = [k for k in row]
        target = [classes.id_of(self.labels[k]) if k in self.labels else -1 for k in keys]
        log.record("merge", user, [row[k] for k in keys], np.asarray(target, np.int64),
                   detail=f"merged {len(self.sets)} files, {len(self.conflicts)} conflicts "
                          f"left unlabelled", when=time.time())
        return LabelData(classes, log, events, ehash)

    def write(self, path: str | os.PathLike, user: str = "merge") -> Path:
        """Write the merged label file atomically."""
        write_label_file(path, self.to_data(user))
        return Path(path)


def read_label_set(path: str | os.PathLike, run: int | None = None,
                   class_names: Sequence[str] = DEFAULT_CLASSES,
                   user: str | None = None) -> LabelSet:
    """Read any label file (ours, Psocake's h5 or json) as a :class:`LabelSet`.

    Psocake's files carry no user name: ``user`` defaults to the file name. Their run
    comes from the file name (``<exp>_%04d...``) unless ``run`` is given; the h5 format's
    class k is ``class_names[k - 1]``.
    """
    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{p}: no such label file")
    if not p.name.endswith(".json") and file_format(p) == "sqlite":
        return _our_set(p)        # a store: read_label_file says it if it is not ours
    if not p.name.endswith(".json"):
        with open_label_h5(p) as f:   # a clear error for folders, empty, truncated, not HDF5
            ours = attr_str(f, "schema") == LABELS_SCHEMA
            if not ours and "labels" not in f:
                raise LayoutError(f"{p}: is not a label file (neither ours, schema "
                                  f"{LABELS_SCHEMA!r}, nor Psocake's *_labels.h5 with a "
                                  f"'labels' dataset); give label files only")
        if ours:
            return _our_set(p)
    if run is None:
        parsed = parse_run_name(p)
        if parsed is None:
            raise InputError(f"{p}: cannot tell the run from the file name; rename it "
                             f"<exp>_%04d_labels.h5 or <exp>_%04d.label.json as Psocake "
                             f"does (from Python: pass run=)")
        run = parsed[1]
    who = user or p.name
    when = p.stat().st_mtime if p.exists() else time.time()
    if p.name.endswith(".json"):
        raw = read_psocake_json(p)
    else:
        labels, _prop = read_psocake_h5(p)
        # codes past the known classes are kept as "class k" up to Psocake's usual 9
        known = max(len(class_names), 9)
        if len(labels) and labels.max() > known:
            ev = int(np.argmax(labels > known))
            raise LayoutError(f"{p}: dataset /labels holds class code {int(labels[ev])} at "
                              f"event {ev}, but {len(class_names)} classes are known "
                              f"({', '.join(class_names)}); give the class names in order")
        raw = {}
        for ev in np.flatnonzero(labels > 0):
            k = int(labels[ev])
            raw[int(ev)] = class_names[k - 1] if k <= len(class_names) else f"class {k}"
    cur = {(int(run), e): (name, who) for e, name in raw.items()}
    hist = [(when, who, k, v[0]) for k, v in cur.items()]
    names = list(dict.fromkeys(v[0] for v in cur.values()))
    return LabelSet(str(p), cur, hist, classes=names)


def merge_labels(files: Sequence[str | os.PathLike], users: Sequence[str] | None = None,
                 class_names: Sequence[str] = DEFAULT_CLASSES) -> MergeResult:
    """Merge label files; conflicting events are reported and left unlabelled.

    Parameters
    ----------
    files : sequence of paths
        Our label files and/or Psocake's ``*_labels.h5`` / ``*.label.json``.
    users : sequence of str, optional
        Names for Psocake files, which carry none (default: the file names).
    class_names : sequence of str
        Class names of Psocake's 1-based h5 codes.
    """
    if not files:
        raise InputError("merge needs at least one label file")
    sets = [read_label_set(f, class_names=class_names,
                           user=users[i] if users is not None else None)
            for i, f in enumerate(files)]
    classes: list[str] = []
    for s in sets:
        classes += [c for c in s.classes if c not in classes]
    by_key: dict[Key, list[tuple[str, str, str]]] = {}
    for s in sets:
        for k, (name, user) in s.labels.items():
            by_key.setdefault(k, []).append((user, name, s.path))
    agreed: dict[Key, str] = {}
    conflicts = []
    for k in sorted(by_key):
        votes = by_key[k]
        if len({v[1] for v in votes}) == 1:
            agreed[k] = votes[0][1]
        else:
            conflicts.append(Conflict(k[0], k[1], tuple(v[0] for v in votes),
                                      tuple(v[1] for v in votes), tuple(v[2] for v in votes)))
    return MergeResult(agreed, conflicts, sets, classes or list(class_names))


def _our_set(p: Path) -> LabelSet:
    d = read_label_file(p)
    ev = d.events
    keys = [(int(r), int(e)) for r, e in zip(ev["run"], ev["event"])]
    names = {cid: d.class_history.get(cid, f"class {cid}") for cid in
             set(d.class_history) | set(d.classes.ids)}
    last = d.log.last_user()
    cur = {}
    for row in d.log.labelled_rows():
        user = d.log.actions[last[row]].user
        cur[keys[row]] = (names[int(d.log.labels[row])], user)
    hist = []
    for a in d.log.actions:
        for r, c in zip(a.rows, a.class_ids):
            hist.append((a.time, a.user, keys[r], names.get(int(c), "") if c >= 0 else ""))
    sources = {k: str(s) for k, s in zip(keys, ev["source"])}
    return LabelSet(str(p), cur, hist, sources, d.classes.names, d.events_hash, ev)
