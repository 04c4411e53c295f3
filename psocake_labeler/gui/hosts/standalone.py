"""The stand-alone window: the Label Manifold dock next to a small image viewer of its own.

For labelling exported files away from Psocake. The viewer (a ``pg.ImageView`` on a
``PlotItem``, y down like Psocake's) shows ``Run.image`` of the current event, read from the
file named in the manifold's event table.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from pyqtgraph.dockarea import Dock, DockArea
from pyqtgraph.Qt import QtCore, QtWidgets

from ..dock import LabelManifoldDock
from ..preflight import headless
from .base import Host


def purge_dead_views() -> None:
    """Remove deleted view boxes from pyqtgraph's registry of views.

    The registry keeps a view until its Python wrapper is collected; any new named view
    then calls every registered view, and a deleted one raises or crashes.
    """
    from pyqtgraph.Qt import isQObjectAlive

    for v in list(pg.ViewBox.AllViews.keys()):
        if not isQObjectAlive(v):
            pg.ViewBox.AllViews.pop(v, None)
    for name, v in list(pg.ViewBox.NamedViews.items()):
        if not isQObjectAlive(v):
            pg.ViewBox.NamedViews.pop(name, None)


def forget_on_destroy(image_view) -> None:
    """Make an ImageView's named view boxes safe to delete.

    ImageView registers its views under a fixed name, and pyqtgraph's ``destroyed`` callback
    then updates every other view while windows are being deleted, which can crash the
    process (Python code run from ``destroyed`` during garbage collection). We drop that
    callback; dead entries are purged whenever a new window is built.
    """
    purge_dead_views()
    boxes = [image_view.getView().getViewBox(), image_view.ui.roiPlot.getPlotItem().getViewBox()]
    for vb in boxes:
        try:
            vb.destroyed.disconnect()
        except (TypeError, RuntimeError):
            pass


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
        app = QtWidgets.QApplication.instance()
        for _ in range(5):
            app.processEvents()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        image = self.grab().toImage()
        if image.size() != self.size():
            # a fractional device pixel ratio (Qt's offscreen screen has 100/96): save the
            # window at its own size, as the user sees it at 1400 x 900
            image = image.scaled(self.size(), QtCore.Qt.AspectRatioMode.IgnoreAspectRatio,
                                 QtCore.Qt.TransformationMode.SmoothTransformation)
        if not image.save(str(path)):
            raise OSError(f"could not write screenshot {path}")
        return path


_CLOSED: list = []


def dispose(window: QtWidgets.QWidget) -> None:
    """Finish background work and close a window, keeping it referenced until exit.

    Deleting windows that hold pyqtgraph ImageViews can crash later paints of their items;
    a command exits right after closing anyway.
    """
    dock = getattr(window, "dock", None)
    if dock is not None:
        dock.wait()
    window.close()
    _CLOSED.append(window)


# Harmless messages of Qt's offscreen platform that would only clutter the demo's output.
_QUIET = ("does not support propagateSizeHints", "XDG_RUNTIME_DIR not set")


def _qt_messages(mode, context, message) -> None:
    if not any(q in message for q in _QUIET):
        import sys

        print(message, file=sys.stderr)


def app() -> QtWidgets.QApplication:
    """The QApplication, offscreen when there is no display."""
    import os

    if headless() and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if QtWidgets.QApplication.instance() is None:
        QtCore.qInstallMessageHandler(_qt_messages)
    return pg.mkQApp("psocake-labeler")
