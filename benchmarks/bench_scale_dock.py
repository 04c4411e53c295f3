"""The ``dock`` part of bench_scale.py: the Label Manifold dock on the 10^6-event manifold.

Offscreen Qt. Times: ``open_manifold`` until the manifold is loaded, drawn and painted (goal
< 10 s); the first recommendations; 300 labels and the first (cold) propagation; then
label-propagate-redraw cycles as in bench_gui.py (select an event, press its class key, the
event loop runs until the session has labelled, propagated and saved on its worker and the
dock has redrawn, then the plot is painted; goal < 0.3 s). Saves a screenshot of the dock.
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


def step_dock(workdir: str, n: str, cycles: str = "8", shot: str = "") -> dict:
    """The dock at scale; ``shot``: where to save a PNG of the window (default workdir)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from bench_gui import label_cycles

    from psocake_labeler.gui.hosts.standalone import StandaloneWindow

    app = pg.mkQApp()
    path = Path(workdir) / f"experiment_{n}.h5"
    truth = np.load(Path(workdir) / f"experiment_{n}_truth.npy")
    labels = Path(workdir) / "dock_labels.h5"
    labels.unlink(missing_ok=True)
    w = StandaloneWindow()
    w.resize(1400, 900)
    w.show()
    app.processEvents()
    dock = w.dock
    out: dict = {}
    c = time.process_time()
    t = time.perf_counter()
    _until(dock.sigLoaded, lambda: dock.open_manifold(path, labels))
    dock.view.plot.viewport().repaint()
    out["time"] = out["open"] = time.perf_counter() - t
    out["open_cpu"] = time.process_time() - c
    t = time.perf_counter()
    dock.wait(600000)
    out["recommend"] = time.perf_counter() - t
    rows = np.random.default_rng(0).choice(len(truth), 300 + int(cycles), replace=False)
    dock.controls.auto.setChecked(False)      # the 300 seed labels, then one propagation
    for k in range(3):
        dock.select_rows(rows[:300][truth[rows[:300]] == k])
        dock.label_selected(k)
    dock.controls.auto.setChecked(True)
    dock.wait(600000)
    t = time.perf_counter()
    dock._action("propagate")
    dock.wait(600000)
    dock.view.plot.viewport().repaint()
    out["first_propagate"] = time.perf_counter() - t
    c = time.process_time()
    times = label_cycles(dock, rows[300:], truth)
    out["cycle_cpu"] = (time.process_time() - c) / len(times)
    out["cycles"] = times.tolist()
    out["load_after"] = os.getloadavg()[0]
    shot_path = Path(shot) if shot else Path(workdir) / f"dock_{n}.png"
    app.processEvents()
    w.grab().save(str(shot_path))
    out["shot"] = str(shot_path)
    w.close()
    return out


def print_dock(r: dict) -> None:
    """The dock step's numbers, one per line."""
    print(f"  open (load, draw, paint)   {r['open']:8.2f} s  cpu {r['open_cpu']:.1f} s "
          f"(goal < 10 s; load {r['load']:.1f})")
    print(f"  first recommendations      {r['recommend']:8.2f} s (background)")
    print(f"  300 labels, first (cold) propagation + redraw {r['first_propagate']:.2f} s")
    cyc = np.array(r["cycles"])
    print(f"  label-propagate-redraw cycle: median {np.median(cyc):.3f} s, max {cyc.max():.3f} s,"
          f" cpu {r['cycle_cpu']:.3f} s per cycle (goal < 0.3 s; load after "
          f"{r['load_after']:.1f})")
    print(f"  peak {r['peak']:.2f} GiB, process cpu {r['cpu']:.1f} s; screenshot {r['shot']}")
