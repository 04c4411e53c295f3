"""The demo's window: the stand-alone window on the simulated run that ``cli/demo.py``
prepares (and caches), optionally labelled as a user following the recommender would.

Without a display (or with a screenshot path) the window is drawn offscreen, saved as PNG,
and the demo exits.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..cli.demo import prepare
from ..progress import ProgressCallback, report

DEFAULT_SCREENSHOT = "psocake-labeler-demo.png"


def play_user(dock, truth_path: Path, n_labels: int, batch: int = 10) -> None:
    """Label like a user would: take the recommended events, answer with the simulator's
    truth, let propagation run; until ``n_labels`` events are labelled."""
    from ..simulate import read_truth

    dock.wait()   # the dock's own first recommendation runs on the session thread
    truth = read_truth(truth_path)
    answer = dict(zip(np.asarray(truth.events).tolist(), np.asarray(truth.labels).tolist()))
    s = dock.session
    while len(s.labelled_rows()) < n_labels:
        rows = s.recommend(min(batch, n_labels - len(s.labelled_rows())))
        if not rows:
            break
        for row in rows:
            name = s.classes[answer[int(dock.events[row]["event"])]]
            s.label([row], name)
    s.propagate()
    dock.wait()


def run_demo(hits: int = 2000, screenshot: str | Path | None = None,
             progress: ProgressCallback | None = None, mpi: bool = True,
             auto_label: int = 0) -> Path | None:
    """Open the demo window; with ``screenshot`` or no display, save it and return the path.

    ``auto_label`` > 0 first labels that many events as a user following the recommender
    would (answers from the simulator's truth), to show propagation at work.
    """
    import psocake_labeler as pl

    from .hosts.standalone import StandaloneWindow
    from .preflight import headless
    from .qtapp import app, dispose

    run_path, manifold_path = prepare(hits, progress, mpi=mpi)
    report(progress, "opening the window", 0, 1)
    m = pl.Manifold.load(manifold_path)
    session = pl.LabelSession(m)      # a fresh, unsaved session: "Save as…" keeps it
    qapp = app()
    window = StandaloneWindow()
    window.host.files.search_dirs.append(run_path.parent)
    window.dock.set_session(session)
    if auto_label > 0:
        report(progress, f"labelling {auto_label} recommended events", 0, 1)
        from ..simulate import truth_path_for

        play_user(window.dock, truth_path_for(run_path), auto_label)
        window.dock.recommend(10)
    window.dock.wait()
    if len(window.dock.recommended):
        window.dock.show_row(int(window.dock.recommended[0]))
    window.dock.controls.status.setText(f"demo: {len(m.coords)} simulated hits · labels are not "
                                        f"saved until you use Save as…")
    window.show()
    report(progress, "opening the window", 1, 1)
    if screenshot is not None or headless():
        out = Path(screenshot or DEFAULT_SCREENSHOT)
        window.screenshot(out)
        dispose(window)
        return out
    qapp.exec_()
    return None


if __name__ == "__main__":  # pragma: no cover
    print(run_demo(screenshot=sys.argv[1] if len(sys.argv) > 1 else None))
