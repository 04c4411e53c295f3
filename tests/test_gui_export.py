"""The Export dialog: minimum confidence, counts before writing, the warning while a class
has no label, progress, and keys that still label during the export."""
from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest

pytest.importorskip("pytestqt")
from psocake_standin import manifold_for, open_window, truth_of_rows  # noqa: E402
from pyqtgraph.Qt import QtCore  # noqa: E402

LEFT = QtCore.Qt.MouseButton.LeftButton


pytestmark = pytest.mark.usefixtures("close_windows")


@pytest.fixture
def window(qtbot, small_spi_run, tmp_path):
    m = manifold_for(str(small_spi_run.path), str(tmp_path.parent / "gui_export_m.h5"))
    w = open_window(qtbot, m, tmp_path / "labels.h5")
    w.truth = truth_of_rows(w.dock.events, small_spi_run.truth_path)
    return w


def label(dock, per_class):
    for k, n in per_class.items():
        dock.select_rows(np.flatnonzero(dock.window().truth == k)[:n])
        dock.label_selected(k)
    dock.controls.buttons["propagate"].click()
    assert dock.wait()


def test_only_single_labelled_warns_and_needs_force(window, qtbot, tmp_path):
    from psocake_labeler.gui.export_dialog import ExportDialog

    dock = window.dock
    label(dock, {0: 3})
    dlg = ExportDialog(dock)
    qtbot.addWidget(dlg)
    assert dlg.min_conf.value() == pytest.approx(0.9)          # the default, shown
    dlg.path.setText(str(tmp_path / "single.cxi"))
    assert dlg.cls.currentText() == "Single" and dlg.cls.isEnabled()
    assert "of 300 events are Single" in dlg.counts.text()
    assert "'Multiple', 'Water/Unknown'" in dlg.warning.text()
    assert not dlg.ok.isEnabled() and dlg.force.isVisibleTo(dlg)
    dlg.force.setChecked(True)
    assert dlg.ok.isEnabled()
    stages = []
    dock.runner.sigProgress.connect(lambda stage, done, total: stages.append((done, total)))
    qtbot.mouseClick(dlg.ok, LEFT)
    assert dock.wait()
    assert "exported" in dock.controls.status.text()
    with h5py.File(tmp_path / "single.cxi", "r") as f:
        n = len(f["/LCLS/eventNumber"])
    assert 3 <= n < 300                     # only confident Single events, not all 300
    assert stages and stages[-1][0] == stages[-1][1]          # progress reached the end


def test_threshold_and_keys_answered_during_export(window, qtbot, tmp_path):
    from psocake_labeler.gui.export_dialog import ExportDialog

    dock = window.dock
    label(dock, {0: 2, 1: 2, 2: 2})
    dlg = ExportDialog(dock)
    qtbot.addWidget(dlg)
    out = tmp_path / "labels.csv"
    dlg.path.setText(str(out))
    dlg.min_conf.setValue(0.95)
    assert not dlg.cls.isEnabled() and dlg.warning.text() == "" and dlg.ok.isEnabled()
    conf = np.asarray(dock.session.confidence)
    user = dock.session.user_labels()
    unsure = [r for r in range(300) if r not in user and conf[r] < 0.95]
    assert f"{len(unsure)} unsure" in dlg.counts.text()
    row = int(unsure[0])
    dock.show_row(row)
    qtbot.mouseClick(dlg.ok, LEFT)
    dock.grid.list.setFocus()
    qtbot.keyClick(dock.grid.list, QtCore.Qt.Key.Key_2)    # while the export runs
    assert dock.wait()
    assert dock.session.user_labels()[row] == 1               # the key was applied
    with open(out, newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 300
    by_event = {int(r["event"]): r for r in table}
    ev = int(dock.events[row]["event"])
    # the export holds the labels as they were when Export was pressed
    assert by_event[ev]["label"] == "" and by_event[ev]["source"] == "unsure"
    assert sum(r["source"] == "unsure" for r in table) == len(unsure)
