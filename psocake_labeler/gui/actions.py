"""What the dock does when the user acts: label, unlabel, undo, recommend, propagate, keys.

A mixin of :class:`~psocake_labeler.gui.dock.LabelManifoldDock`; every session call goes to
the dock's session thread (``_call``), in order, and the redraw follows from the session's
listener.
"""
from __future__ import annotations

import numpy as np
from pyqtgraph.Qt import QtCore

from . import dialogs

CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier


class DockActions:
    """Actions and keyboard handling of the Label Manifold dock."""

    def _call(self, fn, on_done=None) -> None:
        """Run a session call on the session thread (in order)."""
        if self.session is None:
            self.show_error("open a manifold first (Open… or Compute…)")
            return
        session = self.session   # the session of the click, even if another is opened meanwhile
        self.session_runner.start(lambda progress: fn(session), on_done)

    def label_selected(self, k: int) -> None:
        """Label the selected events (or the current one) with class ``k``; -1 unlabels."""
        if self.session is None:
            self.show_error("open a manifold first (Open… or Compute…)")
            return
        rows = self._target_rows()
        if len(rows) == 0:
            self.show_error("select events first (click, shift-drag, or tiles in the grid)")
            return
        if k >= len(self.session.classes):
            return
        if k < 0:
            self._call(lambda s: s.unlabel(rows))
        else:
            name = self.session.classes[k]
            self._call(lambda s: s.label(rows, name))

    def recommend(self, k: int = 10) -> None:
        """Fill the grid with the ``k`` events the session recommends."""
        self._call(lambda s: s.recommend(k), self.show_recommended)

    def show_recommended(self, rows) -> None:
        """Show given rows as the recommended ones (grid and diamonds on the manifold)."""
        self.recommended = np.asarray(rows, dtype=int)
        self.selected = np.zeros(0, dtype=int)
        self.grid.set_rows(self.recommended, "Recommended")
        self._redraw_marks()

    def add_runs(self, paths) -> None:
        """Place new runs on the current manifold (out-of-sample, no recomputation) and go on
        labelling the combined events; the labels so far are carried over.

        The extended manifold is saved next to the current label file as
        ``<first run>.extended.manifold.h5`` with its own ``.<user>.labels.h5``.
        """
        from pathlib import Path

        from ..labelling.log import user_name

        paths = [str(p) for p in paths]

        def work(s):
            from ..io import open_run

            folder = Path(s.path).parent if s.path is not None else Path.cwd()
            out = folder / f"{Path(paths[0]).stem}.extended.manifold.h5"
            new = s.extend(open_run(paths if len(paths) > 1 else paths[0]))
            new.manifold.save(out)
            labels = out.with_name(f"{out.stem}.{user_name()}.labels.h5")
            new.save(labels)
            new.path = labels
            return new

        self.controls.status.setText(f"placing {len(paths)} run(s) on the manifold …")
        self._call(work, self.set_session)

    def _auto(self, on: bool) -> None:
        if self.session is not None:
            self._call(lambda s: setattr(s, "auto_propagate", bool(on)))

    def _action(self, name: str) -> None:
        if name == "recommend":
            self.recommend(10)
        elif name == "propagate":
            auto = self.controls.auto.isChecked()

            def run(s):
                s.propagate()
                s.auto_propagate = auto
            self._call(run)
        elif name == "undo":
            self._call(lambda s: s.undo())
        elif name == "redo":
            self._call(lambda s: s.redo())
        else:
            getattr(dialogs, f"{name}_dialog")(self)

    def handle_key(self, key: int, modifiers) -> bool:
        """Keyboard: 1..9 label, 0 unlabel, Ctrl+Z undo, Ctrl+Shift+Z / Ctrl+Y redo,
        R recommend, P propagate. Returns True when the key was used."""
        Key = QtCore.Qt.Key
        if modifiers & CTRL:
            if key == Key.Key_Z:
                self._action("redo" if modifiers & SHIFT else "undo")
                return True
            if key == Key.Key_Y:
                self._action("redo")
                return True
            return False
        if Key.Key_0 <= key <= Key.Key_9:
            self.label_selected(int(key - Key.Key_0) - 1)
            return True
        if key == Key.Key_R:
            self._action("recommend")
            return True
        if key == Key.Key_P:
            self._action("propagate")
            return True
        return False

    def keyPressEvent(self, ev) -> None:
        if not self.handle_key(ev.key(), ev.modifiers()):
            super().keyPressEvent(ev)

    def eventFilter(self, obj, ev) -> bool:
        # the grid would use digits for its keyboard search; we want them as labels
        if ev.type() == QtCore.QEvent.Type.KeyPress:
            return self.handle_key(ev.key(), ev.modifiers())
        return False

