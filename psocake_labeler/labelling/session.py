"""``LabelSession``: the labels of one manifold, who gave them, and what they predict.

Every change goes through the action log (:mod:`psocake_labeler.labelling.log`), is
appended to the label store at ``path`` before the call returns, after what other writers
appended meanwhile (:mod:`psocake_labeler.labelling.autosave`), re-propagates when
propagation is on, and then tells the listeners (the GUI). When the store cannot be written
(a full disk) the labels stay in memory: :attr:`~.saving.StoreSaving.ahead` is True and
``save_error`` says why in one line; the next change or ``flush()`` saves them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import InputError
from ..labelfiles.merge import merge_labels, read_label_set
from .autosave import Autosave
from .change import Change
from .class_edits import ClassEditing
from .classes import DEFAULT_CLASSES, ClassList
from .log import ActionLog, user_name
from .propagation import DEFAULT_METHOD
from .reuse import Buffers
from .saving import StoreSaving
from .state import LabelData

__all__ = ["LabelSession", "merge_labels"]


class LabelSession(ClassEditing, StoreSaving):
    """User labels on a manifold, with propagation, recommendation and autosave.

    Parameters
    ----------
    manifold : Manifold
        Provides ``events``, ``graph``, ``coords``, ``events_hash()`` and ``extend()``.
    classes : sequence of str
        Class names in order (default Single, Multiple, Water/Unknown).
    path : path, optional
        Label store; every change is appended to it before the call returns. It must not
        exist yet (continue one with :meth:`load`) unless ``overwrite`` is True.
    user : str, optional
        Name logged with every action; default the login name.
    method : str, optional
        Propagation method (default: the measured best, ``propagation.DEFAULT_METHOD``),
        passed to :func:`psocake_labeler.labelling.propagation.propagate`.
    """

    def __init__(self, manifold, classes: Sequence[str] | ClassList = DEFAULT_CLASSES,
                 path: str | os.PathLike | None = None, user: str | None = None,
                 method: str | None = None, overwrite: bool = False,
                 _data: LabelData | None = None):
        self.manifold = manifold
        self.user = user or user_name()
        self.path = Path(path) if path is not None else None
        self._listeners: list[Callable[[Change], None]] = []
        self._propagation = None      # last Propagation, for warm starts
        self._classifier_inputs = None   # see classifier_inputs()
        self._row_of: dict | None = None
        self._save: Autosave | None = None
        self._buffers = Buffers()    # the click's arrays, kept between clicks (reuse.py)
        if _data is None:
            events = np.asarray(manifold.events)
            cl = classes.copy() if isinstance(classes, ClassList) else ClassList(classes)
            _data = LabelData(cl, ActionLog(len(events)), events, manifold.events_hash(),
                              method=method or DEFAULT_METHOD)
        self._d = _data
        if self.path is not None:
            self._save = Autosave.create(self.path, self._d, replace=overwrite)

    # -- state -----------------------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        """Class names in order."""
        return self._d.classes.names

    @property
    def colours(self) -> list[str]:
        """Class colours (``#rrggbb``) in order."""
        return self._d.classes.colours

    @property
    def events(self) -> np.ndarray:
        """The manifold's event table (source, run, event), one row per manifold row."""
        return self._d.events

    @property
    def log(self) -> ActionLog:
        """The action log (read it; change it only through the session's methods)."""
        return self._d.log

    @property
    def predicted(self) -> np.ndarray:
        """(N,) predicted class index, user labels included; -1 before any propagation."""
        return self._d.predicted

    @property
    def confidence(self) -> np.ndarray:
        """(N,) confidence in [0, 1]; 1 for user-labelled rows."""
        return self._d.confidence

    @property
    def scores(self) -> np.ndarray:
        """(N, C) per-class scores of the last propagation."""
        return self._d.scores

    @property
    def last_propagation(self):
        """The Propagation behind :attr:`predicted` (blended, labelling/blend.py), or None
        before the first: read it, do not change it. The quality check passes it on as
        ``previous``, so that it keeps the classifier inputs the session made (rbf.py; the dock
        passes on only those, blend.classifier_memory)."""
        return self._propagation

    @property
    def auto_propagate(self) -> bool:
        """True once :meth:`propagate` was called: every later change re-propagates."""
        return self._d.auto_propagate

    @auto_propagate.setter
    def auto_propagate(self, on: bool) -> None:
        self._d.auto_propagate = bool(on)

    @property
    def stale(self) -> bool:
        """True when labels changed since the last propagation."""
        return self._d.propagated_at != len(self._d.log.actions)

    def __len__(self) -> int:
        return len(self._d.events)

    def user_labels(self) -> dict[int, int]:
        """``{row: class index}`` of every user-labelled row."""
        idx = self._d.user_index()
        rows = np.flatnonzero(idx >= 0)
        return {int(r): int(idx[r]) for r in rows}

    def labelled_rows(self) -> np.ndarray:
        """Rows with a user label, ascending."""
        return self._d.log.labelled_rows()

    def row_of(self, run: int, event: int, source: str | None = None) -> int:
        """Manifold row of ``(run, event)``; InputError if the manifold does not hold it."""
        if self._row_of is None:
            ev = self._d.events
            self._row_of = {}
            for i in range(len(ev) - 1, -1, -1):   # first occurrence wins
                self._row_of[(int(ev["run"][i]), int(ev["event"][i]))] = i
                self._row_of[(str(ev["source"][i]), int(ev["run"][i]), int(ev["event"][i]))] = i
        key = (int(run), int(event)) if source is None else (str(source), int(run), int(event))
        if key not in self._row_of:
            raise InputError(f"run {run} event {event} is not in this manifold "
                             f"({len(self)} events)")
        return self._row_of[key]

    # -- labelling -------------------------------------------------------------------------
    def label(self, rows, class_name: str) -> bool:
        """Give ``rows`` the class ``class_name``; True if anything changed.

        ``rows``: a manifold row, a sequence of rows, or a list of ``(run, event)`` tuples
        (see :meth:`label_events`). ClassNameError names the valid classes.
        """
        cid = self._d.classes.id_of(class_name)
        if isinstance(rows, (list, tuple)) and rows and isinstance(rows[0], tuple):
            return self.label_events(rows, class_name)
        return self._record("label", self._rows(rows), cid)

    def label_events(self, events: Iterable[Sequence[int]], class_name: str) -> bool:
        """Label events given as ``(run, event)`` or ``(source, run, event)`` tuples."""
        cid = self._d.classes.id_of(class_name)
        rows = [self.row_of(e[0], e[1]) if len(e) == 2 else self.row_of(e[1], e[2], e[0])
                for e in events]
        return self._record("label", np.asarray(rows, dtype=np.int64), cid)

    def unlabel(self, rows) -> bool:
        """Remove the user label of ``rows``; True if anything changed."""
        return self._record("unlabel", self._rows(rows), -1)

    def undo(self) -> bool:
        """Undo this user's last labelling action; False when there is nothing to undo."""
        return self._change(lambda base: self._d.log.undo(
            self.user, live=self._d.classes.ids, base=base))

    def redo(self) -> bool:
        """Redo this user's last undone action; False when there is nothing to redo."""
        return self._change(lambda base: self._d.log.redo(
            self.user, live=self._d.classes.ids, base=base))

    @property
    def can_undo(self) -> bool:
        """True when :meth:`undo` would change something."""
        return self._d.log.can_undo(self.user)

    @property
    def can_redo(self) -> bool:
        """True when :meth:`redo` would change something."""
        return self._d.log.can_redo(self.user)

    def import_labels(self, path: str | os.PathLike, run: int | None = None) -> int:
        """Add the user labels of another label file (ours or Psocake's) as one action.

        Events are matched by (run, event); events this manifold lacks are skipped. A
        Psocake file names its run in its file name, or give ``run``; its 1-based class
        codes are this session's classes in order. Returns the number of rows changed.
        """
        ls = read_label_set(path, run=run, class_names=self.classes)
        rows, ids = [], []
        for (r, e), (name, _user) in ls.labels.items():
            try:
                row = self.row_of(r, e)
            except InputError:
                continue
            pos = self._d.classes.lookup(name)
            if pos is None:
                pos = self._d.classes.index(name)      # raises ClassNameError with the list
            rows.append(row)
            ids.append(self._d.classes.ids[pos])
        before = len(self._d.log.actions)
        self._record("import", np.asarray(rows, np.int64), np.asarray(ids, np.int64),
                     detail=f"import {path}")
        return len(self._d.log.actions[-1].rows) if len(self._d.log.actions) > before else 0

    # -- propagation and recommendation ---------------------------------------------------
    def propagate(self, method: str | None = None):
        """Propagate the user labels over the manifold graph; returns the Propagation.

        Sets :attr:`predicted`, :attr:`confidence` and :attr:`scores`; a user label always
        wins for its own event. From now on every change re-propagates (warm-started).
        """
        if method is not None and method != self._d.method:
            self._d.method = method
            self._propagation = None
        self._d.auto_propagate = True
        prop = self._propagate_now()
        self._saved_and_notify(Change("propagate", predictions=True))
        return prop

    @property
    def calibration(self):
        """The calibration the shown confidences are capped by (see :meth:`calibrate`); the
        label file keeps it beside them, so a reopened session caps its first click too."""
        return self._d.calibration

    def calibrate(self, calibration) -> None:
        """Show confidences as held-out labels back them from now on, the current ones
        included: ``calibration`` is an assessment's (:class:`~.quality.Quality`'s, see
        honest.py); None shows them as propagated. Predictions do not change; the
        listeners are told (a ``calibrate`` change) when the confidences did."""
        self._d.calibration = calibration
        if self._propagation is not None:
            self._d.confidence = self._shown(self._propagation)
            # the listeners redraw (the dock: as its assessment lands, not at the next click)
            self._saved_and_notify(Change("calibrate", predictions=True))

    def _shown(self, prop):
        from .honest import shown_confidence

        return shown_confidence(prop, self._d.calibration, self.labelled_rows(),
                                getattr(self.manifold, "reliability", None))

    def recommend(self, k: int = 10) -> list[int]:
        """The ``k`` rows most worth labelling next: never labelled ones, diverse.

        Works from zero labels (cold start); propagates first when predictions are stale.
        """
        from .recommend import recommend

        rows = self.labelled_rows()
        prop = None
        if len(rows):
            if self._propagation is None or self.stale:
                self._propagate_now()      # leaves auto_propagate as the caller set it
                self._saved_and_notify(Change("propagate", predictions=True))
            prop = self._propagation
        # The features only once labels exist (exploration; a lazy manifold reads them then).
        features = getattr(self.manifold, "features", None) if len(rows) else None
        picks = recommend(self.manifold.graph, prop, rows, k=k,
                          coords=getattr(self.manifold, "coords", None), features=features)
        return [int(r) for r in picks]

    def extend(self, run, path: str | os.PathLike | None = None) -> LabelSession:
        """A new session over ``manifold.extend(run)`` carrying every user label and the log.

        The new session saves to ``path`` (None: not saved until :meth:`save` gets one). It
        propagates at once when this session did, so the new run's events get labels.
        """
        return LabelSession.carry(self._d, self.manifold.extend(run), path, self.user)

    @classmethod
    def carry(cls, data: LabelData, manifold, path: str | os.PathLike | None = None,
              user: str | None = None) -> LabelSession:
        """A session on ``manifold`` with the classes and log of another manifold's labels
        (rows matched by event, :mod:`.transfer`); propagated if ``data`` was, saved to ``path``."""
        from .transfer import carried_data

        new = cls(manifold, path=None, user=user, _data=carried_data(data, manifold)[0])
        new.path = Path(path) if path is not None else None
        if new._d.auto_propagate:
            new._propagate_now()
        if new.path is not None:
            new._save = Autosave.create(new.path, new._d)
        return new

    # -- files -----------------------------------------------------------------------------
    def to_data(self) -> LabelData:
        """The session's state as a :class:`LabelData` (shared, not copied)."""
        return self._d

    def export(self, path: str | os.PathLike, class_name: str | None = None, **options) -> Path:
        """Export by suffix: ``.json``/``.csv`` table, ``.cxi`` one class, ``.dat`` blacklist."""
        from ..labelfiles.exports import export

        return export(self._d, path, class_name=class_name, **options)

    def add_listener(self, callback: Callable[[Change], None]) -> None:
        """Call ``callback(change)`` after every change (labels, classes, predictions).

        ``change`` is a :class:`~psocake_labeler.labelling.change.Change` saying which rows'
        labels changed and whether predictions or classes did, so a view redraws only that.
        """
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[Change], None]) -> None:
        """Stop calling ``callback``."""
        self._listeners.remove(callback)

    # -- internals -------------------------------------------------------------------------
    def _rows(self, rows) -> np.ndarray:
        arr = np.asarray(rows).reshape(-1)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InputError(f"rows must be integers (manifold rows), got {arr.dtype}; "
                             f"use label_events() for (run, event) pairs")
        arr = arr.astype(np.int64)
        bad = arr[(arr < 0) | (arr >= len(self))]
        if bad.size:
            raise InputError(f"row {int(bad[0])} is outside this manifold's rows "
                             f"0..{len(self) - 1}")
        return arr

    def _record(self, kind, rows, class_ids, detail: str = "") -> bool:
        return self._change(lambda base: self._d.log.record(kind, self.user, rows, class_ids,
                                                            detail, base=base))

    def _reset_predictions(self) -> None:
        n, c = len(self), len(self._d.classes)
        self._d.predicted = np.full(n, -1, dtype=np.int64)
        self._d.confidence = np.zeros(n)
        self._d.scores = np.zeros((n, c))
        self._d.propagated_at = -1
        self._propagation = None

    def classifier_inputs(self):
        """What the labels' classifier reads per event (labelling/inputs.py): the manifold's
        features, its brightness basis and profile, computed once; None without features."""
        if self._classifier_inputs is None:
            from .inputs import manifold_inputs

            self._classifier_inputs = manifold_inputs(self.manifold)
        return self._classifier_inputs

    def _propagate_now(self):
        from .blend import propagate_and_blend

        d = self._d
        idx = d.user_index()
        rows = np.flatnonzero(idx >= 0)
        # the last Propagation (its .state) starts the solver near the answer; the local
        # update changes its solution in place, so a click that fails half-way leaves no
        # warm start (the next one solves cold) rather than a half-updated one
        warm, self._propagation = self._propagation, None
        with self._buffers.active():
            prop = propagate_and_blend(self.manifold.graph, self.classifier_inputs(), rows,
                                       idx[rows], len(d.classes), previous=warm,
                                       overlap=True, method=d.method or DEFAULT_METHOD,
                                       balance=True, warm_start=warm, update_warm_start=True)
            shown = self._shown(prop)      # capped (calibrated) into the pool's arrays too
        self._propagation = prop
        # propagate and blend already put every user label back (state.user_labels_win:
        # the label, confidence 1) and keep confidences in [0, 1]: no (N,) copies here.
        d.predicted, d.confidence = prop.predicted, shown
        d.scores = np.asarray(prop.scores, dtype=np.float64)
        d.propagated_at = len(d.log.actions)
        return prop
