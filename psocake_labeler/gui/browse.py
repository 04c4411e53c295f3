"""How the dock shows the manifold: axes, filters, jump to an event, similar events.

A mixin of :class:`~psocake_labeler.gui.dock.LabelManifoldDock`. Computations run on the
dock's workers and only their answers are drawn.
"""
from __future__ import annotations

import numpy as np

from . import settings


class DockBrowse:
    """Axes, filters and search of the Label Manifold dock."""

    def choose_axes(self, forget: bool = False) -> None:
        """Show the axes remembered for this manifold, else (or with ``forget``) the pair
        that best separates its clusters; worked out in the background."""
        from ..embedding.views import best_axes

        m = self.manifold
        if m is None:
            return

        def work(progress):
            key = settings.manifold_key(m)
            if forget:
                settings.save_axes(key, None)
            saved = settings.saved_axes(key, np.asarray(m.coords).shape[1])
            return key, saved or best_axes(m.coords)

        def done(result):
            if self.manifold is m:
                self._view_key, axes = result
                self.view.set_axes(*axes)
                self._redraw_marks()

        self.runner.start(work, done)

    def _axes_chosen(self, i: int, j: int) -> None:
        if self._view_key is not None:
            settings.save_axes(self._view_key, (i, j))

    def find_similar(self, k: int = 24) -> None:
        """Put the current event and its nearest neighbours on the manifold (diffusion
        distance) into the grid, to label them together."""
        from ..embedding.views import similar_rows

        if self.session is None or self.current_row is None:
            self.show_error("choose an event first (click it), then S finds similar ones")
            return
        row = int(self.current_row)
        rows = similar_rows(np.asarray(self.manifold.coords),
                            np.asarray(getattr(self.manifold, "eigenvalues", [])), row, k)
        self.show_batch(rows, f"Similar to run {int(self.events[row]['run'])} "
                              f"event {int(self.events[row]['event'])}")
        self.show_row(row)
