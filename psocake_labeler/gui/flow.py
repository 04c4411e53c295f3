"""The keyboard flow of the dock: which event the next key labels, and where to go after it.

A mixin of :class:`~psocake_labeler.gui.dock.LabelManifoldDock`. The grid holds a *batch*
(recommendations, a selection, a filter, similar events); one event is *current*. A number
key labels the selection when there is one, else the current event; then the selection is
cleared and the next unlabelled event of the batch becomes current, and when the batch is
done the next recommendations come. So labelling costs one key per event.
"""
from __future__ import annotations

import numpy as np
from pyqtgraph.Qt import QtCore

CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier
KEY = QtCore.Qt.Key
HELP_CLASS = "Need help"
HELP_KEY = "H"
BATCH = 10


class DockFlow:
    """Keys, current event and batch of the Label Manifold dock."""

    # -- where to go ------------------------------------------------------------------------
    def _unlabelled(self, rows, exclude=()) -> list[int]:
        labelled = self.user_labels() if self.session is not None else {}
        skip = set(int(r) for r in exclude) | self._skipped
        return [r for r in rows if r not in labelled and r not in skip]

    def advance(self, exclude=()) -> None:
        """Make the next unlabelled event of the batch after the current one current;
        when none is left, fetch the next batch of recommendations."""
        rows = list(self.grid.rows)
        start = rows.index(self.current_row) + 1 if self.current_row in rows else 0
        ahead = self._unlabelled(rows[start:] + rows[:start], exclude)
        if ahead:
            self.show_row(ahead[0])
        else:
            self.next_batch()

    def next_batch(self) -> None:
        """Fill the grid with the next recommendations and make the first one current."""
        self._skipped = set()
        self._call(lambda s: s.recommend(BATCH), self._batch_ready)

    def _batch_ready(self, rows) -> None:
        self.show_recommended(rows)
        if len(self.recommended):
            self.show_row(int(self.recommended[0]))

    def skip(self) -> None:
        """Leave the current event unlabelled and go on (it is not offered again in this
        batch)."""
        if self.current_row is not None:
            self._skipped.add(int(self.current_row))
        self.clear_selection()
        self.advance()

    def move(self, step: int) -> None:
        """Move the current event ``step`` tiles along the grid (labelled or not)."""
        rows = list(self.grid.rows)
        if not rows:
            return
        if self.current_row in rows:
            i = min(max(rows.index(self.current_row) + step, 0), len(rows) - 1)
        else:
            i = 0 if step > 0 else len(rows) - 1
        self.clear_selection()
        self.show_row(rows[i])

    def clear_selection(self) -> None:
        """Forget the selection: the next key labels the current event only."""
        self.selected = np.zeros(0, dtype=int)
        self.grid.select([])
        self._redraw_marks()

    def after_label(self, rows) -> None:
        """Called once a key has labelled ``rows``: clear the selection and move on."""
        self.clear_selection()
        self.advance(exclude=rows)

    def _first_recommendations(self, session) -> None:
        """Fill the grid with recommendations as soon as a manifold opens.

        Without labels the recommender only reads the coordinates, so it runs beside the
        session thread: labels given meanwhile do not wait for it (it can take seconds at
        10^5). Then the rest of a lazily read manifold (graph, features, ...) is read on the
        same worker, before the first propagation needs it.
        """
        if len(session.labelled_rows()):
            self.next_batch()
            return

        m = session.manifold

        def cold(progress):
            from ..labelling.recommend import cold_start

            return cold_start(m.coords, np.zeros(0, dtype=np.int64), k=10)

        def done(rows):
            if self.session is not session:
                return
            if len(self.recommended) == 0:
                labelled = session.user_labels()
                self._batch_ready([int(r) for r in rows if int(r) not in labelled])
            self.runner.start(lambda progress: m.read_all(), None)

        self.runner.start(cold, done)

    # -- what the next key does -------------------------------------------------------------
    def target_text(self) -> str:
        """One line: what the next number key will label."""
        if self.session is None:
            return "open a manifold first (Open… or Compute…)"
        n_cls = len(self.session.classes)
        keys = f"1–{min(n_cls, 9)}" if n_cls > 1 else "1"
        if len(self.selected) > 1:
            return f"keys {keys} label the {len(self.selected)} selected events · Esc clears"
        row = self.current_row if not len(self.selected) else int(self.selected[0])
        if row is None:
            return "no current event: press R for recommendations"
        ev = self.events[row]
        where = ""
        if row in self.grid.rows:
            where = f" ({self.grid.rows.index(row) + 1} of {len(self.grid.rows)})"
        return (f"keys {keys} label run {int(ev['run'])} event {int(ev['event'])}{where} · "
                f"{HELP_KEY} help · Space skip · Ctrl+Z undo")

    # -- keys -------------------------------------------------------------------------------
    def handle_key(self, key: int, modifiers) -> bool:
        """Keyboard: 1..9 label, 0 unlabel, H need help, Space skip, arrows move, Escape
        clears the selection, R recommend, P propagate, S similar events, V review, Ctrl+Z undo,
        Ctrl+Shift+Z / Ctrl+Y redo. Returns True when the key was used."""
        if modifiers & CTRL:
            if key == KEY.Key_Z:
                self._action("redo" if modifiers & SHIFT else "undo")
                return True
            if key == KEY.Key_Y:
                self._action("redo")
                return True
            return False
        if KEY.Key_0 <= key <= KEY.Key_9:
            self.label_selected(int(key - KEY.Key_0) - 1)
            return True
        steps = {KEY.Key_Left: -1, KEY.Key_Right: 1, KEY.Key_Up: -self.grid.columns(),
                 KEY.Key_Down: self.grid.columns()}
        if key in steps and not modifiers & SHIFT:   # shift-arrows extend the grid selection
            self.move(steps[key])
            return True
        simple = {KEY.Key_Space: self.skip, KEY.Key_Escape: self.clear_selection,
                  KEY.Key_H: self.label_help, KEY.Key_S: self.find_similar,
                  KEY.Key_V: self.show_review,
                  KEY.Key_R: lambda: self._action("recommend"),
                  KEY.Key_P: lambda: self._action("propagate")}
        if key in simple:
            simple[key]()
            return True
        return False

    def keyPressEvent(self, ev) -> None:
        if not self.handle_key(ev.key(), ev.modifiers()):
            super().keyPressEvent(ev)

    def eventFilter(self, obj, ev) -> bool:
        # the grid would use digits for its keyboard search and arrows for its selection;
        # we want them as labels and moves
        if ev.type() == QtCore.QEvent.Type.KeyPress:
            return self.handle_key(ev.key(), ev.modifiers())
        return False
