"""The average pattern of each class, in a window: the mean image of its confident events.

A wrong class shows at a glance (a droplet's rings in the Singles' mean). The means are
computed on the dock's worker (``labelling.averages.session_averages``: images read in
chunks, at most 1000 per class), so the dock keeps answering keys meanwhile.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets


class AveragesWindow(QtWidgets.QDialog):
    """One tile per class: its mean image (log scale), name, and how many events it holds."""

    def __init__(self, dock):
        super().__init__(dock)
        self.setWindowTitle("Class averages")
        self.status = QtWidgets.QLabel("computing the mean image of each class …")
        self.status.setWordWrap(True)
        self.plots = pg.GraphicsLayoutWidget()
        self.titles: list[str] = []
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.status)
        lay.addWidget(self.plots, 1)
        self.resize(280 * max(2, min(len(dock.session.classes), 5)), 360)

    def show_result(self, result, names: list[str], colours: list[str]) -> None:
        """Draw ``result`` (a ``ClassAverages``); classes without an image say why."""
        self.titles = []
        for k, name in enumerate(names):
            img = result.images[k] if k < len(result.images) else None
            n, members = int(result.counts[k]), int(result.members[k])
            title = (f"{name}: mean of {n} of {members} confident" if img is not None
                     else f"{name}: no confident event with an image")
            self.titles.append(title)
            view = self.plots.addViewBox(row=0, col=k, lockAspect=True, invertY=True)
            view.setMenuEnabled(False)
            if img is not None:
                view.addItem(pg.ImageItem(np.log1p(np.clip(np.nan_to_num(img), 0, None)),
                                          axisOrder="row-major"))
            label = pg.LabelItem(title.replace(": ", "<br>", 1),
                                 color=colours[k] if k < len(colours) else "w")
            self.plots.addItem(label, row=1, col=k)
        self.status.setText("Mean image of each class over its events labelled by you or "
                            "predicted with confidence >= 0.9")

    def show_error(self, exc: Exception) -> None:
        """The worker failed: say so in the window."""
        self.status.setText(f"could not compute the class averages: {exc}")


def averages_dialog(dock) -> AveragesWindow | None:
    """Open the class-averages window and start computing its images in the background."""
    from ..labelling.averages import session_averages

    if dock.session is None:
        dock.show_error("no class averages yet: open a manifold first")
        return None
    session = dock.session
    files = getattr(dock.host, "files", None)
    run_of = files.run_of if files is not None else None
    names, colours = list(session.classes), list(session.colours)
    win = AveragesWindow(dock)
    win.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    dock.averages_window = win          # kept while open
    win.show()
    dock.runner.start(lambda progress: session_averages(session, run_of=run_of,
                                                        progress=progress),
                      lambda result: win.show_result(result, names, colours),
                      win.show_error)
    return win
