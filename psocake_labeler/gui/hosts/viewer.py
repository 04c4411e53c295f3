"""The stand-alone window's image viewer, as a :class:`Host`: the dock's current event,
read from the file named in the manifold's event table and drawn (log scale optional).

A ``pg.ImageView`` on a ``PlotItem``, y down like Psocake's, with previous / next buttons
(the window connects them) and a caption naming the event and its file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets

from ..viewboxes import forget_on_destroy
from .base import Host


class StandaloneHost(Host):
    """A host whose viewer shows images from the run files."""

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.viewer = pg.ImageView(view=pg.PlotItem())
        forget_on_destroy(self.viewer)
        self.viewer.getView().invertY(True)
        self.viewer.getView().setAspectLocked(True)
        for button in (self.viewer.ui.roiBtn, self.viewer.ui.menuBtn):
            button.hide()   # ROI plots and normalisation: not for labelling, and they take room
        self.caption = QtWidgets.QLabel("no event")
        # a long file name must not widen the viewer: the dock's tiles need the room
        self.caption.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                   QtWidgets.QSizePolicy.Policy.Preferred)
        self.log = QtWidgets.QCheckBox("log scale")
        self.log.setChecked(True)
        self.log.toggled.connect(self._redraw)
        self.prev = QtWidgets.QPushButton("◀ previous")
        self.next = QtWidgets.QPushButton("next ▶")
        bar = QtWidgets.QHBoxLayout()
        for w in (self.prev, self.next, self.log):
            bar.addWidget(w)
        bar.addWidget(self.caption, 1)
        self.widget = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(self.widget)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(bar)
        lay.addWidget(self.viewer, 1)
        self._current: tuple[str, int, int] | None = None
        self._image: np.ndarray | None = None

    def go_to(self, source: str, run: int, event: int) -> None:
        """Read and show the event, then tell the dock."""
        self._current = (str(source), int(run), int(event))
        self._image = self.image(*self._current)
        name = Path(str(source)).name
        if self._image is None:
            self.caption.setText(f"run {run} event {event}: no image in {name}")
            self.viewer.clear()
        else:
            self.caption.setText(f"run {run} · event {event} · {name}")
            self._redraw()
        self.sigEventChanged.emit((int(run), int(event)))

    def _redraw(self, *_) -> None:
        if self._image is None:
            return
        img = np.nan_to_num(self._image, nan=0.0, posinf=0.0, neginf=0.0)
        if self.log.isChecked():
            img = np.log1p(np.clip(img, 0, None))
        lo, hi = np.percentile(img, [1.0, 99.7])
        self.viewer.setImage(img, levels=(lo, max(hi, lo + 1e-6)), autoRange=True)

    def current_event(self) -> tuple[int, int] | None:
        return None if self._current is None else self._current[1:]

    def image_view(self):
        return self.viewer
