"""The demo: simulate a PR772-like run, embed it, and open the stand-alone window on it.

The run and its manifold are cached (``$PSOCAKE_LABELER_CACHE``, else
``$XDG_CACHE_HOME/psocake-labeler``, else ``~/.cache/psocake-labeler``), so only the first
demo pays for them. The embedding runs under ``mpiexec`` on two ranks when MPI works here,
and in-process otherwise. Without a display (or with a screenshot path) the window is drawn
offscreen, saved as PNG, and the demo exits.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from ..progress import ProgressCallback, report

SHAPE = (128, 128)
DEFAULT_SCREENSHOT = "psocake-labeler-demo.png"


def cache_dir() -> Path:
    """Folder for the demo's run and manifold."""
    env = os.environ.get("PSOCAKE_LABELER_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "psocake-labeler"


def _embed_with_mpi(run_path: Path, out: Path, ranks: int = 2) -> bool:
    """Try ``mpiexec -n ranks python -m psocake_labeler embed``; False if it cannot run."""
    from .compute import mpiexec_command

    cmd = mpiexec_command([str(run_path)], str(out), ranks)
    if ranks < 2 or not cmd[0].endswith("mpiexec"):
        return False
    try:
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=60, text=True)  # never hang the demo on a broken MPI
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and out.exists()


def prepare(hits: int = 2000, progress: ProgressCallback | None = None,
            mpi: bool = True) -> tuple[Path, Path]:
    """Simulated run and its manifold for the demo (made once, then cached)."""
    import psocake_labeler as pl

    from ..embedding import engine_fingerprint
    from ..simulate import simulate_run, truth_path_for

    folder = cache_dir() / f"demo_{hits}"
    folder.mkdir(parents=True, exist_ok=True)
    run_path = folder / "amo06516_0093.cxi"
    manifold_path = folder / f"amo06516_0093.manifold-{engine_fingerprint()}.h5"
    if not (run_path.exists() and truth_path_for(run_path).exists()):  # else: interrupted
        report(progress, f"simulating {hits} hits", 0, 1)
        simulate_run(run_path, hits=hits, shape=SHAPE, seed=0, run=93)
        report(progress, f"simulating {hits} hits", 1, 1)
    if not manifold_path.exists():
        ranks = min(2, os.cpu_count() or 1)
        report(progress, "embedding", 0, 1)
        if not (mpi and _embed_with_mpi(run_path, manifold_path, ranks)):
            m = pl.build_manifold(pl.open_run(run_path), n_components=10, knn=15,
                                  progress=progress)
            m.save(manifold_path)
        report(progress, "embedding", 1, 1)
    return run_path, manifold_path


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

    from .hosts.standalone import StandaloneWindow, app, dispose
    from .preflight import headless

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


def clear_cache() -> None:
    """Delete the demo cache."""
    shutil.rmtree(cache_dir(), ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover
    print(run_demo(screenshot=sys.argv[1] if len(sys.argv) > 1 else None))
