"""Draw the user guide's screenshots of the dock at 1400 x 900 (docs/images/gui-*.png).

The demo's 2000 simulated hits (cached as for ``psocake-labeler demo``), labelled by the
recommender's picks answered with the simulator's truth, as a user would:

    QT_QPA_PLATFORM=offscreen python docs/screenshots.py            # 2-D views, dialogs
    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots.py --3d
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "images"


def window_with_labels(n_labels: int):
    """The stand-alone window on the demo run, ``n_labels`` recommended events labelled."""
    import psocake_labeler as pl
    from psocake_labeler.gui import demo
    from psocake_labeler.gui.hosts.standalone import StandaloneWindow
    from psocake_labeler.gui.qtapp import app
    from psocake_labeler.simulate import truth_path_for

    run_path, manifold_path = demo.prepare(2000, mpi=False)
    app()
    w = StandaloneWindow()
    w.host.files.search_dirs.append(run_path.parent)
    w.show()
    w.dock.set_session(pl.LabelSession(pl.Manifold.load(manifold_path)))
    demo.play_user(w.dock, truth_path_for(run_path), n_labels)
    w.dock.next_batch()
    w.dock.wait()
    return w, truth_path_for(run_path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--3d", dest="three_d", action="store_true", help="only the 3-D view")
    args = ap.parse_args()
    os.environ.setdefault("PSOCAKE_LABELER_CACHE", str(Path.home() / ".cache/psocake-labeler"))
    w, truth_path = window_with_labels(60)
    dock = w.dock
    if args.three_d:
        dock.view_tabs.setCurrentIndex(1)
        if dock.gl_problem:
            raise SystemExit(f"no 3-D screenshot: {dock.gl_problem}")
        w.screenshot(OUT / "gui-3d.png")
        return
    w.screenshot(OUT / "gui-flow.png")
    dock.filters.set_filter("class Single", "confidence <", 0.9)
    w.screenshot(OUT / "gui-filter.png")
    dock.filters.set_filter("all events", "any confidence")
    dock.wait()
    dock.show_row(int(np.flatnonzero(np.asarray(dock.session.predicted) == 1)[0]))
    dock.find_similar()
    w.screenshot(OUT / "gui-similar.png")
    # a mistake, then the review queue
    from psocake_labeler.simulate import read_truth

    truth = read_truth(truth_path)
    single = [r for r, e in enumerate(dock.events["event"])
              if dict(zip(truth.events.tolist(), truth.labels.tolist()))[int(e)] == 0]
    conf = np.asarray(dock.session.confidence)
    wrong = max((r for r in single if r not in dock.session.user_labels()),
                key=lambda r: conf[r])
    dock.show_row(wrong)
    dock.label_selected(1)
    dock.wait()
    done = []
    dock.assess(then=lambda: done.append(1))
    while not done:
        dock.wait()
    dock.show_review()
    while dock._assessing:
        dock.wait()
    dock.wait()
    w.screenshot(OUT / "gui-review.png")
    from psocake_labeler.gui.export_dialog import ExportDialog

    dlg = ExportDialog(dock)
    dlg.path.setText(str(Path.home() / "single.cxi"))
    dlg.show()
    dlg.adjustSize()
    dock.wait()
    dlg.grab().save(str(OUT / "gui-export.png"))
    dlg.close()


if __name__ == "__main__":
    main()
