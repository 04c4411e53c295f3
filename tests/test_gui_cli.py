"""``psocake-labeler gui`` and ``psocake-labeler demo`` offscreen: screenshots, clean errors."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from psocake_standin import manifold_for  # noqa: E402
from pyqtgraph.Qt import QtGui  # noqa: E402


def _colourful(path) -> set[str]:
    img = QtGui.QImage(str(path))
    assert img.width() > 800 and img.height() > 500
    return {QtGui.QColor(img.pixel(x, y)).name() for x in range(0, img.width(), 4)
            for y in range(0, img.height(), 4)}


def test_gui_command_screenshot_and_labels_file(qapp, small_spi_run, tmp_path, artifacts_dir):
    from psocake_labeler.cli import main
    from psocake_labeler.labelling.session import LabelSession

    m = manifold_for(str(small_spi_run.path), str(tmp_path.parent / "gui_cli_m.h5"))
    labels = tmp_path / "mine.h5"
    out = artifacts_dir / "gui_command.png"
    assert main(["gui", m, "--labels", str(labels), "--screenshot", str(out)]) == 0
    assert out.exists() and labels.exists()
    # the class buttons are drawn in the class colours
    colours = _colourful(out)
    import psocake_labeler as pl

    s = LabelSession.load(labels, pl.Manifold.load(m))
    assert sum(c in colours for c in s.colours) == 3


def test_demo_screenshot_with_recommended_events(qapp, tmp_path, monkeypatch, artifacts_dir):
    from psocake_labeler.cli import main

    monkeypatch.setenv("PSOCAKE_LABELER_CACHE", str(tmp_path / "cache"))
    out = artifacts_dir / "demo_small.png"
    assert main(["demo", "--hits", "150", "--no-mpi", "--screenshot", str(out)]) == 0
    assert out.exists()
    # cached: the run and its manifold are reused by the next demo
    cached = sorted(p.name for p in (tmp_path / "cache" / "demo_150").iterdir())
    manifolds = [n for n in cached if n.startswith("amo06516_0093.manifold-")]
    assert "amo06516_0093.cxi" in cached and len(manifolds) == 1
    from psocake_labeler.cli.demo import prepare

    run_path, manifold_path = prepare(150, mpi=False)
    assert manifold_path.name == manifolds[0]
    assert manifold_path.stat().st_mtime_ns == (tmp_path / "cache" / "demo_150" /
                                                manifolds[0]).stat().st_mtime_ns
    assert len(_colourful(out)) > 20


def grey_levels(grid, k: int) -> int:
    """Distinct grey levels drawn in tile ``k``'s image square: an image gives many, the
    "loading…" or "no image" text on the dark background a handful."""
    img = grid.list.item(k).icon().pixmap(grid.list.iconSize()).toImage()
    side = min(img.width(), img.height())
    return len({QtGui.QColor(img.pixel(x, y)).value() for x in range(8, side - 8, 2)
                for y in range(8, side - 8, 2)})


def test_demo_window_fills_grid_with_recommendations(qtbot, tmp_path, monkeypatch):
    """The demo's window, driven directly: 10 recommended tiles with images."""
    from psocake_labeler.gui import demo

    monkeypatch.setenv("PSOCAKE_LABELER_CACHE", str(tmp_path / "cache"))
    seen = {}
    from psocake_labeler.gui.hosts import standalone

    class Spy(standalone.StandaloneWindow):
        def screenshot(self, path):
            self.dock.wait()
            seen["rows"] = list(self.dock.grid.rows)
            seen["rec"] = list(self.dock.recommended)
            seen["levels"] = [grey_levels(self.dock.grid, k) for k in range(len(seen["rows"]))]
            out = super().screenshot(path)
            self.dock.grid.clear_cache()            # control: the same tiles, "loading…"
            self.dock.grid.refresh()
            seen["placeholders"] = [grey_levels(self.dock.grid, k)
                                    for k in range(len(seen["rows"]))]
            return out

    monkeypatch.setattr(standalone, "StandaloneWindow", Spy)
    demo.run_demo(150, tmp_path / "d.png", mpi=False)
    assert len(seen["rows"]) == 10 and seen["rows"] == seen["rec"]
    # measured 137-198 levels with images, 53-54 for the placeholder text
    assert min(seen["levels"]) > 2 * max(seen["placeholders"])
    assert np.unique(seen["rows"]).size == 10


def test_compute_commands_for_mpiexec_and_sbatch(tmp_path):
    import sys

    from psocake_labeler.cli.jobs import PROGRESS, mpiexec_command, sbatch_script

    cmd = mpiexec_command(["r0093/"], "m.h5", ranks=4, options="--knn 20")
    assert cmd[-8:] == ["-m", "psocake_labeler", "embed", "r0093/", "-o", "m.h5", "--knn", "20"]
    assert cmd[0].endswith("mpiexec") and cmd[1:3] == ["-n", "4"]
    assert mpiexec_command(["a.cxi"], "m.h5", ranks=1)[0] == sys.executable
    script = sbatch_script(["r0093/"], str(tmp_path / "m.h5"), 16, partition="milano",
                           account="lcls:amo06516")
    assert "#SBATCH --ntasks=16" in script and "#SBATCH --partition=milano" in script
    assert "#SBATCH --account=lcls:amo06516" in script
    assert f"#SBATCH --output={tmp_path / 'm.h5'}.log" in script
    assert "mpirun -n $SLURM_NTASKS" in script and " embed r0093/ -o " in script
    m = PROGRESS.match("k-NN: 1200/2000 (60%), 400.0/s, ETA 2 s")
    assert m and (m["stage"], m["done"], m["total"]) == ("k-NN", "1200", "2000")
