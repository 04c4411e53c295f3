"""The real Psocake (lcls-psana/psocake) for tests, over the psana1 stand-ins.

Psocake's source is Psocake's code, not ours: it is never in this repository. Tests find it
in ``$PSOCAKE_SRC/<branch>`` (default ``~/.cache/psocake-labeler/psocake/<branch>``, each a
checkout holding ``psocake/gui.py``). When a branch is missing there but a bare git copy of
Psocake exists (``$PSOCAKE_GIT_DIR``, default the search tool's fetch of
``github:lcls-psana/psocake``), the branch is written out into that cache first. The psana1
stand-ins come from ``$PSANA1_STUBS`` (default ``/work/shared/psana1-stubs``).
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import runpy
import subprocess
import sys
import warnings
from pathlib import Path

CACHE = Path(os.environ.get("PSOCAKE_SRC", Path.home() / ".cache/psocake-labeler/psocake"))
GIT_DIR = Path(os.environ.get("PSOCAKE_GIT_DIR", "/work/.mirror/lcls-psana+psocake/repo"))
STUBS = Path(os.environ.get("PSANA1_STUBS", "/work/shared/psana1-stubs"))
NEEDS = ("numba", "skimage", "pandas", "matplotlib")   # what Psocake imports besides psana
# Top-level modules that belong to Psocake or to the stand-ins (dropped after a test module,
# so that other tests see a Python without psana).
STUB_MODULES = ("psocake", "psana", "Detector", "PSCalib", "pyimgalgos", "psalgos",
                "_stubdata", "LabelingPanel")


def export_branch(branch: str, dest: Path) -> None:
    """Write ``branch`` of the bare git copy into ``dest``, file by file (one graphics blob
    of Psocake's history is unreadable: such files are skipped)."""
    listing = subprocess.run(["git", f"--git-dir={GIT_DIR}", "ls-tree", "-r", "-z", branch],
                             check=True, capture_output=True).stdout.decode()
    tmp = dest.with_name(dest.name + ".part")
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        _mode, kind, sha = meta.split()
        if kind != "blob":
            continue
        blob = subprocess.run(["git", f"--git-dir={GIT_DIR}", "cat-file", "blob", sha],
                              capture_output=True)
        if blob.returncode == 0:
            target = tmp / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob.stdout)
    tmp.rename(dest)


def psocake_source(branch: str) -> tuple[Path | None, str]:
    """(checkout of ``branch``, "") or (None, why it is absent)."""
    missing = [m for m in NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        return None, (f"Psocake needs {', '.join(missing)}: pip install -e '.[test]' "
                      "(the psocake extra)")
    if not (STUBS / "psana" / "__init__.py").exists():
        return None, f"no psana1 stand-ins at {STUBS} (set PSANA1_STUBS)"
    src = CACHE / branch
    if not (src / "psocake" / "gui.py").exists() and (GIT_DIR / "HEAD").exists():
        try:
            export_branch(branch, src)
        except (OSError, subprocess.CalledProcessError):
            pass
    if not (src / "psocake" / "gui.py").exists():
        return None, (f"Psocake {branch} not found in {src} (set PSOCAKE_SRC, or fetch "
                      "github:lcls-psana/psocake and write the branch out there)")
    return src, ""


def xtc_root(folder: Path, experiment: str, runs) -> Path:
    """A folder mirroring /reg/d/psdm with (empty) xtc files for ``runs``: Psocake only
    opens a run whose xtc files exist."""
    xtc = folder / experiment[:3] / experiment / "xtc"
    xtc.mkdir(parents=True, exist_ok=True)
    for run in runs:
        (xtc / f"e1-r{int(run):04d}-s00-c00.xtc").touch()
    return folder


def stub_env(cxi: Path, root: Path, src: Path) -> dict:
    """Environment for a process that runs the real Psocake over the stand-ins."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(STUBS), str(src), env.get("PYTHONPATH", "")])
    env.update(PSANA_STUB_CXI=str(cxi), PSANA_STUB_XTC_ROOT=str(root),
               QT_QPA_PLATFORM="offscreen", USER=env.get("USER", "tester"))
    return env


@contextlib.contextmanager
def psocake_imported(src: Path, cxi: Path, root: Path, argv: list[str]):
    """Import the real ``psocake.gui`` in this process over the stand-ins (Psocake parses
    ``sys.argv`` at import time) and yield it; afterwards sys.path, sys.argv, the
    environment and ``glob.glob`` are restored and the Psocake and stand-in modules dropped,
    so that later tests see a Python without psana."""
    import glob

    import pyqtgraph as pg
    from pyqtgraph.dockarea.Dock import DockLabel

    saved = (list(sys.path), list(sys.argv), dict(os.environ), glob.glob)
    # Psocake changes pyqtgraph for everyone: config options, and DockLabel.updateStyle
    # (18 px dock titles), which would resize every later test's docks
    pg_saved = ({k: pg.getConfigOption(k) for k in ("background", "foreground",
                                                   "imageAxisOrder")},
                DockLabel.__dict__["updateStyle"])
    os.environ.update(PSANA_STUB_CXI=str(cxi), PSANA_STUB_XTC_ROOT=str(root))
    os.environ.setdefault("USER", "tester")
    sys.path[:0] = [str(STUBS), str(src)]
    sys.argv = ["psocake", *argv]
    runpy.run_path(str(STUBS / "sitecustomize.py"))   # redirects Psocake's xtc glob
    try:
        with warnings.catch_warnings():   # Psocake's `is not ""` compares (its code, not ours)
            warnings.simplefilter("ignore", SyntaxWarning)
            gui = importlib.import_module("psocake.gui")
        yield gui
    finally:
        sys.path[:], sys.argv[:] = saved[0], saved[1]
        os.environ.clear()
        os.environ.update(saved[2])
        glob.glob = saved[3]
        pg.setConfigOptions(**pg_saved[0])
        DockLabel.updateStyle = pg_saved[1]
        for name in [m for m in sys.modules if m.split(".")[0] in STUB_MODULES]:
            del sys.modules[name]
