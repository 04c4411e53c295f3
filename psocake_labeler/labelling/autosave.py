"""Keep a session's labels and its label store in step, with other writers and full disks.

Every change is one transaction on the store: take the write lock, read the actions other
writers appended since (so that this session sees and continues the union), record the
change, append it, commit. The log in memory and in the store are then the same sequence
for every writer.

When a write fails (disk full, file system gone, lock held too long) nothing is lost: the
actions stay in memory, :attr:`Autosave.error` says in one line which file, how much space
is needed and that nothing was lost, and every later change (or :meth:`Autosave.flush`)
tries again. If another writer appended meanwhile, the unsaved actions are recorded again
after theirs (a rebase), so both are kept.

Predictions are derived data (a reader whose store lacks current ones propagates again), and
at 10^6 events they are 40 MB: with :attr:`Autosave.predictions_every` > 0 a change writes
them at most that often (the labels themselves always at once); :meth:`Autosave.flush`
writes them whenever they are behind.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Callable

from ..errors import InputError, WriteError
from ..io.atomic import free_space, human_size
from ..io.schema import SCHEMA_LABELS as SCHEMA
from ..labelfiles import store_db as store
from ..labelfiles.store import create_store
from .log import Action, ActionLog
from .state import LabelData

WRITE_ERRORS = (OSError, sqlite3.Error, WriteError)


class Autosave:
    """The link between one :class:`LabelData` in memory and its store at ``path``."""

    def __init__(self, path: Path, data: LabelData) -> None:
        self.path = Path(path)
        self.data = data
        self.saved = 0            # actions of data.log that the store holds
        self.error = ""           # one line while the store is behind memory
        self.exists = False
        self.pulled = 0           # actions read from other writers so far
        self.replace = False      # a store not created yet replaces what is at path
        self._con: sqlite3.Connection | None = None
        self._classes_version = 0
        self._written: tuple = (None, None)    # (classes snapshot, predictions) in the store
        #: Seconds the store's predictions may lag behind memory after a change (0: none).
        self.predictions_every = 0.0
        self._predictions_at = time.monotonic()  # when predictions were last written

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, data: LabelData, replace: bool = False) -> Autosave:
        """A new store at ``path`` holding ``data``; a full disk leaves it to :meth:`flush`."""
        if Path(path).exists() and not replace:    # before any space check
            raise InputError(f"{path}: label file exists; continue it with "
                             "LabelSession.load(path, manifold), or pass overwrite=True")
        a = cls(path, data)
        a.replace = replace
        try:
            a._create(replace)
        except FileExistsError:
            raise InputError(f"{path}: label file exists; continue it with "
                             "LabelSession.load(path, manifold), or pass overwrite=True") from None
        except WRITE_ERRORS as exc:
            a._fail(exc)
        return a

    @classmethod
    def open(cls, path: Path) -> Autosave:
        """Read the store at ``path`` (already converted by ``store.open_store``)."""
        con = store.connect(path)
        try:
            con.execute("BEGIN")          # one consistent snapshot
            data = store.read_open(con, Path(path))
            version = store.classes_version(con)
            con.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            con.close()
            raise InputError(f"{path}: not a readable label store ({exc})") from None
        a = cls(path, data)
        a._con, a.exists, a.saved, a._classes_version = con, True, len(data.log.actions), version
        a._written = (a._classes_snapshot(), a._predictions_ref())
        return a

    # -- state -----------------------------------------------------------------------------
    @property
    def ahead(self) -> bool:
        """True while memory holds changes the store does not."""
        return (not self.exists or self.saved < len(self.data.log.actions)
                or self._written[0] != self._classes_snapshot()
                or self._predictions_due(force=False))

    def _predictions_due(self, force: bool) -> bool:
        """Predictions to write now: behind memory, and (unless ``force``) last written at
        least ``predictions_every`` seconds ago."""
        if self._predictions_written():
            return False
        return force or time.monotonic() - self._predictions_at >= self.predictions_every

    # -- writing ---------------------------------------------------------------------------
    def change(self, record: Callable[[int], object]) -> tuple[object, int]:
        """Pull other writers' actions, call ``record(base)``, append what it recorded.

        ``base`` is the number of store actions the user had seen. Returns ``record``'s
        result and the number of actions pulled. Write errors are kept in :attr:`error`.
        """
        base, pulled, locked = self.saved, 0, False
        if self.exists:
            try:
                self._begin("IMMEDIATE")
                locked = True
                pulled = self._pull()
            except WRITE_ERRORS as exc:
                self._abort(exc)
                locked = False
        try:
            result = record(base)
        except BaseException:
            if locked:
                self._connection().execute("ROLLBACK")   # e.g. a bad class name: no change
            raise
        if locked:
            self._write_and_commit()
        elif not self.exists:
            self.flush()
        return result, pulled

    def flush(self) -> bool:
        """Write whatever memory holds that the store does not; True when all is saved.

        Also reads what other writers appended (see :meth:`refresh`).
        """
        if not self.exists:
            try:
                self._create(self.replace)
            except FileExistsError:
                if not self._join_existing():
                    return False
            except WRITE_ERRORS as exc:
                self._fail(exc)
                return False
        try:
            self._begin("IMMEDIATE" if self.ahead else "DEFERRED")
            self._pull()
        except WRITE_ERRORS as exc:
            self._abort(exc)
            return False
        return self._write_and_commit(force=True)

    def refresh(self) -> int:
        """Read the actions other writers appended (and save what is due); returns how many
        were read."""
        before = self.pulled
        self.flush()
        return self.pulled - before

    # -- internals -------------------------------------------------------------------------
    def _create(self, replace: bool) -> None:
        create_store(self.path, self.data, replace=replace)
        self.exists, self.saved, self.error = True, len(self.data.log.actions), ""
        self._classes_version = 1
        self._written = (self._classes_snapshot(), self._predictions_ref())

    def _join_existing(self) -> bool:
        """Someone created the store while the disk was full: append to it (all of ours are
        then recorded after theirs) if it is this manifold's store; else keep ours."""
        try:
            meta = store.read_meta(self._connection())
        except WRITE_ERRORS:
            meta = {}
        d = self.data
        if (meta.get("schema") != SCHEMA or meta.get("events_hash") != d.events_hash
                or meta.get("n_rows") != str(len(d.events))):
            if self._con is not None:
                self._con.close()
                self._con = None
            self.error = (f"{self.path}: another program created a file there meanwhile, not "
                          "a label store of this manifold; nothing is lost: the labels are "
                          "kept in memory, save them elsewhere with save(path)")
            return False
        self.exists, self.saved, self._classes_version = True, 0, 0
        return True

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            self._con = store.connect(self.path)
        return self._con

    def _begin(self, mode: str) -> None:
        self._connection().execute(f"BEGIN {mode}")

    def _pull(self) -> int:
        con, d = self._connection(), self.data
        version = store.classes_version(con)
        if version > self._classes_version:
            d.classes, history = store.read_classes(con, self.path)
            d.class_history.update(history)
            self._classes_version = version
            self._written = (self._classes_snapshot(), self._written[1])
        n_file = store.count_actions(con)
        if n_file <= self.saved:
            return 0
        new = store.read_actions(con, self.path, self.saved, d.log.n_rows, d.class_history)
        pending = d.log.actions[self.saved:]
        if pending:
            d.log = _rebase(d.log, self.saved, new, pending)
        else:
            for a in new:
                d.log.append(a)
        self.saved = n_file
        self.pulled += len(new)
        return len(new)

    def _write_and_commit(self, force: bool = False) -> bool:
        con, d = self._connection(), self.data
        predictions = self._predictions_due(force)
        try:
            if not con.in_transaction:
                self._begin("IMMEDIATE")
            store.append_actions(con, d.log.actions[self.saved:], d.events)
            snap = self._classes_snapshot()
            if snap != self._written[0]:
                store.write_classes(con, d)
            if predictions:
                store.write_predictions(con, d)
            con.execute("COMMIT")
        except WRITE_ERRORS as exc:
            self._abort(exc)
            return False
        if snap != self._written[0]:
            self._classes_version = store.classes_version(con)
        self.saved, self.error = len(d.log.actions), ""
        self._written = (snap, self._predictions_ref() if predictions else self._written[1])
        if predictions:
            self._predictions_at = time.monotonic()
        return True

    def _abort(self, exc: BaseException) -> None:
        try:
            if self._con is not None and self._con.in_transaction:
                self._con.execute("ROLLBACK")
        except WRITE_ERRORS:
            pass   # the transaction is gone with the failed write; the store keeps its last commit
        self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        self.error = write_failure(self.path, exc, self._bytes_needed(),
                                   len(self.data.log.actions) - self.saved)

    def _bytes_needed(self) -> int:
        d = self.data
        entries = sum(len(a.rows) for a in d.log.actions[self.saved:])
        need = 64 * 1024 + 64 * entries          # pages, the journal's copies, entries
        if not self.exists:
            need += 48 * len(d.events)
        if not self._predictions_written():
            need += 2 * (d.scores.nbytes + 16 * len(d.events))
        return need

    def _predictions_ref(self) -> tuple:
        # The arrays the store's predictions were written from, by identity: a session
        # replaces them, never changes them in place; a calibration (honest.py) replaces the
        # confidence alone.
        return (self.data.predicted, self.data.confidence)

    def _predictions_written(self) -> bool:
        w = self._written[1]
        return w is not None and all(a is b for a, b in zip(w, self._predictions_ref()))

    def _classes_snapshot(self) -> tuple:
        c = self.data.classes
        return (tuple(c.names), tuple(c.ids), tuple(c.colours), c.next_id)


def write_failure(path: Path, exc: BaseException, need: int, pending: int) -> str:
    """One line: which file could not be written, why, the space needed, nothing lost."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, WriteError):
        reason = "no space or not writable"      # its own line names the file again
    free = free_space(Path(path).parent)
    space = (f"{human_size(free)} free there, about {human_size(need)} more needed"
             if free is not None else f"about {human_size(need)} of free space needed")
    kept = f"{pending} unsaved action(s) and " if pending else ""
    return (f"{path}: cannot save the labels ({reason}; {space}); nothing is lost: "
            f"{kept}the current labels are kept in memory and saved as soon as writing "
            "works again")


def _rebase(log: ActionLog, saved: int, new: list[Action], pending: list[Action]) -> ActionLog:
    """The stored actions, then other writers' ``new`` ones, then ``pending`` recorded again."""
    fresh = ActionLog(log.n_rows, log.actions[:saved] + new)
    for a in pending:
        if a.kind == "undo":
            fresh.undo(a.user, when=a.time, base=a.base)
        elif a.kind == "redo":
            fresh.redo(a.user, when=a.time, base=a.base)
        else:
            fresh.record(a.kind, a.user, a.rows, a.class_ids, a.detail, when=a.time,
                         base=a.base)
    return fresh
