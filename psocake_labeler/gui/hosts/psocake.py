"""Psocake adapter: put the Label Manifold dock into a running Psocake window.

Psocake has no plugin mechanism, so we use only what its ``MainFrame`` exposes (see
docs/user-guide.md, "Inside Psocake"): the dock area, the image viewer, the "Event Number"
and "Run Number" parameters of the "Experiment information" group, ``sigTreeStateChanged``,
and the run folder. Going to an event sets that parameter, so Psocake reads and shows the
event with its own pipeline. The dock's place in Psocake's window is chosen in
:mod:`.psocake_layout`, the number keys in Psocake's window are routed by :mod:`.psocake_keys`.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from pyqtgraph.Qt import QtCore, QtWidgets

from ..dock import LabelManifoldDock
from ..text import GREY
from .base import Host, find_manifolds, manifold_runs
from .psocake_keys import PsocakeKeys
from .psocake_layout import make_compact, place_dock


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
    """A Host over Psocake's ``MainFrame`` (or anything with the same attributes).

    Signal ``sigRunChanged(int)``: Psocake moved to another run (after Psocake set it up).
    """

    sigRunChanged = QtCore.Signal(int)

    def __init__(self, main_frame, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.mf = main_frame
        self._in_gui = _GuiThreadCall()
        exp = main_frame.exp
        self.event_param = exp.p.param(exp.exp_grp, exp.exp_evt_str)
        self.run_param = exp.p.param(exp.exp_grp, exp.exp_run_str)
        # connected after Psocake's own handler: Psocake has set up the new run/event first
        exp.p.sigTreeStateChanged.connect(self._tree_changed)
        self._add_search_dir()

    def _add_search_dir(self) -> None:
        folder = self.labels_dir()
        if folder is not None and folder not in self.files.search_dirs:
            self.files.search_dirs.append(folder)

    def _tree_changed(self, _root, changes) -> None:
        for param, change, _data in changes:
            if change != "value":
                continue
            if param is self.event_param:
                self.sigEventChanged.emit(self.current_event())
            elif param is self.run_param:
                self._add_search_dir()
                self.sigRunChanged.emit(self.run_number())
                self.sigEventChanged.emit(self.current_event())

    def run_number(self) -> int:
        """Psocake's current run number (0 when Psocake found no such run)."""
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

    def manifolds_for(self, run: int) -> list[Path]:
        """Manifolds holding events of ``run``: those in the run folder first, then those
        in Psocake's other run folders (a manifold of several runs), newest first."""
        run_dir = self.labels_dir()
        top = getattr(self.mf, "psocakeDir", None)
        folders = [run_dir] if run_dir is not None else []
        if top and Path(top).is_dir():
            folders += [Path(top)] + sorted(Path(top).glob("r[0-9][0-9][0-9][0-9]"))
        found: list[Path] = []
        for folder in dict.fromkeys(folders):
            if folder.is_dir():
                found += [p for p in find_manifolds(folder)
                          if p not in found and int(run) in manifold_runs(p)]
        return found


class RunNotShownError(RuntimeError):
    """The clicked event is from a run Psocake is not showing."""


