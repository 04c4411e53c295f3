"""The ``dock`` part of bench_scale.py: the Label Manifold dock on the 10^6-event manifold.

Offscreen Qt. Times: ``open_manifold`` until the manifold is loaded, drawn and painted (goal
< 10 s); the first recommendations; the rest of the (lazily read) manifold; 300 labels and
the first (cold) propagation; then label-propagate-redraw cycles as in bench_gui.py (select
an event, press its class key, the event loop runs until the session has labelled,
propagated and saved on its worker and the dock has redrawn, then the plot is painted; goal
< 0.3 s), with the dock's background assessment as the user gets it; then the cycle's parts
one by one on the GUI thread (label + durable save, warm propagation, redraw + paint; CPU
of that thread). Checks that the store
holds every label. Saves a screenshot of the window. Every time with process CPU and load.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np


def _until(signal, start) -> float:
    from pyqtgraph.Qt import QtCore

    loop = QtCore.QEventLoop()
    signal.connect(loop.quit)
    t = time.perf_counter()
    start()
    loop.exec_()
    signal.disconnect(loop.quit)
    return time.perf_counter() - t


def _timed(fn) -> tuple[float, float, float]:
    """(wall s, CPU s of this thread, load) of ``fn()``: the dock's background assessment
    may run on another thread meanwhile, and process CPU would count it."""
    c, t = time.thread_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t, time.thread_time() - c, os.getloadavg()[0]


def _parts(dock, rows, truth) -> dict:
    """The cycle's parts, each alone on the GUI thread (the workers idle)."""
    from pyqtgraph.Qt import QtWidgets

    s = dock.session
    out: dict = {"store": [], "propagate": [], "redraw": []}
    for row in rows:
        s.auto_propagate = False
        name = s.classes[int(truth[row])]
        out["store"].append(_timed(lambda r=int(row), c=name: s.label([r], c)))
        out["propagate"].append(_timed(s.propagate))     # warm, as after a click

        def redraw():
            dock.refresh()
            dock.view.plot.viewport().repaint()
        QtWidgets.QApplication.processEvents()
        out["redraw"].append(_timed(redraw))
    return out


