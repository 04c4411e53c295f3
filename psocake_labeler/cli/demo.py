"""The demo's data: a simulated PR772-like run and its manifold, made once and cached.

The run and its manifold are cached (``$PSOCAKE_LABELER_CACHE``, else
``$XDG_CACHE_HOME/psocake-labeler``, else ``~/.cache/psocake-labeler``), so only the first
demo pays for them. The embedding runs under ``mpiexec`` on two ranks when MPI works here,
and in-process otherwise. Qt-free: ``gui/demo.py`` opens the window on what this prepares.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..progress import ProgressCallback, report
from .jobs import mpiexec_command

SHAPE = (128, 128)


def cache_dir() -> Path:
    """Folder for the demo's run and manifold."""
    env = os.environ.get("PSOCAKE_LABELER_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "psocake-labeler"


def embed_with_mpi(run_path: Path, out: Path, ranks: int = 2) -> bool:
    """Try ``mpiexec -n ranks python -m psocake_labeler embed``; False if it cannot run."""
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
    from ..embedding import build_manifold, engine_fingerprint
    from ..io import open_run
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
        if not (mpi and embed_with_mpi(run_path, manifold_path, ranks)):
            m = build_manifold(open_run(run_path), n_components=10, knn=15, progress=progress)
            m.save(manifold_path)
        report(progress, "embedding", 1, 1)
    return run_path, manifold_path


def clear_cache() -> None:
    """Delete the demo cache."""
    shutil.rmtree(cache_dir(), ignore_errors=True)
