"""The keyboard flow in the stand-alone window, driven by keys sent to the focused widget:
R / first open fill the grid, a number key labels and moves on, Space skips, arrows move,
Escape clears the selection, H asks for help, Ctrl+Z undoes, the next batch comes."""
from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
from psocake_standin import manifold_for, open_window  # noqa: E402
from pyqtgraph.Qt import QtCore, QtWidgets  # noqa: E402

KEY = QtCore.Qt.Key
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier


pytestmark = pytest.mark.usefixtures("close_windows")


@pytest.fixture
def window(qtbot, small_spi_run, tmp_path):
    m = manifold_for(str(small_spi_run.path), str(tmp_path.parent / "gui_flow_m.h5"))
    w = open_window(qtbot, m, tmp_path / "labels.h5")
    w.dock.grid.list.setFocus()
    return w


def press(qtbot, dock, key, modifiers=QtCore.Qt.KeyboardModifier.NoModifier):
    """A key to the widget that has the focus, as a user's key would go; then wait for the
    session thread and the redraw."""
    target = QtWidgets.QApplication.focusWidget() or dock.grid.list
    qtbot.keyClick(target, key, modifiers)
    assert dock.wait()


def test_open_fills_grid_and_makes_first_current(window):
    dock = window.dock
    rows = dock.grid.rows
    assert len(rows) == 10 and dock.current_row == rows[0]
    ev = dock.events[rows[0]]
    assert window.host.current_event() == (int(ev["run"]), int(ev["event"]))
    text = dock.controls.target.text()
    assert f"run {int(ev['run'])} event {int(ev['event'])} (1 of 10)" in text


def test_number_key_labels_and_moves_on_space_skips_arrows_move_undo_returns(window, qtbot):
    dock = window.dock
    rows = list(dock.grid.rows)
    press(qtbot, dock, KEY.Key_1)
    assert dock.session.user_labels() == {rows[0]: 0}
    assert dock.current_row == rows[1]                   # one key per event
    press(qtbot, dock, KEY.Key_Space)                    # skip rows[1]
    assert dock.current_row == rows[2]
    press(qtbot, dock, KEY.Key_2)
    assert dock.session.user_labels() == {rows[0]: 0, rows[2]: 1}
    assert dock.current_row == rows[3]
    press(qtbot, dock, KEY.Key_Right)
    assert dock.current_row == rows[4]
    press(qtbot, dock, KEY.Key_Left)
    press(qtbot, dock, KEY.Key_Left)
    assert dock.current_row == rows[2]                   # arrows visit labelled tiles too
    press(qtbot, dock, KEY.Key_Down)
    cols = dock.grid.columns()
    assert cols > 1 and dock.current_row == rows[min(2 + cols, 9)]
    # Ctrl+Z takes the last label back and returns to its event, ready for the right key
    press(qtbot, dock, KEY.Key_Z, CTRL)
    assert dock.session.user_labels() == {rows[0]: 0}
    assert dock.current_row == rows[2]
    press(qtbot, dock, KEY.Key_3)
    assert dock.session.user_labels() == {rows[0]: 0, rows[2]: 2}
    # on to the next unlabelled tile after it; rows[1], skipped with Space, is passed over
    assert dock.current_row == rows[3]
    # what was labelled is what the status line announced before each key
    assert "(4 of 10)" in dock.controls.target.text()


def test_selection_labels_all_then_clears_escape_clears(window, qtbot):
    dock = window.dock
    rows = list(dock.grid.rows)
    dock.select_rows(rows[5:8])
    assert "3 selected" in dock.controls.target.text()
    press(qtbot, dock, KEY.Key_Escape)
    assert len(dock.selected) == 0 and dock.grid.selected_rows() == []
    assert "3 selected" not in dock.controls.target.text()
    dock.select_rows(rows[5:8])
    press(qtbot, dock, KEY.Key_2)
    assert dock.session.user_labels() == {r: 1 for r in rows[5:8]}
    assert len(dock.selected) == 0                       # the next key labels one event
    cur = dock.current_row
    press(qtbot, dock, KEY.Key_1)
    assert dock.session.user_labels()[cur] == 0
    assert len(dock.session.user_labels()) == 4


def test_batch_done_brings_next_batch(window, qtbot):
    dock = window.dock
    first = list(dock.grid.rows)
    for _ in first:
        press(qtbot, dock, KEY.Key_1)
    labels = dock.session.user_labels()
    assert set(first) <= set(labels)
    second = list(dock.grid.rows)
    assert len(second) == 10 and not set(second) & set(labels)
    assert dock.current_row == second[0]
    assert dock.grid.title.text().startswith("Recommended")


def test_h_key_asks_for_help_with_its_own_class(window, qtbot):
    dock = window.dock
    row = dock.current_row
    assert [b.text() for b in dock.controls.class_buttons][-1] == "H Need help"
    press(qtbot, dock, KEY.Key_H)
    s = dock.session
    assert s.classes[-1] == "Need help" and s.user_labels() == {row: len(s.classes) - 1}
    assert dock.current_row != row
    press(qtbot, dock, KEY.Key_H)                        # the class is reused, not added again
    assert s.classes.count("Need help") == 1 and len(s.user_labels()) == 2
    assert dock.controls.class_buttons[-1].text() == f"{len(s.classes)} Need help"


def test_keys_work_when_the_manifold_has_focus(window, qtbot):
    dock = window.dock
    dock.view.plot.setFocus()
    rows = list(dock.grid.rows)
    press(qtbot, dock, KEY.Key_Right)
    assert dock.current_row == rows[1]
    press(qtbot, dock, KEY.Key_2)
    assert dock.session.user_labels() == {rows[1]: 1}
    assert dock.current_row == rows[2]


def test_removing_a_class_keeps_ctrl_z(window, qtbot, monkeypatch):
    from psocake_labeler.gui.dialogs import ClassEditor

    dock = window.dock
    rows = list(dock.grid.rows)
    press(qtbot, dock, KEY.Key_1)
    press(qtbot, dock, KEY.Key_2)
    editor = ClassEditor(dock)
    qtbot.addWidget(editor)
    editor.list.setCurrentRow(dock.session.classes.index("Multiple"))
    asked = []                              # "Multiple holds 1 of your labels; remove them?"
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: asked.append(a[2])
                        or QtWidgets.QMessageBox.StandardButton.Yes)
    editor.remove()
    assert asked == ["Multiple holds 1 of your labels; remove them too?"]
    assert dock.session.user_labels() == {rows[0]: 0}
    assert dock.controls.buttons["undo"].isEnabled()
    dock.grid.list.setFocus()
    press(qtbot, dock, KEY.Key_Z, CTRL)       # undoes the Multiple label: gone with its class
    press(qtbot, dock, KEY.Key_Z, CTRL)       # undoes the Single label
    assert dock.session.user_labels() == {} and dock.current_row == rows[0]
