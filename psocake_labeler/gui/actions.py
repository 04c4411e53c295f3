"""What the dock does when the user acts: label, unlabel, undo, recommend, propagate.

A mixin of :class:`~psocake_labeler.gui.dock.LabelManifoldDock`; every session call goes to
the dock's session thread (``_call``), in order, and the redraw follows from the session's
listener.
"""
from __future__ import annotations

import numpy as np

from . import dialogs
from .flow import HELP_CLASS


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
        self.label_rows(self._target_rows(), k)

    def label_current(self, k: int) -> None:
        """Label the event the host shows (the current row) with class ``k``, whatever is
        selected; -1 unlabels. Hosts send keys pressed in their own widgets here; the
        current event stays (the user navigates with the host's controls)."""
        rows = [] if self.current_row is None else [self.current_row]
        self.label_rows(np.asarray(rows, dtype=int), k, advance=False)

    def label_rows(self, rows: np.ndarray, k: int, advance: bool = True) -> None:
        """Label ``rows`` with class ``k`` (-1 unlabels) on the session thread; with
        ``advance``, move on to the next unlabelled event of the grid."""
        if self.session is None:
            self.show_error("open a manifold first (Open… or Compute…)")
            return
        if len(rows) == 0:
            self.show_error("select events first (click, shift-drag, or tiles in the grid)")
            return
        if k >= len(self.session.classes):
            return
        self.schedule_assess()     # the user is labelling: the assessment waits (trust.py)
        self.store_watch.touch()   # ... and so does the predictions' save
        if k < 0:
            self._call(lambda s: s.unlabel(rows))
        else:
            name = self.session.classes[k]
            self._call(lambda s: s.label(rows, name))
            if advance:
                self.after_label(rows)

    def label_help(self) -> None:
        """Label the target events "Need help" (the class is added on first use): events
        to ask a colleague about, kept apart from the physical classes."""
        if self.session is None:
            self.show_error("open a manifold first (Open… or Compute…)")
            return
        rows = self._target_rows()
        if len(rows) == 0:
            self.show_error("select events first (click, shift-drag, or tiles in the grid)")
            return

        def work(s):
            k = self.help_class(s)
            if k is None:
                s.add_class(HELP_CLASS)
                k = len(s.classes) - 1
            s.label(rows, s.classes[k])
        self._call(work)
        self.after_label(rows)

    @staticmethod
    def help_class(session) -> int | None:
        """Index of the session's "need help" class (any case), None when it has none."""
        names = [c.strip().lower() for c in session.classes]
        return names.index(HELP_CLASS.lower()) if HELP_CLASS.lower() in names else None

    def recommend(self, k: int = 10) -> None:
        """Fill the grid with the ``k`` events the session recommends."""
        self._call(lambda s: s.recommend(k), self.show_recommended)

    def show_recommended(self, rows) -> None:
        """Show given rows as the recommended ones (grid and diamonds on the manifold)."""
        self.recommended = np.asarray(rows, dtype=int)
        self.show_batch(self.recommended, "Recommended")

    def show_batch(self, rows, title: str) -> None:
        """Put rows in the grid as the batch the keys walk through (selection cleared)."""
        self.selected = np.zeros(0, dtype=int)
        self._skipped = set()
        self.grid.set_rows(rows, title)
        self._redraw_marks()

    def _undone(self, rows) -> None:
        # back to the event whose label was undone, so that the right key can be pressed
        if rows is not False and len(rows):
            self.clear_selection()
            self.show_row(int(rows[0]))

    def add_runs(self, paths) -> None:
        """Place new runs on the current manifold (out-of-sample, no recomputation) and go on
        labelling the combined events; the labels so far are carried over.

        The extended manifold is saved next to the current label file as
        ``<first run>.extended.manifold.h5`` with its own ``.<user>.labels.h5``.
        """
        import html
        from pathlib import Path

        from ..labelling.log import user_name
        from ..progress import log_lines

        paths = [str(p) for p in paths]

        def work(s):
            from ..io import open_run

            folder = Path(s.path).parent if s.path is not None else Path.cwd()
            out = folder / f"{Path(paths[0]).stem}.extended.manifold.h5"
            # what the command line would print (a run at another geometry, say)
            with log_lines() as notes:
                new = s.extend(open_run(paths if len(paths) > 1 else paths[0]))
            new.manifold.save(out)
            labels = out.with_name(f"{out.stem}.{user_name()}.labels.h5")
            new.save(labels)
            new.path = labels
            return new, notes

        def done(result):
            new, notes = result
            self.set_session(new)
            for note in notes:
                self.controls.status.setText(f"{self.controls.status.text()}<br>"
                                             f"<span style='color:#ff6060'>"
                                             f"{html.escape(note)}</span>")

        self.controls.status.setText(f"placing {len(paths)} run(s) on the manifold …")
        self._call(work, done)

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
        elif name == "help":
            self.label_help()
        elif name == "review":
            self.show_review()
        elif name == "undo":
            self._call(lambda s: s.undo() and s.log.actions[-1].rows, self._undone)
        elif name == "redo":
            self._call(lambda s: s.redo())
        elif name in dialogs.DIALOGS:
            dialogs.DIALOGS[name](self)
        else:
            raise ValueError(f"unknown dock action {name!r}")
