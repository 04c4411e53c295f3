"""How a labelling session reaches its label store: changes as transactions, saving, other
writers' actions, full disks, reopening."""
from __future__ import annotations

import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import InputError, ManifoldMismatchError, WriteError
from ..labelfiles.merge import Conflict
from ..labelfiles.store import file_format, open_store, read_label_file, write_label_file
from .autosave import Autosave
from .change import Change
from .state import LabelData


class StoreSaving:
    """The store methods of :class:`~psocake_labeler.labelling.session.LabelSession`.

    Every change runs through :meth:`_change`: one store transaction that first takes in
    what other writers appended, so two sessions on one store never lose each other's labels.
    """

    @classmethod
    def load(cls, path: str | os.PathLike, manifold, user: str | None = None):
        """Reopen a label store on its manifold; ManifoldMismatchError if it is another's.

        A label file of an earlier release (HDF5) is converted into a store, the old file
        kept as ``<name>.v1-backup``; temporary files crashed writers left are deleted.
        """
        if file_format(path) != "sqlite":
            check_manifold(path, read_label_file(path), manifold)    # before converting
        open_store(path)
        save = Autosave.open(Path(path))
        check_manifold(path, save.data, manifold)
        s = cls(manifold, path=None, user=user, _data=save.data)
        s.path, s._save = Path(path), save
        if save.data.auto_propagate and len(s.labelled_rows()) and save.data.propagated_at < 0:
            s._propagate_now()
        return s

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Save what the store lacks; with another ``path``, write a copy of the labels there.

        WriteError (one line: the file, the space needed, nothing lost) when the store
        cannot be written; the labels stay in memory.
        """
        if path is not None and (self.path is None or Path(path) != self.path):
            write_label_file(path, self._d)
            return Path(path)
        if self.path is None:
            raise InputError("this session has no label file: give save() a path")
        if self._save is None:     # a path given after the session was made: a new store
            self._save = Autosave.create(self.path, self._d)
        if not self.flush():
            raise WriteError(self.save_error)
        return self.path

    def flush(self) -> bool:
        """Write what memory holds and the store lacks, read what other writers appended;
        True when the store holds everything (also when the session has no store)."""
        return self._sync(self._save.flush) if self._save is not None else True

    def refresh(self) -> int:
        """Read the actions other writers appended to the store; returns how many."""
        return self._sync(self._save.refresh) if self._save is not None else 0

    @property
    def ahead(self) -> bool:
        """True while this session holds changes its label store lacks (a full disk)."""
        return self._save is not None and self._save.ahead

    @property
    def predictions_every(self) -> float:
        """Seconds the label store's predictions may lag behind memory after a change
        (default 0: written with every change; ``math.inf``: only by ``flush()``). The labels
        themselves are always saved before the call returns; ``flush()`` writes the
        predictions whenever they lag. The dock sets ``math.inf``: at 10^6 events the
        predictions are 40 MB a write (about a second), and its store watch flushes them
        while the user pauses (every 5 s when the session is idle)."""
        return self._save.predictions_every if self._save is not None else 0.0

    @predictions_every.setter
    def predictions_every(self, seconds: float) -> None:
        if self._save is not None:
            self._save.predictions_every = float(seconds)

    @contextmanager
    def predictions_deferred(self) -> Iterator[None]:
        """Within the block, changes save the labels but not the predictions; the next
        ``flush()`` or ``save()`` writes the predictions once (several steps that each
        change them, e.g. propagate then calibrate, cost one 40 MB write at 10^6 events)."""
        every = self.predictions_every
        self.predictions_every = math.inf
        try:
            yield
        finally:
            self.predictions_every = every

    @property
    def save_error(self) -> str:
        """Why the last save failed, in one line; "" once saving works."""
        return self._save.error if self._save is not None else ""

    def conflicts(self) -> list[Conflict]:
        """Events two users labelled differently without seeing each other's label (two
        writers at once); the later label is current, both stay in the log."""
        ev, acts, names = self._d.events, self._d.log.actions, self._d.class_history
        out = []
        for row, first, later in self._d.log.conflicts():
            cls = [int(a.class_ids[np.flatnonzero(a.rows == row)[-1]])
                   for a in (acts[first], acts[later])]
            out.append(Conflict(int(ev["run"][row]), int(ev["event"][row]),
                                (acts[first].user, acts[later].user),
                                tuple(names.get(c, "") if c >= 0 else "" for c in cls),
                                (str(self.path),) * 2))
        return out

    # -- internals -------------------------------------------------------------------------
    def _change(self, record: Callable[[int], object], always: bool = False) -> bool:
        """Run ``record(base)`` inside a store transaction (Autosave.change); then
        re-propagate and notify when it recorded an action or others' actions came in."""
        n_before = len(self._d.log.actions)
        if self._save is None:
            action, pulled = record(-1), 0
        else:
            action, pulled = self._save.change(record)
        if action is None and not pulled and not always:
            return False
        kind = action.kind if action is not None else ("refresh" if pulled else "colour")
        self._after_change(n_before, kind)
        return action is not None

    def _sync(self, call: Callable[[], object]):
        n_before, pulled = len(self._d.log.actions), self._save.pulled
        result = call()
        if self._save.pulled != pulled:
            self._after_change(n_before, "refresh")
        return result

    def _after_change(self, n_before: int, kind: str) -> None:
        d = self._d
        reset = d.scores.shape[1] != len(d.classes)
        if reset:
            self._reset_predictions()       # a class was added or removed (maybe by another)
        if d.auto_propagate:
            self._propagate_now()
        acts = d.log.actions[n_before:]
        rows = (np.unique(np.concatenate([a.rows for a in acts])) if acts
                else np.zeros(0, dtype=np.int64))
        classes = kind == "colour" or any(a.kind in ("classes", "note") for a in acts)
        self._saved_and_notify(Change(kind, rows, predictions=d.auto_propagate or reset,
                                      classes=classes))

    def _saved_and_notify(self, change: Change) -> None:
        # The listeners first: the labels are in the store already (the change's own
        # transaction); what is left is the predictions (at 10^6 events 40 MB), and a GUI
        # redraws while they are written instead of after.
        for cb in list(self._listeners):
            cb(change)
        if self._save is not None and self._save.ahead:
            self._sync(self._save.flush)    # the predictions; a failure stays in save_error
        # the spares the next click will write into, mapped now rather than in that click
        self._buffers.top_up()


def check_manifold(path, data: LabelData, manifold) -> None:
    """ManifoldMismatchError unless ``data`` was made for ``manifold``."""
    want, n = manifold.events_hash(), len(manifold.events)
    if not data.events_hash:
        raise ManifoldMismatchError(
            f"{path}: a merged label file tied to no manifold; start a session on your "
            f"manifold and call import_labels({str(path)!r}) to take its labels")
    if data.events_hash != want or len(data.events) != n:
        raise ManifoldMismatchError(
            f"{path}: these labels belong to another manifold ({len(data.events)} events, "
            f"hash {data.events_hash[:12]}) than the one given ({n} events, hash "
            f"{want[:12]}); open it with its own manifold, or start a new session and "
            f"use import_labels({str(path)!r}) to copy the labels of shared events")
