"""The plot pieces behind the manifold view's mouse: picking clicks and shift-drag selections.

The scatter leaves clicks to the view box, which picks in numpy (fast at 10^5 points); the
view box draws the rectangle or lasso while dragging and emits it in data coordinates.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from .style import SELECTED


class Scatter(pg.ScatterPlotItem):
    """A scatter that leaves clicks to the view box, which picks in numpy (fast at 10^5)."""

    def mouseClickEvent(self, ev):
        ev.ignore()


class SelectViewBox(pg.ViewBox):
    """A ViewBox where a left click picks and shift-drag selects: a rectangle, or a free
    polygon (lasso) when ``lasso`` is True."""

    sigClicked = QtCore.Signal(object, object)       # data point (QPointF), modifiers
    sigRectSelected = QtCore.Signal(object, object)  # data rectangle (QRectF), modifiers
    sigPolygonSelected = QtCore.Signal(object, object)  # (n, 2) data points, modifiers

    def __init__(self):
        super().__init__()
        self.lasso = False
        self._lasso_points: list[QtCore.QPointF] = []
        pen = pg.mkPen(SELECTED, width=1, style=QtCore.Qt.PenStyle.DashLine)
        self._band = QtWidgets.QGraphicsRectItem()
        self._path = QtWidgets.QGraphicsPathItem()
        for item in (self._band, self._path):
            item.setPen(pen)
            item.setBrush(pg.mkBrush(*SELECTED, 40))
            item.setZValue(1e9)
            item.hide()
            self.addItem(item, ignoreBounds=True)

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
            self._path.hide()
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if self.lasso:
            self._lasso_drag(ev)
            return
        rect = QtCore.QRectF(self.mapToView(ev.buttonDownPos()), self.mapToView(ev.pos()))
        rect = rect.normalized()
        if ev.isFinish():
            self._band.hide()
            self.sigRectSelected.emit(rect, ev.modifiers())
        else:
            self._band.setRect(rect)
            self._band.show()

    def _lasso_drag(self, ev) -> None:
        if ev.isStart() or not self._lasso_points:
            self._lasso_points = [self.mapToView(ev.buttonDownPos())]
        self._lasso_points.append(self.mapToView(ev.pos()))
        if ev.isFinish():
            self._path.hide()
            poly = np.array([[p.x(), p.y()] for p in self._lasso_points])
            self._lasso_points = []
            self.sigPolygonSelected.emit(poly, ev.modifiers())
            return
        path = QtGui.QPainterPath(self._lasso_points[0])
        for p in self._lasso_points[1:]:
            path.lineTo(p)
        path.closeSubpath()
        self._path.setPath(path)
        self._path.show()
