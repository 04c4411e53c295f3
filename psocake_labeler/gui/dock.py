"""``LabelManifoldDock``: the manifold view, the event grid and the label controls in one dock.

The dock draws the session and forwards what the user does to it; all labelling logic lives
in :class:`~psocake_labeler.labelling.session.LabelSession`. Session calls (labels may
re-propagate and autosave) run in order on one worker thread; the session's listener only
posts a Qt signal, so every redraw happens in the GUI thread.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pyqtgraph.dockarea import Dock
from pyqtgraph.Qt import QtCore, QtWidgets

from ..labelling.classes import DEFAULT_CLASSES
from ..labelling.log import user_name
from ..labelling.state import user_labels_win
from . import text
from .actions import DockActions
from .browse import DockBrowse
from .controls import Controls
from .event_grid import EventGrid
from .flow import DockFlow
from .manifold_view import ManifoldView
from .overlay import LabelOverlay
from .store_watch import StoreWatch
from .style import Palette
from .trust import DockTrust
from .workers import TaskRunner

CTRL = QtCore.Qt.KeyboardModifier.ControlModifier


class LabelManifoldDock(DockFlow, DockActions, DockBrowse, DockTrust, Dock):
    """The "Label Manifold" dock, for any :class:`~psocake_labeler.gui.hosts.base.Host`.

    API for hosts and tests: :meth:`open_manifold`, :meth:`set_session`, :meth:`show_row`,
    :meth:`select_rows`, :attr:`current_row`, :attr:`session`, :meth:`wait`.
    Signals: ``sigLoaded``, ``sigUpdated`` (after each redraw), ``sigCurrentRowChanged(row)``.
    """

    sigLoaded = QtCore.Signal()
    sigUpdated = QtCore.Signal()
    sigCurrentRowChanged = QtCore.Signal(int)
    _sigSessionChanged = QtCore.Signal()

    def __init__(self, host=None, name: str = "Label Manifold", size=(520, 760)):
        super().__init__(name, size=size, closable=True)
        self.host = host
        self.session = None
        self.manifold = None
        self.events: np.ndarray | None = None
        self.current_row: int | None = None
        self.selected = np.zeros(0, dtype=int)
        self.recommended = np.zeros(0, dtype=int)
        self.class_palette = Palette(list(DEFAULT_CLASSES))
        self._keys = np.zeros(0, dtype=np.int64)
        self._key_rows = np.zeros(0, dtype=int)
        self._refresh_pending = False
        self._changes: list = []       # the session's changes since the last redraw
        self._n_changes = 0            # changes told so far (the user labels' cache key)
        self._user_cache: tuple | None = None
        self._skipped: set[int] = set()   # rows Space passed over in this batch
        self._view_key: str | None = None  # the manifold's key in the settings file
        self.runner = TaskRunner(self, threads=2)           # images, files, assessments
        self.session_runner = TaskRunner(self, threads=1)   # session calls, in order
        self.store_watch = StoreWatch(self)     # full disk: say so, save when room returns
        self.init_trust()

        self.view = ManifoldView()
        self.view.describe = self.describe
        self.grid = EventGrid(self.runner)
        self.grid.caption_fn = lambda row: text.caption(self, row)
        self.grid.border_fn = self._border
        self.grid.image_fn = self._image
        self.controls = Controls()
        self.controls.set_classes(self.class_palette)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(self.build_view_tabs())
        split.addWidget(self.build_grid_pane())
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([250, 430])   # two rows of tiles: ten recommendations in sight
        body = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(body)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(split, 1)
        lay.addWidget(self.controls)
        self.addWidget(body)
        self.body = body
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)

        self.view.sigRowClicked.connect(self._point_clicked)
        self.view.sigRowsSelected.connect(lambda rows, mods: self.select_rows(rows))
        self.view.sigAxesChosen.connect(self._axes_chosen)
        self.view.sigAutoAxes.connect(lambda: self.choose_axes(forget=True))
        self.grid.sigRowActivated.connect(self.show_row)
        self.grid.sigRowEnlarged.connect(self.enlarge_row)
        self.grid.sigSelectionChanged.connect(self._grid_selection)
        self.controls.sigLabel.connect(self.label_selected)
        self.controls.sigAction.connect(self._action)
        self.controls.sigAuto.connect(self._auto)
        self._sigSessionChanged.connect(self._schedule_refresh,
                                        QtCore.Qt.ConnectionType.QueuedConnection)
        for r in (self.runner, self.session_runner):
            r.sigProgress.connect(self.controls.show_progress)
            r.sigBusy.connect(self._busy)
            r.sigError.connect(self.show_error)
        for w in (self.grid.list, self.view.plot):
            w.installEventFilter(self)

        self.label_overlay = None
        if host is not None:
            viewer = host.image_view()
            if viewer is not None:
                self.label_overlay = LabelOverlay(viewer)
            host.sigEventChanged.connect(self._host_event)
        self.sigClosed.connect(self._closed)

    # -- loading ----------------------------------------------------------------------------
    def default_labels_path(self, manifold_path: str | Path) -> Path:
        """``<labels dir>/<manifold stem>.<user>.labels.h5``: one file per user, as Psocake's
        label files, so that colleagues never write the same file (merge them with
        ``psocake-labeler merge``); labels dir = the host's, else the manifold's folder."""
        p = Path(manifold_path)
        folder = self.host.labels_dir() if self.host is not None else None
        return Path(folder or p.parent) / f"{p.stem}.{user_name()}.labels.h5"

    def open_manifold(self, path: str | Path, labels: str | Path | None = None) -> None:
        """Load a manifold and its labels (continued if the file exists) in the background.

        ``sigLoaded`` is emitted when done; errors show in the status line.
        """
        path = Path(path)
        labels = Path(labels) if labels is not None else self.default_labels_path(path)
        self.controls.status.setText(f"opening {path.name} …")

        def load(progress):
            from ..embedding import Manifold
            from ..labelling.session import LabelSession

            progress(f"loading {path.name}", 0, 0)
            m = Manifold.load(path, lazy=True)   # graph and features when first used
            if labels.exists():
                return LabelSession.load(labels, m)
            return LabelSession(m, path=labels)

        if self.host is not None:
            self.host.files.search_dirs.append(path.parent)
        self.session_runner.start(load, self.set_session)

    def set_session(self, session) -> None:
        """Show a session (a LabelSession over its manifold) in the dock."""
        if self.session is not None:
            self.session.remove_listener(self._notify)
        self.session = session
        self.manifold = session.manifold
        self.events = np.asarray(session.events)
        keys = (self.events["run"].astype(np.int64) << 40) + self.events["event"].astype(np.int64)
        order = np.argsort(keys, kind="stable")
        self._keys, self._key_rows = keys[order], order
        self.selected = np.zeros(0, dtype=int)
        self.recommended = np.zeros(0, dtype=int)
        self.current_row = None
        self.filter_mask = None
        self.quality, self.review_items, self._quality_key = None, {}, None
        self.controls.set_quality("")
        self.grid.clear_cache()
        self.grid.set_rows([], "Events")
        self.view.set_coords(np.asarray(self.manifold.coords))
        self.choose_axes()
        self.class_palette = None
        if self.controls.auto.isChecked():
            session.auto_propagate = True
        session.add_listener(self._notify)
        # A click saves its label at once; the predictions (40 MB at 10^6 events) are saved
        # by the store watch's flush while the user pauses.
        session.predictions_every = math.inf
        self.refresh()
        if self.host is not None and self.host.current_event() is not None:
            self._host_event(self.host.current_event())
        name = Path(session.path).name if session.path is not None else "no label file"
        self.controls.status.setText(f"{len(self.events)} events · labels: {name}")
        self._first_recommendations(session)
        self.sigLoaded.emit()

    def _notify(self, change=None) -> None:
        # called by the session, possibly on the worker thread: only post a signal
        self._n_changes += 1
        self._changes.append(change)
        self._sigSessionChanged.emit()

    def _changed_rows(self) -> np.ndarray | None:
        """The rows the pending changes restyle, or None when any may have changed
        (predictions recomputed, classes changed, or a redraw not asked by a change)."""
        changes, self._changes = self._changes, []
        if not changes or any(c is None or c.predictions or c.classes for c in changes):
            return None
        return np.unique(np.concatenate([np.asarray(c.rows, dtype=np.int64)
                                         for c in changes]))

    # -- drawing ----------------------------------------------------------------------------
    def _schedule_refresh(self) -> None:
        # several session notifications in a row give one redraw
        if not self._refresh_pending:
            self._refresh_pending = True
            QtCore.QTimer.singleShot(0, self.refresh)

    def refresh(self) -> None:
        """Redraw everything from the session's current state."""
        self._refresh_pending = False
        s = self.session
        if s is None:
            return
        if self.class_palette is None or self.class_palette.classes != list(s.classes) \
                or self._colours != list(s.colours):
            self.class_palette = Palette(list(s.classes), list(s.colours))
            self._colours = list(s.colours)
            self.controls.set_classes(self.class_palette)
            self.filters.set_classes(self.class_palette.classes)
        pred, conf, rows, cls, has_pred = self.final_labels()
        changed = self._changed_rows()
        if changed is not None and self.view.palette is self.class_palette \
                and self.view.codes is not None and len(self.view.codes) == len(pred):
            # Only labels changed (propagation is off): restyle those rows, not 10^6.
            self.view.restyle(changed, pred[changed], conf[changed] if has_pred else None,
                              rows, cls)
        else:
            self.view.set_classes(self.class_palette, pred, conf if has_pred else None, rows,
                                  cls)
        self._redraw_marks()
        n_cls = len(self.class_palette.classes)
        user_counts = np.bincount(cls[cls >= 0], minlength=n_cls)[:n_cls]
        pred_counts = (np.bincount(pred[pred >= 0], minlength=n_cls)[:n_cls] if has_pred
                       else [None] * n_cls)
        self.controls.set_counts(self.class_palette, user_counts, pred_counts, len(rows), len(pred))
        for name in ("undo", "redo"):
            flag = getattr(s, f"can_{name}", True)
            self.controls.buttons[name].setEnabled(bool(flag() if callable(flag) else flag))
        self.grid.refresh()
        self.refilter()
        self.schedule_assess()
        self.update_3d()
        self._update_overlay()
        self.store_watch.show(s)
        self.sigUpdated.emit()

    def _redraw_marks(self) -> None:
        self.view.set_marks(self.selected, self.recommended, self.current_row)
        self.grid.set_current(self.current_row)
        self.controls.target.setText(self.target_text())
        self.update_3d(marks_only=True)

    def final_labels(self):
        """``(label, confidence, user rows, their classes, has predictions)``: each row's
        label is the user's (confidence 1), else the prediction (-1 before any)."""
        s = self.session
        user = self.user_labels()
        rows = np.fromiter(user.keys(), dtype=int, count=len(user))
        cls = np.fromiter(user.values(), dtype=int, count=len(user))
        has_pred = bool(len(s.predicted)) and int(np.max(s.predicted)) >= 0
        pred, conf = user_labels_win(s.predicted, s.confidence, rows, cls)
        return pred, conf, rows, cls, has_pred

    def user_labels(self) -> dict[int, int]:
        """The session's ``{row: class index}``, read once per change: a redraw asks for
        every tile, and at 10^6 events each read is a pass over every row."""
        n, got = self._n_changes, self._user_cache
        if got is None or got[0] != n or got[1] is not self.session:
            got = self._user_cache = (n, self.session, self.session.user_labels())
        return got[2]

    def label_of(self, row: int) -> tuple[int, int, float]:
        """``(user class or -1, predicted class or -1, confidence)`` of a row."""
        s = self.session
        user = self.user_labels().get(int(row), -1) if s is not None else -1
        if s is None or len(s.predicted) <= row:
            return user, -1, 0.0
        return user, int(s.predicted[row]), float(s.confidence[row])

    def describe(self, row: int) -> str:
        """Hover text: run, event, label (who, when), confidence."""
        return text.describe(self, row)

    def _border(self, row: int):
        user = self.label_of(row)[0]
        return self.class_palette.qcolor(user) if user >= 0 else None

    def _image(self, row: int):
        if self.events is None:
            return None
        ev = self.events[row]
        args = (str(ev["source"]), int(ev["run"]), int(ev["event"]))
        return self.host.image(*args) if self.host is not None else None

    def _update_overlay(self) -> None:
        if self.label_overlay is not None:
            self.label_overlay.set(*text.overlay_text(self))

    # -- navigation and selection ------------------------------------------------------------
    def row_of(self, run: int, event: int) -> int | None:
        """Manifold row of ``(run, event)``, None when the manifold does not hold it."""
        key = (int(run) << 40) + int(event)
        i = int(np.searchsorted(self._keys, key))
        if i < len(self._keys) and self._keys[i] == key:
            return int(self._key_rows[i])
        return None

    def show_row(self, row: int) -> None:
        """Make ``row`` the current event, as a click on its point: the host's viewer goes there."""
        row = int(row)
        self.current_row = row
        self._redraw_marks()
        self._update_overlay()
        if self.host is not None:
            ev = self.events[row]
            self.host.go_to(str(ev["source"]), int(ev["run"]), int(ev["event"]))
        self.sigCurrentRowChanged.emit(row)

    def enlarge_row(self, row: int) -> None:
        """Show ``row`` at full resolution: the host's viewer goes there, zoomed to fit."""
        self.show_row(row)
        viewer = self.host.image_view() if self.host is not None else None
        if viewer is not None and hasattr(viewer, "autoRange"):
            viewer.autoRange()

    def _host_event(self, run_event) -> None:
        if self.events is None or run_event is None:
            return
        row = self.row_of(*run_event)
        if row == self.current_row:
            return
        self.current_row = row
        self._redraw_marks()
        self._update_overlay()
        self.sigCurrentRowChanged.emit(-1 if row is None else row)

    def select_rows(self, rows) -> None:
        """Select these rows: marked on the manifold, shown (and selected) in the grid."""
        self.selected = np.unique(np.asarray(rows, dtype=int).reshape(-1))
        self.grid.set_rows(self.selected, "Selected")
        self.grid.select(self.selected)
        self._redraw_marks()

    def _point_clicked(self, row: int, modifiers) -> None:
        if modifiers & CTRL:
            sel = set(self.selected.tolist()) ^ {row}
            self.select_rows(sorted(sel))
            return
        self.selected = np.array([row])
        self.grid.select(self.selected)
        self.show_row(row)

    def _grid_selection(self, rows) -> None:
        self.selected = np.asarray(rows, dtype=int)
        self._redraw_marks()
        # one tile chosen (click or arrow keys): show it, so the keyboard alone can label
        if len(self.selected) == 1 and self.selected[0] != self.current_row:
            self.show_row(int(self.selected[0]))

    def _target_rows(self) -> np.ndarray:
        if len(self.selected):
            return self.selected
        return np.array([self.current_row]) if self.current_row is not None else np.zeros(0, int)

    # -- status -----------------------------------------------------------------------------
    def show_error(self, message) -> None:
        """Show a problem in the status line (never a blocking dialog)."""
        self.controls.status.setText(f"<span style='color:#ff6060'>{message}</span>")

    def _busy(self, _busy: bool) -> None:
        if not (self.runner.busy or self.session_runner.busy):
            self.controls.hide_progress()

    def wait(self, msecs: int = 60000) -> bool:
        """Block until background work is done and drawn (for scripts, tests, screenshots)."""
        ok = True
        for _ in range(3):  # results may start further work on the other runner
            ok = self.session_runner.wait(msecs) and self.runner.wait(msecs)
            QtWidgets.QApplication.processEvents()
        if self._refresh_pending:
            self.refresh()
        return ok

    def _closed(self, *_) -> None:
        self._assess_timer.stop()
        if self.label_overlay is not None:
            self.label_overlay.remove()
            self.label_overlay = None
        if self.session is not None:
            self.session.remove_listener(self._notify)
        if self.host is not None:
            try:
                self.host.sigEventChanged.disconnect(self._host_event)
            except (TypeError, RuntimeError):
                pass
