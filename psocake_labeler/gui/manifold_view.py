"""Scatter of the events on two diffusion coordinates, coloured by class.

One ``ScatterPlotItem`` holds every event (a brush array from a small palette, so 10^5 points
stay smooth); a few small items on top mark user-labelled, selected, recommended and current
events. Picking is done in numpy on screen-scaled distances rather than per-point items.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets

from .style import CURRENT, RECOMMENDED, SELECTED, Palette

PICK_RADIUS_PX = 8.0
GREY = pg.mkBrush(150, 150, 150, 110)


class _Scatter(pg.ScatterPlotItem):
    """A scatter that leaves clicks to the view box, which picks in numpy (fast at 10^5)."""

    def mouseClickEvent(self, ev):
        ev.ignore()


class _SelectViewBox(pg.ViewBox):
    """A ViewBox where a left click picks and shift-drag draws a selection rectangle."""

    sigClicked = QtCore.Signal(object, object)       # data point (QPointF), modifiers
    sigRectSelected = QtCore.Signal(object, object)  # data rectangle (QRectF), modifiers

    def __init__(self):
        super().__init__()
        self._band = QtWidgets.QGraphicsRectItem()
        self._band.setPen(pg.mkPen(SELECTED, width=1, style=QtCore.Qt.PenStyle.DashLine))
        self._band.setBrush(pg.mkBrush(*SELECTED, 40))
        self._band.setZValue(1e9)
        self._band.hide()
        self.addItem(self._band, ignoreBounds=True)

    def mouseClickEvent(self, ev):
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            self.sigClicked.emit(self.mapSceneToView(ev.scenePos()), ev.modifiers())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):
        shift = bool(ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier)
        if ev.button() != QtCore.Qt.MouseButton.LeftButton or not shift:
            self._band.hide()
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        p0 = self.mapToView(ev.buttonDownPos())
        p1 = self.mapToView(ev.pos())
        rect = QtCore.QRectF(p0, p1).normalized()
        if ev.isFinish():
            self._band.hide()
            self.sigRectSelected.emit(rect, ev.modifiers())
        else:
            self._band.setRect(rect)
            self._band.show()


class ManifoldView(QtWidgets.QWidget):
    """Events on (psi_i, psi_j) with class colours; emits clicked rows and rectangle selections.

    Signals: ``sigRowClicked(row, modifiers)``, ``sigRowsSelected(rows, modifiers)``.
    """

    sigRowClicked = QtCore.Signal(int, object)
    sigRowsSelected = QtCore.Signal(object, object)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.coords = np.zeros((0, 2))
        self.axes = (0, 1)
        self.describe: Callable[[int], str] = lambda row: f"row {row}"
        self._user_rows = np.zeros(0, int)
        self._user_cls = np.zeros(0, int)
        self._selected = np.zeros(0, int)
        self._recommended = np.zeros(0, int)
        self._current: int | None = None
        self.palette: Palette | None = None
        self._brushes: np.ndarray | None = None
        self._codes: np.ndarray | None = None

        self.axis_box = QtWidgets.QComboBox()
        self.axis_box.setToolTip("Diffusion coordinates on the horizontal / vertical axes")
        self.axis_box.currentIndexChanged.connect(self._axis_choice)
        hint = QtWidgets.QLabel("click pick · ctrl-click add · shift-drag select")
        hint.setToolTip("Big points with a white edge: your labels. Faint points: propagated "
                        "with low confidence. Diamonds: recommended. Magenta ring: current "
                        "event. Cyan rings: selected.")
        hint.setStyleSheet("color: gray; font-size: 9pt")
        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("Axes"))
        top.addWidget(self.axis_box)
        top.addWidget(hint, 1)

        self.vb = _SelectViewBox()
        self.plot = pg.PlotWidget(viewBox=self.vb)
        self.plot.setMinimumSize(240, 200)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.vb.sigClicked.connect(self._clicked)
        self.vb.sigRectSelected.connect(self._rect)
        self.all = _Scatter(pxMode=True, size=5, pen=None, symbol="o")
        self.user = _Scatter(pxMode=True, size=10, pen=pg.mkPen("w", width=1.5))
        self.sel = _Scatter(pxMode=True, size=15, brush=None,
                                      pen=pg.mkPen(SELECTED, width=2))
        self.rec = _Scatter(pxMode=True, size=18, brush=None, symbol="d",
                                      pen=pg.mkPen(RECOMMENDED, width=2))
        self.cur = _Scatter(pxMode=True, size=24, brush=None, symbol="o",
                                      pen=pg.mkPen(CURRENT, width=3))
        for z, item in enumerate((self.all, self.user, self.rec, self.sel, self.cur)):
            item.setZValue(z)
            self.plot.addItem(item)
        self._hover = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=30,
                                     slot=self._hovered)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)

    # -- data -------------------------------------------------------------------------------
    def set_coords(self, coords: np.ndarray) -> None:
        """Set the (N, d) diffusion coordinates; offers every pair among the first three."""
        self.coords = np.asarray(coords, dtype=float)
        d = self.coords.shape[1] if self.coords.ndim == 2 else 0
        pairs = [(i, j) for i in range(min(d, 3)) for j in range(i + 1, min(d, 3))]
        if d == 1:
            pairs = [(0, 0)]
        self.axis_box.blockSignals(True)
        self.axis_box.clear()
        for i, j in pairs:
            self.axis_box.addItem(f"\u03c8{i + 1} / \u03c8{j + 1}", (i, j))
        self.axis_box.blockSignals(False)
        self.axes = pairs[0] if pairs else (0, 0)
        self.all.setData(pos=self._xy(), brush=GREY)
        self._brushes = None
        self._codes = None
        self.fit()

    def set_axes(self, i: int, j: int) -> None:
        """Show psi_(i+1) horizontally and psi_(j+1) vertically (0-based indices)."""
        for k in range(self.axis_box.count()):
            if self.axis_box.itemData(k) == (i, j):
                self.axis_box.setCurrentIndex(k)
                return
        raise ValueError(f"axes {(i, j)} are not offered; choose among the first three")

    def _axis_choice(self, index: int) -> None:
        data = self.axis_box.itemData(index)
        if data is None:
            return
        self.axes = tuple(data)
        brushes = self._brushes
        self.all.setData(pos=self._xy(), brush=brushes if brushes is not None else GREY)
        self._redraw_marks()
        self.fit()

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
        self.vb.setRange(xRange=(lo[0], hi[0]), yRange=(lo[1], hi[1]))

    def _xy(self, rows: np.ndarray | None = None) -> np.ndarray:
        c = self.coords if rows is None else self.coords[np.asarray(rows, dtype=int)]
        if c.size == 0:
            return np.zeros((0, 2))
        return c[:, list(self.axes)]

    def set_classes(self, palette: Palette, classes: np.ndarray, confidence: np.ndarray | None,
                    user_rows: np.ndarray, user_classes: np.ndarray) -> None:
        """Colour every event by class (-1 grey) with confidence as opacity; mark user labels."""
        codes = palette.codes_for(classes, confidence)
        # codes only compare within one palette: new classes or colours restyle everything
        old = self._codes if palette is self.palette else None
        self.palette = palette
        self._brushes = palette.brushes.ravel()[codes]
        self._codes = codes
        if old is not None and old.shape == codes.shape and self._patch(codes != old):
            pass
        else:
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
        brushes = self.palette.solid[np.clip(self._user_cls + 1, 0, len(self.palette.solid) - 1)]
        self.user.setData(pos=self._xy(self._user_rows), brush=list(brushes))

    def _redraw_marks(self) -> None:
        self._redraw_user()
        self.sel.setData(pos=self._xy(self._selected))
        self.rec.setData(pos=self._xy(self._recommended))
        cur = [] if self._current is None else [self._current]
        self.cur.setData(pos=self._xy(np.asarray(cur, dtype=int)))

    # -- picking ----------------------------------------------------------------------------
    def nearest(self, point: QtCore.QPointF, radius_px: float = PICK_RADIUS_PX) -> int | None:
        """Row nearest to a data-space point within ``radius_px`` screen pixels, or None."""
        if len(self.coords) == 0:
            return None
        px, py = self.vb.viewPixelSize()
        xy = self._xy()
        d2 = ((xy[:, 0] - point.x()) / px) ** 2 + ((xy[:, 1] - point.y()) / py) ** 2
        row = int(np.argmin(d2))
        return row if d2[row] <= radius_px ** 2 else None

    def rows_in(self, rect: QtCore.QRectF) -> np.ndarray:
        """Rows whose point lies inside a data-space rectangle."""
        xy = self._xy()
        inside = ((xy[:, 0] >= rect.left()) & (xy[:, 0] <= rect.right())
                  & (xy[:, 1] >= rect.top()) & (xy[:, 1] <= rect.bottom()))
        return np.flatnonzero(inside)

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
