"""The events on three diffusion coordinates, in 3-D (``pyqtgraph.opengl``), as the prototype
showed them; same colours as the 2-D view, click to pick, drag to rotate, wheel to zoom.

Import this module only once :func:`psocake_labeler.gui.browse.gl_problem` said OpenGL
works (it imports PyOpenGL). Picking projects the points with the view's own matrices in
numpy, as the 2-D view does.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph.opengl as gl
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from . import picking
from .style import CURRENT, RECOMMENDED, SELECTED

PICK_RADIUS_PX = 8.0


def _scaled(xyz: np.ndarray) -> np.ndarray:
    # each axis to about [-1, 1] over the bulk of the events, so the cube looks cubic
    lo, hi = np.percentile(xyz, [2.0, 98.0], axis=0) if len(xyz) else (0.0, 1.0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return ((xyz - (lo + hi) / 2) / span * 2.0).astype(np.float32)


class ClickGLView(gl.GLViewWidget):
    """A GL view that also reports a click (press and release without a drag)."""

    sigClicked = QtCore.Signal(object, object)   # QPointF, modifiers

    def mousePressEvent(self, ev):
        self._press = ev.pos()
        super().mousePressEvent(ev)

    def mouseReleaseEvent(self, ev):
        press = getattr(self, "_press", None)
        if press is not None and (ev.pos() - press).manhattanLength() <= 3:
            self.sigClicked.emit(QtCore.QPointF(ev.pos()), ev.modifiers())
        super().mouseReleaseEvent(ev)


class ManifoldView3D(QtWidgets.QWidget):
    """Three axis boxes over a GL scatter. Signal ``sigRowClicked(row, modifiers)``."""

    sigRowClicked = QtCore.Signal(int, object)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.coords = np.zeros((0, 3))
        self.axes = (0, 1, 2)
        self.pos = np.zeros((0, 3), np.float32)
        self.boxes = [QtWidgets.QComboBox() for _ in range(3)]
        top = QtWidgets.QHBoxLayout()
        for name, box in zip("xyz", self.boxes):
            box.activated.connect(self._axis_choice)
            top.addWidget(QtWidgets.QLabel(name))
            top.addWidget(box)
        hint = QtWidgets.QLabel("click pick · drag rotate · wheel zoom")
        hint.setStyleSheet("color: gray; font-size: 9pt")
        hint.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                           QtWidgets.QSizePolicy.Policy.Preferred)
        top.addWidget(hint, 1)
        self.gl = ClickGLView()
        self.gl.setCameraPosition(distance=6.0)   # the [-1, 1] cube and its outliers in sight
        self.gl.sigClicked.connect(self._clicked)
        self.all = gl.GLScatterPlotItem(pxMode=True, size=5)
        self.marks = gl.GLScatterPlotItem(pxMode=True, size=14)
        for item in (self.all, self.marks):
            item.setGLOptions("translucent")   # the default, additive, turns dense regions white
            self.gl.addItem(item)
        self._rgba = np.zeros((0, 4), np.float32)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.gl, 1)

    def set_coords(self, coords: np.ndarray, axes: tuple[int, int, int] | None = None) -> None:
        """Set the (N, d) coordinates; ``axes`` default to the first three."""
        self.coords = np.asarray(coords, dtype=float)
        d = self.coords.shape[1]
        for box in self.boxes:
            box.clear()
            box.addItems([f"\u03c8{i + 1}" for i in range(d)])
        self.set_axes(*(axes or tuple(min(k, d - 1) for k in range(3))))

    def set_axes(self, i: int, j: int, k: int) -> None:
        """Show psi_(i+1), psi_(j+1), psi_(k+1) (0-based)."""
        self.axes = (int(i), int(j), int(k))
        for box, a in zip(self.boxes, self.axes):
            box.setCurrentIndex(a)
        self.pos = _scaled(self.coords[:, list(self.axes)])
        self._draw()

    def _axis_choice(self, _index: int) -> None:
        self.set_axes(*(b.currentIndex() for b in self.boxes))

    def set_colours(self, rgba: np.ndarray) -> None:
        """(N, 4) float colours, as the 2-D view's brushes."""
        self._rgba = np.asarray(rgba, dtype=np.float32)
        self._draw()

    def set_marks(self, selected, recommended, current) -> None:
        """Rings of the 2-D view, as bigger translucent points in the marks' colours."""
        rows, colours = [], []
        for sel, rgb in ((recommended, RECOMMENDED), (selected, SELECTED),
                         ([] if current is None else [current], CURRENT)):
            sel = np.asarray(sel, dtype=int).reshape(-1)
            rows.append(sel)
            colours.append(np.tile([*(c / 255 for c in rgb), 0.9], (len(sel), 1)))
        rows = np.concatenate(rows)
        if len(rows) == 0 or len(self.pos) == 0:
            self.marks.setData(pos=np.zeros((0, 3), np.float32))
            return
        self.marks.setData(pos=self.pos[rows], color=np.concatenate(colours).astype(np.float32))

    def _draw(self) -> None:
        if len(self.pos) == 0:
            return
        colour = self._rgba if len(self._rgba) == len(self.pos) else (0.6, 0.6, 0.6, 0.5)
        self.all.setData(pos=self.pos, color=colour)

    # -- picking ----------------------------------------------------------------------------
    def screen_xy(self) -> np.ndarray:
        """(N, 2) widget pixel position of every event as drawn now."""
        w, h = self.gl.width(), self.gl.height()
        m = _projection(self.gl.opts, w, h) * self.gl.viewMatrix()
        mvp = np.array(m.data(), dtype=float).reshape(4, 4).T     # Qt stores column-major
        p = np.c_[self.pos, np.ones(len(self.pos))] @ mvp.T
        ndc = p[:, :2] / p[:, 3:4]
        return np.c_[(ndc[:, 0] + 1) * w / 2, (1 - ndc[:, 1]) * h / 2]

    def row_at(self, x: float, y: float) -> int | None:
        """Row drawn nearest to widget pixel (x, y), within the pick radius."""
        return picking.nearest(self.screen_xy(), (x, y), PICK_RADIUS_PX)

    def _clicked(self, pos, modifiers) -> None:
        row = self.row_at(pos.x(), pos.y())
        if row is not None:
            self.sigRowClicked.emit(row, modifiers)


def _projection(opts: dict, w: int, h: int) -> QtGui.QMatrix4x4:
    """The perspective GLViewWidget draws the whole widget with: its field of view and
    clip planes at 0.001 and 1000 times the camera distance. Made here because
    ``GLViewWidget.projectionMatrix`` takes (region) in pyqtgraph 0.12 and (region,
    viewport) since 0.13."""
    near = opts["distance"] * 0.001
    r = near * math.tan(0.5 * math.radians(opts["fov"]))
    t = r * h / max(w, 1)
    m = QtGui.QMatrix4x4()
    m.frustum(-r, r, -t, t, near, opts["distance"] * 1000.0)
    return m
