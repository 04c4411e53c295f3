"""A Psocake-shaped main frame for tests, built from PSOCAKE.md's attribute table.

Not Psocake code: the same attribute names and the same event mechanism (the "Event Number"
parameter of the "Experiment information" group, whose change makes the frame read the
event with its "detector" and show it in ``img.win``). The "psana" here reads the simulated
run's images by event number.
"""
from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyqtgraph as pg
from pyqtgraph.dockarea import Dock, DockArea
from pyqtgraph.parametertree import Parameter, ParameterTree
from pyqtgraph.Qt import QtWidgets


class _Event:
    """What ``exp.run.event(time)`` returns: here, just the event number."""

    def __init__(self, number: int):
        self.number = number


class _PsanaRun:
    def event(self, time) -> _Event:
        return _Event(int(time))


class _Detector:
    """``det.image(evt)``: the assembled image of an event (None for non-hits, as psana gives
    an image for every event; here only hits have pixels)."""

    def __init__(self, run):
        self.run = run
        self.index = {int(e): i for i, e in enumerate(np.asarray(run.events))}

    def image(self, evt):
        i = self.index.get(evt.number)
        if i is None:
            return np.zeros(self.run.image_shape, dtype=np.float32)
        return self.run.image(i)


class PsocakeStandin(QtWidgets.QWidget):
    """``MainFrame`` stand-in: area, img.win, exp.p (with exp_grp / exp_evt_str / exp_run_str),
    eventNumber,
    experimentName, runNumber, detInfo, psocakeDir, psocakeRunDir, det, evt, data, mk, geometry."""

    def __init__(self, run_path, psocake_dir, experiment="amo06516", run_number=93,
                 detector="pnccdFront"):
        super().__init__()
        from psocake_labeler.io import open_run

        pg.setConfigOptions(imageAxisOrder="row-major")
        self.experimentName = experiment
        self.runNumber = int(run_number)
        self.detInfo = detector
        self.psocakeDir = str(psocake_dir)
        self.psocakeRunDir = str(Path(psocake_dir) / f"r{self.runNumber:04d}")
        Path(self.psocakeRunDir).mkdir(parents=True, exist_ok=True)
        self.eventNumber = 0
        self._run = open_run(run_path)
        self.det = _Detector(self._run)
        self.evt = None
        self.data = None
        self.calib = None
        self.mk = SimpleNamespace(combinedMask=None, userMaskAssem=None)
        self.cx, self.cy = 32.0, 32.0
        self.pixelSize, self.detectorDistance, self.photonEnergy = 75e-6, 0.13, 1600.0

        self.area = DockArea()
        self.img = SimpleNamespace(win=pg.ImageView(view=pg.PlotItem()))
        self.img.win.getView().invertY(True)
        from psocake_labeler.gui.viewboxes import forget_on_destroy

        forget_on_destroy(self.img.win)   # pyqtgraph crash on deleting named views
        n_events = int(np.max(self._run.events)) + 1
        exp_grp, exp_evt_str, exp_run_str = "Experiment information", "Event Number", "Run Number"
        self.exp = SimpleNamespace(
            exp_grp=exp_grp, exp_evt_str=exp_evt_str, exp_run_str=exp_run_str, run=_PsanaRun(),
            times=list(range(n_events)),
            p=Parameter.create(name="params", type="group", children=[
                {"name": exp_grp, "type": "group", "children": [
                    {"name": "Experiment Name", "type": "str", "value": experiment},
                    {"name": exp_run_str, "type": "int", "value": self.runNumber},
                    {"name": "Detector ID", "type": "str", "value": detector},
                    {"name": exp_evt_str, "type": "int", "value": 0},
                ]}]))
        self.exp.p.sigTreeStateChanged.connect(self._tree_changed)
        tree = ParameterTree()
        tree.setParameters(self.exp.p, showTop=False)
        self.area.addDock(Dock("Image Panel", size=(500, 500), widget=self.img.win), "left")
        self.area.addDock(Dock("Experiment Parameters", size=(200, 200), widget=tree), "bottom")
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.area)
        self.resize(1300, 800)

    def _tree_changed(self, _root, changes):
        for param, change, data in changes:
            if change == "value" and param.name() == self.exp.exp_run_str:
                # as Psocake: a new run folder, the event number kept
                self.runNumber = int(data)
                self.psocakeRunDir = str(Path(self.psocakeDir) / f"r{self.runNumber:04d}")
            if change == "value" and param.name() == self.exp.exp_evt_str:
                self.eventNumber = int(data)
                self.evt = self.exp.run.event(self.exp.times[self.eventNumber])
                self.data = self.det.image(self.evt)
                self.img.win.setImage(self.data, autoRange=False)


