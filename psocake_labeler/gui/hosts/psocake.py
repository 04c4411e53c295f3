"""Psocake adapter: put the Label Manifold dock into a running Psocake window.

Psocake has no plugin mechanism, so we use only what its ``MainFrame`` exposes (see
docs/user-guide.md, "Inside Psocake"): the dock area, the image viewer, the "Event Number"
parameter of the "Experiment information" group, its ``sigTreeStateChanged``, and the run
folder. Going to an event sets that parameter, so Psocake reads and shows the event with its
own pipeline.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from pyqtgraph.Qt import QtCore

from ..dock import LabelManifoldDock
from .base import Host


class _GuiThreadCall(QtCore.QObject):
    """Run a function in the GUI thread and wait for its result (psana is not thread-safe,
    and thumbnails are read on a worker thread)."""

    _sigCall = QtCore.Signal(object)

    def __init__(self):
        super().__init__()
        self._gui_thread = threading.get_ident()   # made by the host, in the GUI thread
        self._sigCall.connect(self._run, QtCore.Qt.ConnectionType.BlockingQueuedConnection)

    def _run(self, box: dict) -> None:
        try:
            box["result"] = box["fn"]()
        except Exception as exc:  # handed back to the calling thread
            box["error"] = exc

    def __call__(self, fn):
        if threading.get_ident() == self._gui_thread:
            return fn()
        box = {"fn": fn}
        self._sigCall.emit(box)
        if "error" in box:
            raise box["error"]
        return box.get("result")


class PsocakeHost(Host):
    """A Host over Psocake's ``MainFrame`` (or anything with the same attributes)."""

    def __init__(self, main_frame, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.mf = main_frame
        self._in_gui = _GuiThreadCall()
        exp = main_frame.exp
        self.event_param = exp.p.param(exp.exp_grp, exp.exp_evt_str)
        exp.p.sigTreeStateChanged.connect(self._tree_changed)
        folder = self.labels_dir()
        if folder is not None:
            self.files.search_dirs.append(folder)

    def _tree_changed(self, _root, changes) -> None:
        for param, change, data in changes:
            if change == "value" and param is self.event_param:
                self.sigEventChanged.emit((self.run_number(), int(data)))

    def run_number(self) -> int:
        """Psocake's current run number."""
        return int(getattr(self.mf, "runNumber", -1))

    def go_to(self, source: str, run: int, event: int) -> None:
        """Set Psocake's "Event Number"; an event of another run cannot be shown here."""
        if int(run) != self.run_number():
            raise RunNotShownError(f"event {event} belongs to run {run}, but Psocake shows run "
                                   f"{self.run_number()}: open run {run} in Psocake to see it")
        self.event_param.setValue(int(event))

    def current_event(self) -> tuple[int, int] | None:
        n = getattr(self.mf, "eventNumber", None)
        return None if n is None else (self.run_number(), int(n))

    def image(self, source: str, run: int, event: int) -> np.ndarray | None:
        """From the hit file when it has images, else from psana for the current run."""
        img = self.files.image(source, run, event)
        if img is not None or int(run) != self.run_number():
            return img
        def read():
            exp = self.mf.exp
            return self.mf.det.image(exp.run.event(exp.times[int(event)]))

        try:
            img = self._in_gui(read)
        except Exception:  # psana raises its own types; no image is not an error here
            return None
        return None if img is None else np.asarray(img, dtype=np.float32)

    def image_view(self):
        return self.mf.img.win

    def labels_dir(self) -> Path | None:
        d = getattr(self.mf, "psocakeRunDir", None)
        return Path(d) if d else None

    def manifold_dir(self) -> Path | None:
        return self.labels_dir()

    def run_paths(self) -> list[str]:
        """The run folder: ``embed`` reads every hit file in it."""
        d = self.labels_dir()
        return [str(d)] if d is not None else []


class RunNotShownError(RuntimeError):
    """The clicked event is from a run Psocake is not showing."""


class _PsocakeDock(LabelManifoldDock):
    def show_row(self, row: int) -> None:
        try:
            super().show_row(row)
        except RunNotShownError as exc:
            self.show_error(str(exc))


def install(main_frame, manifold: str | Path | None = None,
            labels: str | Path | None = None) -> LabelManifoldDock:
    """Add the Label Manifold dock to Psocake's window and return it.

    The dock goes to the right of the dock area. ``manifold`` defaults to the newest
    manifold file in the run folder (``psocakeRunDir``), labels to the same folder.
    """
    host = PsocakeHost(main_frame)
    dock = _PsocakeDock(host)
    main_frame.area.addDock(dock, "right")
    main_frame.labelManifoldDock = dock   # keeps it alive; Psocake panels are attributes too
    if manifold is None:
        found = host.find_manifolds()
        manifold = found[0] if found else None
    if manifold is not None:
        dock.open_manifold(manifold, labels)
    else:
        dock.controls.status.setText(f"no manifold in {host.manifold_dir()}: "
                                     f"Compute… one or Open… a file")
    return dock
