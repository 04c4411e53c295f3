"""The stand-alone window: the Label Manifold dock next to the image viewer of its own.

For labelling exported files away from Psocake. This module builds the window (dock area,
sizes), steps through rows, opens a manifold and saves the window; the viewer is
``hosts/viewer.py``, the Qt application ``gui/qtapp.py``, the PNG ``gui/screenshot.py``.
"""
from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from pyqtgraph.dockarea import Dock, DockArea
from pyqtgraph.Qt import QtWidgets

from ..dock import LabelManifoldDock
from ..screenshot import save_png
from ..viewboxes import purge_dead_views
from .viewer import StandaloneHost


class StandaloneWindow(QtWidgets.QMainWindow):
    """Main window: image viewer on the left, the Label Manifold dock on the right."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        pg.setConfigOptions(imageAxisOrder="row-major")  # as Psocake sets it
        purge_dead_views()
        self.setWindowTitle("psocake-labeler")
        self.area = DockArea()
        self.setCentralWidget(self.area)
        self.host = StandaloneHost(self)
        self.viewer_dock = Dock("Image", size=(560, 860), widget=self.host.widget)
        self.dock = LabelManifoldDock(self.host, size=(840, 860))
        self.area.addDock(self.viewer_dock, "left")
        self.area.addDock(self.dock, "right", self.viewer_dock)
        self.host.prev.clicked.connect(lambda: self.step(-1))
        self.host.next.clicked.connect(lambda: self.step(+1))
        self.resize(1400, 900)   # ten tiles in sight at this size (tests check it)
        # the dock area splits by size hints, which the grid's tiles inflate: say it plainly
        self.area.topContainer.setSizes([560, 840])

    def step(self, delta: int) -> None:
        """Go to the previous / next row of the manifold."""
        if self.dock.events is None or len(self.dock.events) == 0:
            return
        row = self.dock.current_row if self.dock.current_row is not None else -delta
        self.dock.show_row((row + delta) % len(self.dock.events))

    def open(self, manifold: str | Path, labels: str | Path | None = None) -> None:
        """Open a manifold (and labels) in the dock."""
        self.dock.open_manifold(manifold, labels)
        self.host.files.search_dirs.append(Path(manifold).parent)

    def screenshot(self, path: str | Path) -> Path:
        """Wait for background work, draw, and save the window as PNG."""
        self.dock.wait()
        return save_png(self, path)
