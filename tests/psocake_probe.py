"""Run ``psocake-label`` (the real launcher, the real Psocake) and report its window as JSON.

``python psocake_probe.py OUTDIR SHOTS MODE [MODE ...] -- <Psocake arguments without -m>``:
the first mode goes through ``launcher.main`` exactly as a user starts it; once its window
is shown, each mode (the first included) gets a frame built by Psocake's own ``MainFrame``
(whose ``__init__`` the launcher wrapped) in a ``gui.Window`` sized 1400 x 700, then
1920 x 1080, and every dock is measured. With SHOTS not "-", screenshots of the windows
are saved there. Prints one JSON line per mode and size, then quits.
"""
from __future__ import annotations

import json
import sys


def measure(gui, ex, win, mode: str, size, shots: str) -> dict:
    from pyqtgraph.Qt import QtWidgets

    from psocake_labeler.gui.dock import LabelManifoldDock
    from psocake_labeler.gui.hosts.psocake_layout import dock_widths

    win.resize(*size)
    for _ in range(5):
        QtWidgets.QApplication.processEvents()
    dock = getattr(ex, "labelManifoldDock", None)
    if dock is not None:
        dock.wait(30000)
    ours = [n for n, d in ex.area.findAll()[1].items() if isinstance(d, LabelManifoldDock)]
    if shots != "-":
        ex.area.window().grab().save(f"{shots}/psocake_{mode}_{size[0]}x{size[1]}.png")
    return {"mode": mode, "size": list(size), "window": [win.width(), win.height()],
            "docks": dock_widths(ex.area), "ours": ours,
            "image_view": [ex.img.win.width(), ex.img.win.height()],
            "status": dock.controls.status.text() if dock is not None else None,
            "rows": len(dock.events) if dock is not None and dock.events is not None else 0}


def report(gui, modes, shots: str) -> None:
    from pyqtgraph.Qt import QtWidgets

    frames = []
    try:
        for mode in modes:
            frames.append(build(gui, mode, shots))
    finally:
        QtWidgets.QApplication.instance().quit()


def build(gui, mode: str, shots: str):
    """A Psocake window of ``mode``, measured at both sizes; returns (window, frame)."""
    gui.args.mode = mode
    win = gui.Window()
    ex = gui.MainFrame(sys.argv)
    win.setCentralWidget(ex.area)
    win.show()
    for size in ((1400, 700), (1920, 1080)):
        print(json.dumps(measure(gui, ex, win, mode, size, shots)), flush=True)
    return win, ex


def main() -> int:
    out, shots, *rest = sys.argv[1:]
    split = rest.index("--")
    modes, psocake_args = rest[:split], rest[split + 1:]
    from psocake_labeler.gui.hosts import launcher

    args = [*psocake_args, "-m", modes[0], "-o", out]
    sys.argv = ["psocake", *args]
    gui = launcher.load_psocake_gui()

    def show(win):
        from pyqtgraph.Qt import QtCore

        del gui.Window.show                  # Qt's own again
        win.show()
        QtCore.QTimer.singleShot(0, lambda: report(gui, modes, shots))

    gui.Window.show = show
    try:
        return launcher.main(args)
    except SystemExit as done:        # Psocake's main() ends with sys.exit(app.exec_())
        return int(done.code or 0)


if __name__ == "__main__":
    sys.exit(main())
