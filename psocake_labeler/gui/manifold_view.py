"""Scatter of the events on two diffusion coordinates, coloured by class.

One ``ScatterPlotItem`` holds every event (a brush array from a small palette, so 10^5 points
stay smooth); from ``DENSITY_FROM`` events on, a density image of the visible range takes
its place (density.py: a paint of 10^6 points took seconds). A few small items on top mark
user-labelled, selected, recommended and current events. Picking is done in numpy on
screen-scaled distances rather than per-point items.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets

from . import picking
from .density import DensityLayer
from .select_box import Scatter, SelectViewBox
from .style import CURRENT, RECOMMENDED, SELECTED, Palette, hex_colour

PICK_RADIUS_PX = 8.0
#: From this many events on, the events are drawn as a density image, not as points.
DENSITY_FROM = 200_000
GREY = pg.mkBrush(150, 150, 150, 110)


class ManifoldView(QtWidgets.QWidget):
    """Events on (psi_i, psi_j) with class colours; emits clicked rows and selections.

    Signals: ``sigRowClicked(row, modifiers)``, ``sigRowsSelected(rows, modifiers)`` (a
    rectangle or a lasso), ``sigAxesChosen(i, j)`` when the user picks axes,
    ``sigAutoAxes()`` when the user asks for the automatic choice.
    """

    sigRowClicked = QtCore.Signal(int, object)
    sigRowsSelected = QtCore.Signal(object, object)
    sigAxesChosen = QtCore.Signal(int, int)
    sigAutoAxes = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.coords = np.zeros((0, 2))
        self._xy_all: np.ndarray | None = None
        self.axes = (0, 1)
        self.visible: np.ndarray | None = None     # filter: None shows every event
        self.describe: Callable[[int], str] = lambda row: f"row {row}"
        self._user_rows = np.zeros(0, int)
        self._user_cls = np.zeros(0, int)
        self._selected = np.zeros(0, int)
        self._recommended = np.zeros(0, int)
        self._current: int | None = None
        self.palette: Palette | None = None
        self._brushes: np.ndarray | None = None
        self.codes: np.ndarray | None = None

        self.x_box, self.y_box = QtWidgets.QComboBox(), QtWidgets.QComboBox()
        for box, which in ((self.x_box, "horizontal"), (self.y_box, "vertical")):
            box.setToolTip(f"Diffusion coordinate on the {which} axis")
            box.activated.connect(self._axis_choice)
        self.auto_axes = QtWidgets.QPushButton("auto")
        self.auto_axes.setToolTip("Choose the pair of coordinates that best separates the "
                                  "manifold's clusters (forgets your choice)")
        self.auto_axes.clicked.connect(self.sigAutoAxes)
        self.shape_box = QtWidgets.QComboBox()
        self.shape_box.addItems(["rectangle", "lasso"])
        self.shape_box.setToolTip("Shape of a shift-drag selection")
        self.shape_box.currentTextChanged.connect(
            lambda text: setattr(self.vb, "lasso", text == "lasso"))
        hint = QtWidgets.QLabel("click pick · ctrl-click add · shift-drag select")
        hint.setStyleSheet("color: gray; font-size: 9pt")
        # the hint gives way when the dock is narrow (Psocake's dock area is crowded)
        hint.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                           QtWidgets.QSizePolicy.Policy.Preferred)
        top = QtWidgets.QHBoxLayout()
        for w in (QtWidgets.QLabel("x"), self.x_box, QtWidgets.QLabel("y"), self.y_box,
                  self.auto_axes, QtWidgets.QLabel("select"), self.shape_box):
            top.addWidget(w)
        top.addWidget(hint, 1)
        self.legend = QtWidgets.QLabel("")
        self.legend.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setToolTip("Big points with a white edge: your labels. Faint points: "
                               "propagated with low confidence.")

        self.vb = SelectViewBox()
        self.plot = pg.PlotWidget(viewBox=self.vb)
        self.plot.setMinimumSize(240, 160)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.vb.sigClicked.connect(self._clicked)
        self.vb.sigRectSelected.connect(self._rect)
        self.vb.sigPolygonSelected.connect(self._polygon)
        self.all = Scatter(pxMode=True, size=5, pen=None, symbol="o")
        self.user = Scatter(pxMode=True, size=10, pen=pg.mkPen("w", width=1.5))
        self.sel = Scatter(pxMode=True, size=15, brush=None,
                            pen=pg.mkPen(SELECTED, width=2))
        self.rec = Scatter(pxMode=True, size=18, brush=None, symbol="d",
                            pen=pg.mkPen(RECOMMENDED, width=2))
        self.cur = Scatter(pxMode=True, size=24, brush=None, symbol="o",
                            pen=pg.mkPen(CURRENT, width=3))
        self._add_layers()
        self._hover = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=30,
                                     slot=self._hovered)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.legend)

    def _add_layers(self) -> None:
        """The density image (many events), the scatter and the marks, bottom to top."""
        self.density = DensityLayer()
        self.dense = False
        for z, item in enumerate((self.density.item, self.all, self.user, self.rec, self.sel,
                                  self.cur)):
            item.setZValue(z)
            self.plot.addItem(item)
        self.density.item.setVisible(False)
        # A zoom or pan re-bins the density image once the view has been still for a moment.
        self._rebin_timer = QtCore.QTimer(self)
        self._rebin_timer.setSingleShot(True)
        self._rebin_timer.setInterval(60)
        self._rebin_timer.timeout.connect(self._rebin)
        for signal in (self.vb.sigRangeChanged, self.vb.sigResized):
            signal.connect(lambda *_: self.dense and self._rebin_timer.start())

    # -- data -------------------------------------------------------------------------------
    def set_coords(self, coords: np.ndarray) -> None:
        """Set the (N, d) diffusion coordinates; every component is offered on both axes."""
        self.coords = np.asarray(coords, dtype=float)
        self._xy_all: np.ndarray | None = None
        d = self.coords.shape[1] if self.coords.ndim == 2 else 0
        for box in (self.x_box, self.y_box):
            box.blockSignals(True)
            box.clear()
            for i in range(d):
                box.addItem(f"\u03c8{i + 1}", i)
            box.blockSignals(False)
        self.visible = None
        self.density.set_visible(None)   # new rows, none hidden (set_visible(None) is then a no-op)
        self._brushes = None
        self.codes = None
        self.dense = len(self.coords) >= DENSITY_FROM
        self.density.item.setVisible(self.dense)
        self.all.setVisible(not self.dense)
        if d:
            self.set_axes(0, min(1, d - 1))

    def set_axes(self, i: int, j: int) -> None:
        """Show psi_(i+1) horizontally and psi_(j+1) vertically (0-based indices)."""
        d = self.x_box.count()
        if not (0 <= i < d and 0 <= j < d):
            raise ValueError(f"axes {(i, j)}: the manifold has components 0..{d - 1}")
        self.x_box.setCurrentIndex(i)
        self.y_box.setCurrentIndex(j)
        self.axes = (int(i), int(j))
        brushes = self._brushes
        self._xy_all = None
        if self.dense:
            self.density.set_points(self._xy())   # binned once, on the range fit() sets
        else:
            self.all.setData(pos=self._xy(), brush=brushes if brushes is not None else GREY)
        self._apply_visible()
        self._redraw_marks()
        self.fit()

    def _axis_choice(self, _index: int) -> None:
        i, j = self.x_box.currentIndex(), self.y_box.currentIndex()
        if i == j:   # one component on both axes shows nothing: the other axis takes the old
            if self.sender() is self.y_box:
                i = self.axes[1]
            else:
                j = self.axes[0]
        self.set_axes(i, j)
        self.sigAxesChosen.emit(i, j)

    def set_visible(self, visible: np.ndarray | None) -> None:
        """Show only the rows where ``visible`` is True (None: all); hidden rows are not
        picked or selected either. The same rows as now draw nothing again: after each
        click the filter is worked out anew, and a re-bin would undo the density image's
        patch of the changed pixels."""
        new = None if visible is None else np.asarray(visible, dtype=bool)
        same = (new is None) == (self.visible is None) and (
            new is None or np.array_equal(new, self.visible))
        self.visible = new
        if same:
            self._redraw_user()
        else:
            self._apply_visible()

    def _apply_visible(self) -> None:
        n = len(self.coords)
        if self.dense:
            self.density.set_visible(self.visible)
        else:
            self.all.setPointsVisible(np.ones(n, bool) if self.visible is None
                                      else self.visible)
        self._redraw_user()

    def fit(self) -> None:
        """Zoom to the bulk of the events: the 2-98 percentile box, padded by 20 %.

        Diffusion coordinates often have a few far outliers (small, weakly connected groups);
        a plain auto-range would squeeze everything else into a line. Right-click "View All"
        still shows every point.
        """
        xy = self._xy()
        if len(xy) == 0:
            return
        lo, hi = np.percentile(xy, [2.0, 98.0], axis=0)
        span = np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1e-12))
        lo = np.maximum(lo - 0.2 * span, xy.min(axis=0))
        hi = np.minimum(hi + 0.2 * span, xy.max(axis=0))
        # a margin beyond the outermost events: tight clusters at the edge are not cut
        margin = 0.04 * np.where(hi > lo, hi - lo, 1.0)
        lo, hi = lo - margin, hi + margin
        self.vb.setRange(xRange=(lo[0], hi[0]), yRange=(lo[1], hi[1]))
        if self.dense:
            self._rebin()

    def _rebin(self) -> None:
        (x0, x1), (y0, y1) = self.vb.viewRange()
        rect = self.vb.boundingRect()
        self.density.set_view((x0, x1), (y0, y1), (rect.width(), rect.height()))

    def _xy(self, rows: np.ndarray | None = None) -> np.ndarray:
        if rows is None:
            # kept per axes: picking and hovering ask for every point (10^6 at scale)
            if self._xy_all is None or len(self._xy_all) != len(self.coords):
                self._xy_all = (self.coords[:, list(self.axes)] if self.coords.size
                                else np.zeros((0, 2)))
            return self._xy_all
        c = self.coords[np.asarray(rows, dtype=int)]
        if c.size == 0:
            return np.zeros((0, 2))
        return c[:, list(self.axes)]

    def set_classes(self, palette: Palette, classes: np.ndarray, confidence: np.ndarray | None,
                    user_rows: np.ndarray, user_classes: np.ndarray) -> None:
        """Colour every event by class (-1 grey) with confidence as opacity; mark user labels."""
        codes = palette.codes_for(classes, confidence)
        # codes only compare within one palette: new classes or colours restyle everything
        old = self.codes if palette is self.palette else None
        if palette is not self.palette:
            self.legend.setText(legend_html(palette))
        self.palette = palette
        self.codes = codes
        if self.dense:
            if old is not None and old.shape == codes.shape:
                rows = np.flatnonzero(codes != old)
                self.density.update(rows, codes[rows])
            else:
                self.density.set_styles(palette.rgba, codes)
        else:
            self._brushes = palette.brushes.ravel()[codes]
            if old is None or old.shape != codes.shape or not self._patch(codes != old):
                self.all.setBrush(self._brushes)
        self._user_rows = np.asarray(user_rows, dtype=int)
        self._user_cls = np.asarray(user_classes, dtype=int)
        self._redraw_user()

    def restyle(self, rows: np.ndarray, classes: np.ndarray, confidence: np.ndarray | None,
                user_rows: np.ndarray, user_classes: np.ndarray) -> None:
        """Like :meth:`set_classes` for ``rows`` only (their class and confidence given), the
        palette unchanged: what a label changes when nothing was propagated."""
        if self.codes is None or self.palette is None:
            return
        rows = np.asarray(rows, dtype=np.int64)
        new = self.palette.codes_for(classes, confidence)
        self.codes[rows] = new              # (the density layer keeps its own copy)
        if self.dense:
            self.density.update(rows, new)
        else:
            self._brushes[rows] = self.palette.brushes.ravel()[new]
            changed = np.zeros(len(self.codes), dtype=bool)
            changed[rows] = True
            if not self._patch(changed):
                self.all.setBrush(self._brushes)
        self._user_rows = np.asarray(user_rows, dtype=int)
        self._user_cls = np.asarray(user_classes, dtype=int)
        self._redraw_user()

    def _patch(self, changed: np.ndarray) -> bool:
        """Restyle only the changed points: a label touches few rows, not 10^5.

        Uses ScatterPlotItem's per-point record array (pyqtgraph >= 0.12); returns False to
        fall back to ``setBrush`` if that layout is not there.
        """
        data = self.all.data
        if "brush" not in (data.dtype.names or ()) or "sourceRect" not in data.dtype.names:
            return False
        rows = np.flatnonzero(changed)
        if len(rows) == 0:
            return True
        if len(rows) > len(data) // 4:
            return False
        data["brush"][rows] = self._brushes[rows]
        data["sourceRect"][rows] = 0
        self.all.updateSpots(data)
        return True

    def set_marks(self, selected=None, recommended=None, current=-1) -> None:
        """Mark selected rows, recommended rows and the current row (None leaves as is)."""
        if selected is not None:
            self._selected = np.asarray(selected, dtype=int)
        if recommended is not None:
            self._recommended = np.asarray(recommended, dtype=int)
        if current != -1:
            self._current = current
        self._redraw_marks()

    def _redraw_user(self) -> None:
        if self.palette is None or len(self._user_rows) == 0:
            self.user.setData(pos=np.zeros((0, 2)))
            return
        rows, cls = self._user_rows, self._user_cls
        if self.visible is not None:   # a filter hides labelled events too
            keep = self.visible[rows]
            rows, cls = rows[keep], cls[keep]
        brushes = self.palette.solid[np.clip(cls + 1, 0, len(self.palette.solid) - 1)]
        self.user.setData(pos=self._xy(rows), brush=list(brushes))

    def _redraw_marks(self) -> None:
        self._redraw_user()
        self.sel.setData(pos=self._xy(self._selected))
        self.rec.setData(pos=self._xy(self._recommended))
        cur = [] if self._current is None else [self._current]
        self.cur.setData(pos=self._xy(np.asarray(cur, dtype=int)))

    # -- picking ----------------------------------------------------------------------------
    def nearest(self, point: QtCore.QPointF, radius_px: float = PICK_RADIUS_PX) -> int | None:
        """Row nearest to a data-space point within ``radius_px`` screen pixels, or None."""
        return picking.nearest(self._xy(), (point.x(), point.y()), radius_px, self.visible,
                               scale=self.vb.viewPixelSize())

    def rows_in(self, rect: QtCore.QRectF) -> np.ndarray:
        """Rows whose point lies inside a data-space rectangle."""
        return picking.in_rect(self._xy(), rect.left(), rect.top(), rect.right(),
                               rect.bottom(), self.visible)

    def rows_in_polygon(self, polygon: np.ndarray) -> np.ndarray:
        """Rows whose point lies inside a data-space polygon ((n, 2) vertices)."""
        return picking.in_polygon(self._xy(), polygon, self.visible)

    def scene_pos_of(self, row: int) -> QtCore.QPointF:
        """Scene position of a row's point (for tests and tooltips)."""
        x, y = self._xy([row])[0]
        return self.vb.mapViewToScene(QtCore.QPointF(float(x), float(y)))

    def widget_pos_of(self, row: int) -> QtCore.QPoint:
        """Position of a row's point in ``self.plot.viewport()`` coordinates."""
        return self.plot.mapFromScene(self.scene_pos_of(row))

    def _clicked(self, point, modifiers) -> None:
        row = self.nearest(point)
        if row is not None:
            self.sigRowClicked.emit(row, modifiers)

    def _rect(self, rect, modifiers) -> None:
        self.sigRowsSelected.emit(self.rows_in(rect), modifiers)

    def _polygon(self, polygon, modifiers) -> None:
        self.sigRowsSelected.emit(self.rows_in_polygon(polygon), modifiers)

    def _hovered(self, args) -> None:
        scene_pos = args[0]
        if not self.vb.sceneBoundingRect().contains(scene_pos):
            return
        row = self.nearest(self.vb.mapSceneToView(scene_pos))
        text = "" if row is None else self.describe(row)
        self.plot.setToolTip(text)
        if text:
            QtWidgets.QToolTip.showText(self.plot.mapToGlobal(self.plot.mapFromScene(scene_pos)),
                                        text, self.plot)
        else:
            QtWidgets.QToolTip.hideText()


def legend_html(palette: Palette) -> str:
    """One line of coloured dots naming each class, and what the marks mean."""
    dot = "<span style='color:{}'>&#9679;</span>&nbsp;{}"
    parts = [dot.format(hex_colour(rgb), name) for name, rgb in zip(palette.classes,
                                                                      palette.colours)]
    parts.append(dot.format(hex_colour((150, 150, 150)), "unlabelled"))
    marks = [(RECOMMENDED, "&#9671;", "recommended"), (CURRENT, "&#9711;", "current"),
             (SELECTED, "&#9711;", "selected")]
    parts += [f"<span style='color:{hex_colour(c)}'>{sym}</span>&nbsp;{name}"
              for c, sym, name in marks]
    return "<small>" + " &nbsp; ".join(parts) + "</small>"
