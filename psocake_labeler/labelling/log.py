"""The action log of a labelling session: every human action, undo and redo.

The log is append-only. Each *action* (one click: label these rows, unlabel those, undo,
redo, a class change) has a kind, a user and a time, and a list of *entries* ``(row,
class_id, previous class_id)``; ``class_id`` -1 means "unlabelled". The current labels are
what replaying the entries in order gives, so the log alone restores a session exactly.

Undo and redo are actions too (kinds ``undo``/``redo`` with ``ref`` = the action they
revert or repeat): undoing never deletes history, and the undo and redo stacks are
themselves derived from the log. Each user has their own stacks, because several writers
append to one store: undo reverts *your* last action, and leaves rows someone else changed
since as they are. A class removal (kind ``classes``) is not itself undone and keeps the undo
history: undoing or redoing across it restores only labels of classes that still exist (the
caller passes them as ``live``); the removed class's come back unlabelled. Logs written when
a removal ended the history replay the same way.

Each action also records ``base``, the number of actions its writer had seen when the user
acted; an action of another user between ``base`` and the action itself was not seen, and
if it set one of the same rows to another class the two are a *conflict*
(:meth:`ActionLog.conflicts`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

USER_KINDS = ("label", "unlabel", "import", "merge")
# "classes": a class removal (drops its labels; not on the undo stack); "note": a class
# added or renamed, recorded for the history only.
KINDS = USER_KINDS + ("undo", "redo", "classes", "note")


@dataclass
class Action:
    """One logged action."""

    id: int
    kind: str
    user: str
    time: float
    rows: np.ndarray            # int64 (n,)
    class_ids: np.ndarray       # int64 (n,), -1 = unlabel
    prev_ids: np.ndarray        # int64 (n,), what each row held before
    ref: int = -1               # for undo/redo: the action reverted or repeated
    detail: str = ""            # free text, e.g. "rename Single -> Singles"
    base: int = -1              # actions the writer had seen when the user acted (-1: all)


@dataclass
class ActionLog:
    """Append-only action log over ``n_rows`` rows, with the derived current labels."""

    n_rows: int
    actions: list[Action] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.labels = np.full(self.n_rows, -1, dtype=np.int64)   # class ids, -1 = none
        self.done: dict[str, list[int]] = {}     # per user: undo stack (action ids)
        self.undone: dict[str, list[int]] = {}   # per user: redo stack
        actions, self.actions = self.actions, []
        for a in actions:
            self._apply(a)

    # -- recording -------------------------------------------------------------------------
    def record(self, kind: str, user: str, rows, class_ids, detail: str = "",
               when: float | None = None, base: int = -1) -> Action | None:
        """Append an action setting ``rows`` to ``class_ids``; None if it changes nothing.

        ``class_ids`` is one id for all rows or one per row. Rows whose label would not
        change are left out, so that undo restores exactly what the action changed.
        """
        if kind not in USER_KINDS and kind not in ("classes", "note"):
            raise ValueError(f"unknown action kind {kind!r}")
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        ids = np.broadcast_to(np.asarray(class_ids, dtype=np.int64), rows.shape)
        # the last value wins for a row given twice in one action
        _, last = np.unique(rows[::-1], return_index=True)
        keep = np.sort(len(rows) - 1 - last)
        rows, ids = rows[keep], ids[keep]
        changed = self.labels[rows] != ids
        rows, ids = rows[changed], ids[changed]
        if len(rows) == 0 and kind not in ("classes", "note"):
            return None
        return self._append(kind, user, rows, ids, detail=detail, when=when, base=base)

    def undo(self, user: str, when: float | None = None, live=None,
             base: int = -1) -> Action | None:
        """Revert ``user``'s last action still done; None when there is nothing to undo.

        ``live``: ids of the classes that exist now (None: all); a row whose earlier label
        was of a removed class becomes unlabelled. Rows that no longer hold what the action
        set (another user changed them since) keep their current label.
        """
        stack = self.done.get(user)
        if not stack:
            return None
        t = self.actions[stack[-1]]
        keep = self.labels[t.rows] == _alive(t.class_ids, live)
        return self._append("undo", user, t.rows[keep], _alive(t.prev_ids, live)[keep],
                            ref=t.id, when=when, base=base)

    def redo(self, user: str, when: float | None = None, live=None,
             base: int = -1) -> Action | None:
        """Repeat ``user``'s last undone action (``live`` and rows changed since as for
        :meth:`undo`); None when there is nothing to redo."""
        stack = self.undone.get(user)
        if not stack:
            return None
        t = self.actions[stack[-1]]
        keep = self.labels[t.rows] == _alive(t.prev_ids, live)
        return self._append("redo", user, t.rows[keep], _alive(t.class_ids, live)[keep],
                            ref=t.id, when=when, base=base)

    def can_undo(self, user: str) -> bool:
        """True when undo(user) would do something."""
        return bool(self.done.get(user))

    def can_redo(self, user: str) -> bool:
        """True when redo(user) would do something."""
        return bool(self.undone.get(user))

    def append(self, action: Action) -> None:
        """Append an action read from a store (its id must be the next one).

        Raises ValueError when it does not fit the log (out of order, rows out of range, an
        undo or redo that does not match its user's stack).
        """
        self._apply(action)

    # -- queries ---------------------------------------------------------------------------
    def labelled_rows(self) -> np.ndarray:
        """Rows holding a user label, ascending."""
        return np.flatnonzero(self.labels >= 0)

    def last_user(self) -> np.ndarray:
        """Per row, the index into ``actions`` of the last action that set it (-1: never)."""
        last = np.full(self.n_rows, -1, dtype=np.int64)
        for a in self.actions:
            last[a.rows] = a.id
        return last

    def flat(self) -> dict[str, np.ndarray]:
        """Entries as flat columns (for saving): action, row, class_id, prev_id."""
        if not self.actions:
            z = np.zeros(0, dtype=np.int64)
            return {"action": z, "row": z, "class_id": z, "prev_id": z}
        return {
            "action": np.concatenate([np.full(len(a.rows), a.id, np.int64)
                                      for a in self.actions]),
            "row": np.concatenate([a.rows for a in self.actions]),
            "class_id": np.concatenate([a.class_ids for a in self.actions]),
            "prev_id": np.concatenate([a.prev_ids for a in self.actions]),
        }

    @classmethod
    def from_flat(cls, n_rows: int, kinds, users, times, refs, details,
                  entry_action, entry_row, entry_class, entry_prev,
                  bases=None) -> ActionLog:
        """Rebuild a log from the columns written by :meth:`flat` plus per-action columns."""
        return cls(n_rows, actions_from_flat(0, kinds, users, times, refs, details,
                                             entry_action, entry_row, entry_class,
                                             entry_prev, bases))

    def conflicts(self) -> list[tuple[int, int, int]]:
        """``(row, earlier action, later action)`` for every row whose current label was set
        by an action whose writer had not seen another user's different label of that row.

        The later action's label is the current one; the earlier one is kept in the log.
        """
        last = self.last_user()
        out = []
        for a in self.actions:
            if a.base < 0 or a.base >= a.id or not len(a.rows):
                continue
            mine = a.rows[last[a.rows] == a.id]
            if not len(mine):
                continue
            cls_of = dict(zip(a.rows.tolist(), a.class_ids.tolist()))
            for other in self.actions[a.base:a.id]:
                if other.user == a.user or not len(other.rows):
                    continue
                hit = np.isin(other.rows, mine)
                for r, c in zip(other.rows[hit].tolist(), other.class_ids[hit].tolist()):
                    if c != cls_of[r]:
                        out.append((r, other.id, a.id))
        return out

    # -- internals -------------------------------------------------------------------------
    def _append(self, kind, user, rows, ids, ref=-1, detail="", when=None,
                base=-1) -> Action:
        rows = np.array(rows, dtype=np.int64)
        ids = np.array(ids, dtype=np.int64)
        a = Action(len(self.actions), kind, str(user), time.time() if when is None else when,
                   rows, ids, self.labels[rows].copy(), ref, detail, int(base))
        self._apply(a)
        return a

    def _apply(self, a: Action) -> None:
        if a.kind not in KINDS:
            raise ValueError(f"action {a.id} has an unknown kind {a.kind!r}")
        if a.id != len(self.actions):
            raise ValueError(f"action {a.id} out of order (expected {len(self.actions)})")
        if len(a.rows) and (a.rows.min() < 0 or a.rows.max() >= self.n_rows):
            raise ValueError(f"action {a.id} names rows outside 0..{self.n_rows - 1}")
        self.labels[a.rows] = a.class_ids
        self.actions.append(a)
        if a.kind in ("undo", "redo"):
            # the stacks of the user who made the target: older files let anyone undo
            owner = self.actions[a.ref].user if 0 <= a.ref < a.id else None
            src, dst = ((self.done, self.undone) if a.kind == "undo"
                        else (self.undone, self.done))
            stack = src.get(owner) if owner is not None else None
            if not stack or stack[-1] != a.ref:
                raise ValueError(f"{a.kind} action {a.id} does not match the last "
                                 f"{'done' if a.kind == 'undo' else 'undone'} action of "
                                 f"its user")
            dst.setdefault(owner, []).append(stack.pop())
        elif a.kind in ("classes", "note"):
            pass
        else:
            self.done.setdefault(a.user, []).append(a.id)
            self.undone[a.user] = []


def actions_from_flat(first: int, kinds, users, times, refs, details, entry_action, entry_row,
                      entry_class, entry_prev, bases=None) -> list[Action]:
    """Actions ``first, first + 1, ...`` from per-action columns and their entries.

    ``entry_action`` holds each entry's action id; entries keep their order within an action.
    """
    entry_action = np.asarray(entry_action, dtype=np.int64)
    rows = np.asarray(entry_row, np.int64)
    cls_ = np.asarray(entry_class, np.int64)
    prev = np.asarray(entry_prev, np.int64)
    order = np.argsort(entry_action, kind="stable")
    bounds = np.searchsorted(entry_action[order], first + np.arange(len(kinds) + 1))
    out = []
    for i in range(len(kinds)):
        sel = order[bounds[i]:bounds[i + 1]]
        out.append(Action(first + i, str(kinds[i]), str(users[i]), float(times[i]),
                          rows[sel], cls_[sel], prev[sel], int(refs[i]), str(details[i]),
                          -1 if bases is None else int(bases[i])))
    return out


def _alive(class_ids: np.ndarray, live) -> np.ndarray:
    if live is None:
        return class_ids
    return np.where(np.isin(class_ids, np.asarray(list(live), dtype=np.int64)), class_ids, -1)


def user_name() -> str:
    """The login name, safe in a file name: who an action is recorded for by default."""
    import getpass
    import re

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "user"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "user"