def step_dock(workdir: str, n: str, cycles: str = "8", out: str = "") -> dict:
    """The dock at scale; ``out``: folder of the label store and screenshot (default
    workdir)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from bench_gui import label_cycles
    from pyqtgraph.Qt import QtWidgets

    from psocake_labeler.embedding import Manifold
    from psocake_labeler.gui.hosts.standalone import StandaloneWindow
    from psocake_labeler.labelling.session import LabelSession

    app = pg.mkQApp()
    path = Path(workdir) / f"experiment_{n}.h5"
    truth = np.load(Path(workdir) / f"experiment_{n}_truth.npy")
    folder = Path(out or workdir)
    labels = folder / "dock_labels.h5"
    labels.unlink(missing_ok=True)
    w = StandaloneWindow()
    w.resize(1400, 900)
    w.show()
    app.processEvents()
    dock = w.dock
    res: dict = {}
    c, t = time.process_time(), time.perf_counter()
    _until(dock.sigLoaded, lambda: dock.open_manifold(path, labels))
    dock.view.plot.viewport().repaint()
    res["time"] = res["open"] = time.perf_counter() - t
    res["open_cpu"], res["open_load"] = time.process_time() - c, os.getloadavg()[0]
    while not len(dock.recommended) and time.perf_counter() - t < 600:
        QtWidgets.QApplication.processEvents()
        time.sleep(0.01)
    res["recommend"] = time.perf_counter() - t
    res["recommend_cpu"] = time.process_time() - c
    dock.wait(600000)               # the graph and features, read after the recommendations
    res["rest"] = time.perf_counter() - t
    res["rest_cpu"] = time.process_time() - c
    res["renders"] = dock.view.density.renders     # full density renders while opening
    rng = np.random.default_rng(0)
    rows = rng.choice(len(truth), 300 + int(cycles) + 3, replace=False)
    seeds, cyc, split = rows[:300], rows[300:-3], rows[-3:]
    dock.controls.auto.setChecked(False)      # the 300 seed labels, then one propagation
    for k in range(3):
        dock.select_rows(seeds[truth[seeds] == k])
        dock.label_selected(k)
    dock.controls.auto.setChecked(True)
    dock.wait(600000)
    t = time.perf_counter()
    dock._action("propagate")
    dock.wait(600000)
    dock.view.plot.viewport().repaint()
    res["first_propagate"] = time.perf_counter() - t
    c, gui, faults = time.process_time(), [], []
    renders = dock.view.density.renders
    times = label_cycles(dock, cyc, truth, gui, faults)
    res["cycle_renders"] = dock.view.density.renders - renders
    res["cycle_cpu"] = (time.process_time() - c) / len(times)
    res["cycle_gui_cpu"] = gui
    res["cycle_faults"] = faults
    res["cycles"] = times.tolist()
    res["load_after"] = os.getloadavg()[0]
    dock.wait(600000)
    res["assessed"] = dock.quality is not None
    res["parts"] = _parts(dock, split, truth)
    dock.wait(600000)
    res["saved"] = len(LabelSession.load(labels, Manifold.load(path, lazy=True)).user_labels())
    res["given"] = len(rows)
    shot_path = folder / f"dock_{n}.png"
    app.processEvents()
    w.grab().save(str(shot_path))
    res["shot"] = str(shot_path)
    w.close()
    return res


def print_dock(r: dict) -> None:
    """The dock step's numbers, one per line."""
    print(f"  open (load, draw, paint)   {r['open']:8.2f} s  cpu {r['open_cpu']:.2f} s "
          f"(goal < 10 s; load {r['load']:.1f} before, {r['open_load']:.1f} after)")
    print(f"  first recommendations      {r['recommend']:8.2f} s  cpu {r['recommend_cpu']:.2f} s"
          " from the start of open (background)")
    print(f"  graph + features read      {r['rest']:8.2f} s  cpu {r['rest_cpu']:.2f} s from "
          "the start of open (background, after the recommendations)")
    print(f"  full density renders: {r['renders']} while opening, {r['cycle_renders']} in "
          f"{len(r['cycles'])} cycles (the others patched the changed pixels)")
    print(f"  300 labels, first (cold) propagation + redraw {r['first_propagate']:.2f} s")
    cyc = np.array(r["cycles"])
    print(f"  label-propagate-redraw cycle: median {np.median(cyc):.3f} s, max {cyc.max():.3f} s,"
          f" cpu {r['cycle_cpu']:.3f} s per cycle (goal < 0.3 s; load after "
          f"{r['load_after']:.1f}); an assessment finished meanwhile: {r['assessed']}")
    print("    each cycle (s): " + " ".join(f"{t:.3f}" for t in cyc))
    gui = np.array(r["cycle_gui_cpu"])
    print(f"    of which the GUI thread (key, redraw, paint): median {np.median(gui):.3f} s cpu, "
          f"max {gui.max():.3f} s")
    print("    minor page faults of the process in each: "
          + " ".join(str(f) for f in r["cycle_faults"]))
    for name, label in (("store", "label + durable save"), ("propagate", "warm propagation"),
                        ("redraw", "redraw + paint")):
        wall, cpu, load = np.array(r["parts"][name]).T
        print(f"    {label:22s} median {np.median(wall):.3f} s wall, {np.median(cpu):.3f} s "
              f"thread cpu (load {np.median(load):.1f}; {len(wall)} times)")
    print(f"  labels in the store {r['saved']} of {r['given']} given")
    print(f"  peak {r['peak']:.2f} GiB, process cpu {r['cpu']:.1f} s; screenshot {r['shot']}")
