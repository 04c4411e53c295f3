"""How the dock shows the manifold: axes, filters, jump to an event, similar events.

A mixin of :class:`~psocake_labeler.gui.dock.LabelManifoldDock`. Computations run on the
dock's workers and only their answers are drawn.
"""
from __future__ import annotations

import functools

import numpy as np
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from . import settings
from .filters import ANY, FilterBar, filter_mask, parse_run_event


def gl_problem() -> str | None:
    """None when an OpenGL >= 2.1 context can be made here, else why not (one line)."""
    try:
        import OpenGL.GL  # noqa: F401  (PyOpenGL, which pyqtgraph.opengl needs)
    except ImportError:
        return "the 3-D view needs PyOpenGL: pip install PyOpenGL"
    ctx = QtGui.QOpenGLContext()
    if not ctx.create():
        return "no OpenGL context can be created on this display"
    surface = QtGui.QOffscreenSurface()
    surface.setFormat(ctx.format())
    surface.create()
    version = ctx.format().version()
    if not ctx.isOpenGLES() and tuple(version) < (2, 1):
        return (f"this display offers OpenGL {version[0]}.{version[1]} "
                f"({QtGui.QGuiApplication.platformName()}); the 3-D view needs 2.1")
    return None


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
                # at open, the axes drawn already: not drawn again, and the user's zoom kept
                if forget or tuple(axes) != self.view.axes:
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

    # -- filters and search ----------------------------------------------------------------
    def build_grid_pane(self) -> QtWidgets.QWidget:
        """The filter bar above the event grid."""
        self.filters = FilterBar()
        self.filter_mask: np.ndarray | None = None
        self.filters.sigFilter.connect(self.apply_filter)
        self.filters.sigJump.connect(self.jump_to)
        self.filters.sigSimilar.connect(self.find_similar)
        pane = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(pane)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.filters)
        lay.addWidget(self.grid, 1)
        return pane

    def _mask(self) -> np.ndarray | None:
        f = self.filters
        final, conf, rows, _, _ = self.final_labels()
        user = np.zeros(len(final), dtype=bool)
        user[rows] = True
        name = f.class_name
        k = self.session.classes.index(name) if name in self.session.classes else None
        return filter_mask(final, conf, user, f.show, k, f.limit, f.threshold), conf

    def apply_filter(self) -> None:
        """Show only the events the filter bar asks for: on the manifold, and in the grid
        (least confident first), the first one current."""
        if self.session is None:
            return
        self.filter_mask, conf = self._mask()
        self.view.set_visible(self.filter_mask)
        if self.filter_mask is None:
            self.next_batch()
            return
        rows = np.flatnonzero(self.filter_mask)
        rows = rows[np.argsort(conf[rows], kind="stable")]
        f = self.filters
        limit = "" if f.limit == ANY else f" · {f.limit} {f.threshold:.2f}"
        self.show_batch(rows, f"Filter: {f.show}{limit}")
        if len(rows):
            self.show_row(int(rows[0]))

    def refilter(self) -> None:
        """After labels changed: the manifold shows the filter's events as they are now
        (the grid keeps its batch, so that the keys go on through it)."""
        if self.filter_mask is not None:
            self.filter_mask = self._mask()[0]
            self.view.set_visible(self.filter_mask)

    def jump_to(self, text: str) -> None:
        """Make (run, event), typed as "93 4661", the current event."""
        if self.session is None:
            self.show_error("open a manifold first")
            return
        found = parse_run_event(text, np.unique(self.events["run"]))
        row = self.row_of(*found) if found is not None else None
        if row is None:
            what = f"run {found[0]} event {found[1]}" if found else repr(text)
            self.show_error(f"{what} is not on this manifold (type: run event)")
            return
        self.clear_selection()
        self.show_row(row)

    # -- 3-D --------------------------------------------------------------------------------
    def build_view_tabs(self) -> QtWidgets.QTabWidget:
        """Tabs "2-D" (the manifold view) and "3-D" (built when first shown)."""
        self.view_tabs = QtWidgets.QTabWidget()
        self.view_tabs.setDocumentMode(True)
        self.view_tabs.addTab(self.view, "2-D")
        self.view_tabs.addTab(QtWidgets.QWidget(), "3-D")
        self.view_tabs.currentChanged.connect(self._view_tab)
        self.view3d = None
        self.gl_problem: str | None = None
        return self.view_tabs

    def _view_tab(self, index: int) -> None:
        if index == 1 and self.view3d is None and self.gl_problem is None:
            self.gl_problem = gl_problem()
            if self.gl_problem is not None:
                page = QtWidgets.QLabel(self.gl_problem)
                page.setWordWrap(True)
                page.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            else:
                from .view3d import ManifoldView3D

                page = self.view3d = ManifoldView3D()
                page.sigRowClicked.connect(self._point_clicked)
            self.view_tabs.blockSignals(True)
            self.view_tabs.removeTab(1)
            self.view_tabs.insertTab(1, page, "3-D")
            self.view_tabs.setCurrentIndex(1)
            self.view_tabs.blockSignals(False)
        self.update_3d()

    def update_3d(self, marks_only: bool = False) -> None:
        """Redraw the 3-D view if it is shown (it costs nothing while hidden)."""
        v = self.view3d
        if v is None or self.view_tabs.currentIndex() != 1 or self.manifold is None:
            return
        if not marks_only:
            coords = np.asarray(self.manifold.coords)
            if v.coords is not coords:
                from ..embedding.views import best_axes

                v.set_coords(coords, best_axes(coords, n=3))
            pal, codes = self.view.palette, self.view.codes
            if pal is not None and codes is not None:
                v.set_colours(rgba_table(pal)[codes])
        v.set_marks(self.selected, self.recommended, self.current_row)


@functools.lru_cache(maxsize=4)   # per palette object: rebuilt when classes change
def rgba_table(palette) -> np.ndarray:
    """(codes, 4) float RGBA of a palette's brushes, indexed like ``Palette.codes_for``."""
    return np.array([b.color().getRgbF() for b in palette.brushes.ravel()], np.float32)
