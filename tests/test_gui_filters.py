"""Filters and search in the dock: only a class, only propagated or your labels, confidence
below / above a threshold; jump to (run, event); find similar events and label them."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from psocake_standin import manifold_for, open_window, truth_of_rows  # noqa: E402
from pyqtgraph.Qt import QtCore  # noqa: E402

KEY = QtCore.Qt.Key


pytestmark = pytest.mark.usefixtures("close_windows")


@pytest.fixture
def window(qtbot, small_spi_run, tmp_path):
    """The stand-alone window with two labels per true class, propagated."""
    m = manifold_for(str(small_spi_run.path), str(tmp_path.parent / "gui_filters_m.h5"))
    w = open_window(qtbot, m, tmp_path / "labels.h5")
    dock = w.dock
    w.truth = truth_of_rows(dock.events, small_spi_run.truth_path)
    for k in range(3):
        dock.select_rows(np.flatnonzero(w.truth == k)[:2])
        dock.label_selected(k)
    dock.controls.buttons["propagate"].click()
    assert dock.wait()
    return w


def shown(dock) -> np.ndarray:
    """Rows the manifold view draws now."""
    vis = dock.view.all.data["visible"]
    return np.flatnonzero(vis)


def test_only_a_class_least_confident_first(window):
    dock = window.dock
    final, conf, *_ = dock.final_labels()
    dock.filters.set_filter("class Multiple")
    want = np.flatnonzero(final == 1)
    assert 2 < len(want) < 300
    assert np.array_equal(shown(dock), want)
    rows = dock.grid.rows
    assert set(rows) <= set(want.tolist()) and len(rows) == min(len(want), 48)
    assert np.all(np.diff(conf[rows]) >= 0)             # least confident first
    assert dock.current_row == rows[0]
    assert dock.grid.title.text().startswith("Filter: class Multiple")
    # a hidden point cannot be picked
    hidden = int(np.flatnonzero(final != 1)[0])
    where = dock.view.coords[hidden, list(dock.view.axes)]       # its data-space point
    assert dock.view.nearest(QtCore.QPointF(*where)) != hidden


def test_propagated_below_and_your_labels_and_back_to_all(window, qtbot):
    dock = window.dock
    final, conf, user_rows, *_ = dock.final_labels()
    dock.filters.set_filter("propagated", "confidence <", 0.6)
    got = shown(dock)
    assert len(got) and not set(got) & set(user_rows.tolist())
    assert np.all(conf[got] < 0.6) and np.all(final[got] >= 0)
    assert np.array_equal(got, np.flatnonzero((conf < 0.6) & (final >= 0)
                                              & ~np.isin(np.arange(len(final)), user_rows)))
    dock.filters.set_filter("your labels", "any confidence")
    assert sorted(shown(dock).tolist()) == sorted(user_rows.tolist())
    dock.filters.set_filter("all events", "confidence >", 0.9)
    assert np.array_equal(shown(dock), np.flatnonzero(conf > 0.9))
    # the filter follows new labels: a labelled event leaves "propagated"
    dock.filters.set_filter("propagated")
    row = int(dock.grid.rows[0])
    dock.grid.list.setFocus()
    qtbot.keyClick(dock.grid.list, KEY.Key_1)
    assert dock.wait()
    assert row not in set(shown(dock).tolist())
    dock.filters.set_filter("all events", "any confidence")
    assert len(shown(dock)) == 300
    assert dock.wait() and dock.grid.title.text().startswith("Recommended")


def test_jump_to_run_event(window, qtbot):
    dock, host = window.dock, window.host
    ev = dock.events[123]
    dock.filters.jump.setFocus()
    qtbot.keyClicks(dock.filters.jump, f"{int(ev['run'])} {int(ev['event'])}")
    labels_before = dict(dock.session.user_labels())
    qtbot.keyClick(dock.filters.jump, KEY.Key_Return)
    assert dock.current_row == 123
    assert host.current_event() == (int(ev["run"]), int(ev["event"]))
    assert dock.session.user_labels() == labels_before   # typed digits did not label
    dock.filters.jump.setText("93 999999")
    qtbot.keyClick(dock.filters.jump, KEY.Key_Return)
    assert "run 93 event 999999 is not on this manifold" in dock.controls.status.text()
    assert dock.current_row == 123


def test_find_similar_then_label_them_together(window, qtbot):
    from psocake_labeler.embedding.views import similar_rows

    dock = window.dock
    row = int(np.flatnonzero(window.truth == 1)[5])
    dock.show_row(row)
    dock.grid.list.setFocus()
    qtbot.keyClick(dock.grid.list, KEY.Key_S)
    want = similar_rows(np.asarray(dock.manifold.coords), dock.manifold.eigenvalues, row, 24)
    assert dock.grid.rows == [int(r) for r in want]
    assert dock.current_row == row and dock.grid.title.text().startswith("Similar to run")
    # the neighbours mostly share the event's true class
    assert np.mean(window.truth[want] == 1) > np.mean(window.truth == 1)
    # select all tiles (Ctrl+A in the grid) and label them with one key
    qtbot.keyClick(dock.grid.list, KEY.Key_A, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert len(dock.selected) == 24
    qtbot.keyClick(dock.grid.list, KEY.Key_2)
    assert dock.wait()
    labels = dock.session.user_labels()
    assert all(labels.get(int(r)) == 1 for r in want)