class PsocakeDock(LabelManifoldDock):
    """The dock as it lives in Psocake: compact enough for its tab, following Psocake's run,
    and saying (target line and overlay) what the next number key labels."""

    def __init__(self, host: PsocakeHost):
        super().__init__(host)
        make_compact(self)
        self.controls.target.setToolTip(
            "Keys 1-9 label the event Psocake shows, wherever the focus is in Psocake's window "
            "(not in a text field); with the focus in this dock they label your selection "
            "here, if you made one, and move on. 0 unlabels.")
        self.keys = PsocakeKeys(self, lambda: host.mf.area.window())
        host.sigRunChanged.connect(self.follow_run)
        QtWidgets.QApplication.instance().focusChanged.connect(self._focus_changed)
        self.sigCurrentRowChanged.connect(lambda _row: self.show_target())
        self.sigUpdated.connect(self.show_target)

    def show_row(self, row: int) -> None:
        try:
            super().show_row(row)
        except RunNotShownError as exc:
            self.show_error(str(exc))

    def _host_event(self, run_event) -> None:
        before = self.current_row
        super()._host_event(run_event)
        if self.current_row != before and len(self.selected) == 1 and self.selected[0] == before:
            # the one clicked event is no longer shown: the next key labels what Psocake shows
            self.clear_selection()
            self.show_target()

    def has_focus_here(self) -> bool:
        """True when the keyboard focus is inside the dock."""
        focus = QtWidgets.QApplication.focusWidget()
        return focus is not None and (focus is self or self.isAncestorOf(focus))

    def _shown_run_missing(self) -> bool:
        shown = self.host.current_event()
        return (self.events is not None and shown is not None
                and not bool((self.events["run"] == shown[0]).any()))

    def target_text(self) -> str:
        """What the next number key labels: inside the dock, the dock's own rule; elsewhere
        in Psocake's window, the event Psocake shows."""
        if self.session is None or self.has_focus_here():
            return super().target_text()
        shown = self.host.current_event()
        if self.current_row is not None:
            return f"keys 1–9 label run {shown[0]} event {shown[1]}, shown in Psocake"
        if shown is not None and self._shown_run_missing():
            return (f"Psocake shows run {shown[0]}, which has no manifold yet: Compute "
                    "manifold… (More ▾); keys label nothing")
        return "the event Psocake shows is not on the manifold: keys label nothing"

    def show_target(self) -> None:
        """Refresh the target line and the overlay (both describe the next key's target)."""
        self.controls.target.setText(self.target_text())
        self._update_overlay()

    def _update_overlay(self) -> None:
        super()._update_overlay()
        if self.label_overlay is None or self.session is None or not hasattr(self, "keys"):
            return
        sel = self.selected
        if self.has_focus_here() and len(sel) and (len(sel) > 1 or sel[0] != self.current_row):
            self.label_overlay.set(f"next key: {len(sel)} selected in the dock", GREY)
        elif self.current_row is None and self._shown_run_missing():
            self.label_overlay.set(f"run {self.host.run_number()}: no manifold yet", GREY)

    def _focus_changed(self, *_) -> None:
        if self.session is not None:
            self.show_target()

    def follow_run(self, run: int) -> None:
        """Psocake moved to ``run``: keep a manifold that holds it, else open the run's
        manifold (labels continued), else say that the run has none yet."""
        if run <= 0:
            self.show_error("Psocake found no such run; the dock keeps the last manifold")
        elif self.events is not None and bool((self.events["run"] == run).any()):
            self.controls.status.setText(f"run {run} is on this manifold")
        else:
            found = self.host.manifolds_for(run)
            if found:
                path = found[0]
                self.open_manifold(path, path.parent / self.default_labels_path(path).name)
            else:
                self.controls.status.setText(
                    f"run {run} has no manifold yet in {self.host.manifold_dir()}: "
                    "Compute manifold… (More ▾) or Open manifold… a file")
        self.show_target()

    def _closed(self, *args) -> None:
        self.keys.remove()
        QtWidgets.QApplication.instance().focusChanged.disconnect(self._focus_changed)
        super()._closed(*args)


def install(main_frame, manifold: str | Path | None = None,
            labels: str | Path | None = None) -> LabelManifoldDock:
    """Add the Label Manifold dock to Psocake's window and return it.

    The dock becomes a tab beside Psocake's Mask Panel (see :mod:`.psocake_layout`).
    ``manifold`` defaults to the newest manifold holding the current run, in the run
    folder (``psocakeRunDir``) or another of Psocake's run folders; labels go to the same
    folder as the manifold.
    """
    host = PsocakeHost(main_frame)
    dock = PsocakeDock(host)
    place_dock(main_frame, dock)
    main_frame.labelManifoldDock = dock   # keeps it alive; Psocake panels are attributes too
    if manifold is None:
        found = host.manifolds_for(host.run_number())
        manifold = found[0] if found else None
        if manifold is not None and labels is None:
            labels = manifold.parent / dock.default_labels_path(manifold).name
    if manifold is not None:
        dock.open_manifold(manifold, labels)
    else:
        dock.controls.status.setText(f"no manifold in {host.manifold_dir()}: "
                                     "Compute manifold… (More ▾) or Open manifold…")
    return dock