@lru_cache(maxsize=4)
@cache
def _built(run_path: str):
    import psocake_labeler as pl

    return pl.build_manifold(pl.open_run(run_path), n_components=5, knn=10)


def manifold_for(run_path: str, out: str) -> str:
    """Build (once per test process) and save the manifold of a run; returns its path."""
    _built(run_path).save(out)
    return out


def open_window(qtbot, manifold_path, labels_path):
    """The stand-alone window, shown, with ``manifold_path`` open and drawn."""
    from psocake_labeler.gui.hosts.standalone import StandaloneWindow

    w = StandaloneWindow()
    keep(w)
    w.show()
    with qtbot.waitSignal(w.dock.sigLoaded, timeout=60000):
        w.open(manifold_path, labels_path)
    assert w.dock.wait()
    return w


def truth_of_rows(events, truth_path) -> np.ndarray:
    """The simulator's true class of each manifold row (rows matched by event number)."""
    from psocake_labeler.simulate import read_truth

    truth = read_truth(truth_path)
    by_event = dict(zip(truth.events.tolist(), truth.labels.tolist()))
    return np.array([by_event[int(e)] for e in events["event"]])


def drag(widget: QtWidgets.QWidget, p0, p1, modifiers, steps: int = 8) -> None:
    """A left-button drag from p0 to p1 with held modifiers (QTest cannot hold buttons)."""
    from pyqtgraph.Qt import QtCore, QtGui, QtTest

    QTest = QtTest.QTest

    left = QtCore.Qt.MouseButton.LeftButton
    QTest.mousePress(widget, left, modifiers, p0)
    for k in range(1, steps + 1):
        pos = QtCore.QPointF(p0 + (p1 - p0) * (k / steps))
        ev = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, pos, QtCore.Qt.MouseButton.NoButton,
                               left, modifiers)
        QtWidgets.QApplication.sendEvent(widget, ev)
    QTest.mouseRelease(widget, left, modifiers, p1)


def isolated_row(view) -> int:
    """The visible row farthest (on screen) from any other point: the easiest to click."""
    return isolated_rows(view, 1)[0]


def isolated_rows(view, k: int) -> list[int]:
    """``k`` visible rows, drawn at different pixels, the most isolated first."""
    from scipy.spatial import cKDTree

    pts = np.array([[p.x(), p.y()] for p in (view.widget_pos_of(i)
                                             for i in range(len(view.coords)))], dtype=float)
    d, _ = cKDTree(pts).query(pts, k=2)
    w, h = view.plot.viewport().width(), view.plot.viewport().height()
    inside = (pts[:, 0] > 5) & (pts[:, 1] > 5) & (pts[:, 0] < w - 5) & (pts[:, 1] < h - 5)
    ok = np.flatnonzero(inside)
    out, spots = [], set()
    for i in ok[np.argsort(-d[ok, 1], kind="stable")]:
        spot = (int(pts[i, 0]), int(pts[i, 1]))
        if spot not in spots:
            spots.add(spot)
            out.append(int(i))
        if len(out) == k:
            return out
    raise AssertionError(f"fewer than {k} distinct points on screen")


def same_spot(view, a: int, b: int) -> bool:
    """True when rows a and b are drawn at the same screen pixel (a click cannot tell them
    apart)."""
    return (view.widget_pos_of(a) - view.widget_pos_of(b)).manhattanLength() <= 1


_KEPT: list = []


def keep(widget):
    """Close the widget after the test but never delete it: pyqtgraph ImageViews deleted in
    teardown (qtbot.addWidget) can crash the process from a later paint of their items
    (seen: "wrapped C/C++ object of type InfiniteLine has been deleted", then SIGSEGV)."""
    _KEPT.append(widget)
    return widget


def close_kept() -> None:
    """Close (hide) every kept widget."""
    for w in _KEPT:
        try:
            w.close()
        except RuntimeError:
            pass


def xvfb_display_problem() -> str | None:
    """Why Qt's xcb platform cannot open a window on ``xvfb-run`` here (the package's own
    preflight check, run under Xvfb), or None when it can."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    code = "from psocake_labeler.gui.preflight import display_problem; print(display_problem())"
    r = subprocess.run(["xvfb-run", "-a", sys.executable, "-c", code], env=env,
                       capture_output=True, text=True, timeout=120)
    out = r.stdout.strip()
    return None if r.returncode == 0 and out == "None" else (out or r.stderr[-2000:])
