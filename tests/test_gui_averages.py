"""The class-averages window: opened from the dock's More menu, computed in the background,
one mean image per class that looks like that class."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from psocake_standin import open_window  # noqa: E402

pytestmark = pytest.mark.usefixtures("close_windows")


def test_class_averages_from_the_more_menu(qtbot, small_spi_manifold_path, spi_manifold,
                                           tmp_path, artifacts_dir):
    w = open_window(qtbot, small_spi_manifold_path, tmp_path / "labels.h5")
    dock, truth = w.dock, spi_manifold[1]
    for k in range(3):
        dock.select_rows(np.flatnonzero(truth == k)[:4])
        dock.label_selected(k)
        assert dock.wait()
    dock.controls.menu_actions["averages"].trigger()     # More ▾ -> Class averages…
    win = dock.averages_window
    qtbot.waitUntil(lambda: len(win.titles) == 3, timeout=60000)
    assert win.titles[0].startswith("Single: mean of ")
    # every class has at least its 4 labels averaged, and says how many
    counts = [int(t.split("mean of ")[1].split(" ")[0]) for t in win.titles]
    assert min(counts) >= 4
    views = [item for item in win.plots.ci.items if hasattr(item, "addedItems")]
    shown = [v.addedItems[0].image for v in views]
    assert len(shown) == 3
    # each tile is the mean of exactly that class's confident events, read from the run
    import psocake_labeler as pl

    run = pl.open_run(small_spi_run_path(dock))
    label, _source, conf = dock.session.to_data().final()
    hit_of = {int(e): i for i, e in enumerate(run.events)}
    for k in range(3):
        rows = np.flatnonzero((label == k) & (conf >= 0.9))
        hits = np.sort([hit_of[int(e)] for e in dock.events["event"][rows]])
        mean = run.images(hits).astype(np.float64).mean(axis=0)
        assert np.allclose(shown[k], np.log1p(np.clip(np.nan_to_num(mean), 0, None)),
                           rtol=1e-6, atol=1e-6)
        # and the classes look different: most of a class's members are of that true class
        assert np.mean(truth[rows] == k) > 0.9
    qtbot.wait(50)
    win.grab().save(str(artifacts_dir / "class-averages.png"))


def small_spi_run_path(dock) -> str:
    """The run file the dock's manifold was built from."""
    return str(dock.events["source"][0])
