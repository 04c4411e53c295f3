"""The dock in the stand-alone window: click, drag a selection, number keys, grid, undo,
propagate, colours, and a screenshot to look at."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from psocake_standin import (  # noqa: E402
    drag,
    isolated_row,
    isolated_rows,
    keep,
    manifold_for,
    open_window,
    same_spot,
)
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets  # noqa: E402

from psocake_labeler.labelling.log import user_name  # noqa: E402

LEFT = QtCore.Qt.MouseButton.LeftButton
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier


pytestmark = pytest.mark.usefixtures("close_windows")


@pytest.fixture
def window(qtbot, small_spi_run, tmp_path):
    m = manifold_for(str(small_spi_run.path), str(tmp_path.parent / "gui_dock_m.h5"))
    return open_window(qtbot, m, tmp_path / "labels.h5")


def test_open_shows_every_event_and_axes_choice(window):
    dock = window.dock
    n = len(dock.session)
    assert len(dock.view.all.data) == n == 300
    assert dock.session.path.name == "labels.h5"
    d = dock.manifold.coords.shape[1]
    assert dock.view.x_box.count() == dock.view.y_box.count() == d   # any stored component
    dock.view.set_axes(d - 1, 0)
    assert np.allclose(dock.view.all.data["x"], dock.manifold.coords[:, d - 1])
    assert np.allclose(dock.view.all.data["y"], dock.manifold.coords[:, 0])
    assert "labelled&nbsp;0/300" in dock.controls.counts.text()


def test_click_point_opens_event_in_viewer(window, qtbot):
    dock, host = window.dock, window.host
    row = isolated_row(dock.view)
    qtbot.mouseClick(dock.view.plot.viewport(), LEFT, pos=dock.view.widget_pos_of(row))
    assert same_spot(dock.view, dock.current_row, row)
    row = dock.current_row
    assert host.current_event() == (int(dock.events[row]["run"]), int(dock.events[row]["event"]))
    run = host.files.run_of(str(dock.events[row]["source"]))
    host.log.setChecked(False)                 # drawn as read, not log-scaled
    drawn = host.viewer.getImageItem().image
    assert np.allclose(drawn, run.image(host.files.index_of(dock.events[row]["source"],
                                                            dock.events[row]["event"])))
    assert list(dock.selected) == [row]


def test_shift_drag_selects_rectangle_then_key_labels_all(window, qtbot):
    dock = window.dock
    vp = dock.view.plot.viewport()
    # a rectangle inside the plotting area (not the axes) around part of the visible points
    area = QtCore.QRectF(dock.view.plot.mapFromScene(dock.view.vb.sceneBoundingRect())
                         .boundingRect()).adjusted(4, 4, -4, -4)
    pts = np.array([[p.x(), p.y()] for p in map(dock.view.widget_pos_of, range(300))
                    if area.contains(QtCore.QPointF(p))])
    (x0, y0), (x1, y1) = np.percentile(pts, [10, 60], axis=0)
    p0 = QtCore.QPointF(max(x0 - 12, area.left()), max(y0 - 12, area.top()))
    p1 = QtCore.QPointF(min(x1 + 12, area.right()), min(y1 + 12, area.bottom()))
    drag(vp, p0.toPoint(), p1.toPoint(), SHIFT)
    # expected: the points drawn inside the dragged rectangle (a pixel of rounding either way)
    rect = QtCore.QRectF(QtCore.QPointF(p0.toPoint()), QtCore.QPointF(p1.toPoint()))

    def within(r):
        return {i for i in range(len(dock.events))
                if r.contains(QtCore.QPointF(dock.view.widget_pos_of(i)))}

    inside = within(rect.adjusted(1, 1, -1, -1))
    assert len(inside) > 3
    assert inside <= set(dock.selected.tolist()) <= within(rect.adjusted(-1, -1, 1, 1))
    inside = set(dock.selected.tolist())
    assert dock.grid.list.count() == min(len(inside), 48)
    assert len(dock.grid.selected_rows()) == dock.grid.list.count()
    qtbot.keyClick(dock.grid.list, QtCore.Qt.Key.Key_2)
    assert dock.wait()
    labels = dock.session.user_labels()
    assert set(labels) == set(inside) and set(labels.values()) == {1}
    # labelling cleared the selection: the next key labels one event, not all of them
    assert len(dock.selected) == 0 and dock.grid.selected_rows() == []
    # a plain drag pans instead of selecting
    before = dock.view.vb.viewRange()
    drag(vp, p1.toPoint(), p0.toPoint(), QtCore.Qt.KeyboardModifier.NoModifier)
    assert dock.view.vb.viewRange() != before
    assert len(dock.selected) == 0


def test_ctrl_click_adds_and_grid_selection_labels(window, qtbot):
    dock = window.dock
    rows = np.array(isolated_rows(dock.view, 2))
    vp = dock.view.plot.viewport()
    qtbot.mouseClick(vp, LEFT, pos=dock.view.widget_pos_of(int(rows[0])))
    qtbot.mouseClick(vp, LEFT, CTRL, pos=dock.view.widget_pos_of(int(rows[1])))
    assert set(dock.selected.tolist()) == set(rows.tolist())
    assert dock.grid.list.count() == 2
    # recommend fills the grid with 10 unlabelled events
    dock.recommend(10)
    assert dock.wait()
    assert dock.grid.list.count() == 10
    rec = dock.grid.rows
    assert len(set(rec)) == 10
    # click the first tile (opens it), ctrl-click the third: both selected, key 3 labels them
    gl = dock.grid.list.viewport()
    qtbot.mouseClick(gl, LEFT, pos=dock.grid.tile_rect(rec[0]).center())
    assert dock.current_row == rec[0]
    qtbot.mouseClick(gl, LEFT, CTRL, pos=dock.grid.tile_rect(rec[2]).center())
    assert sorted(dock.selected.tolist()) == sorted([rec[0], rec[2]])
    qtbot.keyClick(dock.grid.list, QtCore.Qt.Key.Key_3)
    assert dock.wait()
    assert dock.session.user_labels() == {rec[0]: 2, rec[2]: 2}
    # undo / redo through the buttons
    qtbot.mouseClick(dock.controls.buttons["undo"], LEFT)
    assert dock.wait()
    assert dock.session.user_labels() == {}
    qtbot.mouseClick(dock.controls.buttons["redo"], LEFT)
    assert dock.wait()
    assert dock.session.user_labels() == {rec[0]: 2, rec[2]: 2}


def test_propagate_colours_and_counts(window, qtbot, small_spi_run, artifacts_dir):
    from psocake_labeler.simulate import read_truth

    dock = window.dock
    truth = read_truth(small_spi_run.truth_path)
    truth_of = dict(zip(truth.events.tolist(), truth.labels.tolist()))
    # label two events of each class, the way a user would: select, press the key
    for k in range(3):
        rows = [i for i, e in enumerate(dock.events["event"]) if truth_of[int(e)] == k][:2]
        dock.select_rows(rows)
        qtbot.keyClick(dock, getattr(QtCore.Qt.Key, f"Key_{k + 1}"))
        assert dock.wait()
    qtbot.mouseClick(dock.controls.buttons["propagate"], LEFT)
    assert dock.wait()
    pred = np.asarray(dock.session.predicted)
    assert (pred >= 0).all()
    # user-labelled points are drawn in their class colour with a white edge
    red, green, blue = (QtGui.QColor(c) for c in dock.session.colours)
    user_brushes = [b.color().name() for b in dock.view.user.data["brush"]]
    assert sorted(user_brushes) == sorted([red.name()] * 2 + [green.name()] * 2
                                          + [blue.name()] * 2)
    # every other point takes its predicted class colour, with confidence as opacity
    for row in range(0, 300, 37):
        c = dock.view.all.data["brush"][row].color()
        assert c.name() == QtGui.QColor(dock.session.colours[pred[row]]).name()
        conf = dock.session.confidence[row]
        assert abs(c.alpha() - (45 + 210 * conf)) <= 210 / 7 + 1
    text = dock.controls.counts.text()
    assert "labelled&nbsp;6/300&nbsp;(2.0%)" in text
    assert f"Single</b></span>&nbsp;2&nbsp;/&nbsp;{int((pred == 0).sum())}" in text
    dock.recommend(10)
    dock.show_row(dock.session.labelled_rows()[0])
    assert dock.wait()
    path = window.screenshot(artifacts_dir / "gui_standalone.png")
    img = QtGui.QImage(str(path))
    assert img.width() > 800 and img.height() > 500
    # the scatter really shows red, green and blue points
    colours = {QtGui.QColor(img.pixel(x, y)).name() for x in range(0, img.width(), 3)
               for y in range(0, img.height(), 3)}
    for c in (red, green, blue):
        assert c.name() in colours


def test_predictions_are_saved_once_the_user_pauses_not_between_keys(window, qtbot):
    import psocake_labeler as pl

    dock = window.dock
    dock.select_rows([3, 4])
    qtbot.keyClick(dock, QtCore.Qt.Key.Key_1)
    qtbot.mouseClick(dock.controls.buttons["propagate"], LEFT)
    assert dock.wait()
    qtbot.keyClick(dock, QtCore.Qt.Key.Key_2)          # the current event, propagated again
    assert dock.wait() and not dock.session.ahead      # every label is in the store
    path = dock.session.path
    assert len(pl.LabelSession.load(path, dock.session.manifold).user_labels()) == 3
    dock.store_watch.tick()                            # the 5 s timer, while labelling
    assert not dock.session_runner.busy                # nothing queued before the clicks
    dock.store_watch.touched -= dock.store_watch.INTERVAL_MS / 1000.0   # a pause
    dock.store_watch.tick()
    assert dock.session_runner.busy and dock.wait()
    saved = pl.LabelSession.load(path, dock.session.manifold)
    np.testing.assert_array_equal(saved.predicted, dock.session.predicted)
    assert not saved.stale


def test_hover_text_names_run_event_label_confidence(window, qtbot):
    dock = window.dock
    row = isolated_row(dock.view)
    dock.select_rows([row])
    qtbot.keyClick(dock, QtCore.Qt.Key.Key_2)
    assert dock.wait()
    # move the mouse over the point: the tooltip names it
    vp = dock.view.plot.viewport()
    ev = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove,
                           QtCore.QPointF(dock.view.widget_pos_of(row)),
                           QtCore.Qt.MouseButton.NoButton, QtCore.Qt.MouseButton.NoButton,
                           QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(vp, ev)
    qtbot.waitUntil(lambda: "event" in dock.view.plot.toolTip(), timeout=3000)
    text = dock.view.plot.toolTip()
    e = dock.events[row]
    assert f"run {int(e['run'])}" in text and f"event {int(e['event'])} " in text
    assert "your label: Multiple" in text and "confidence 1.00" in text


def answer_text(monkeypatch, text: str) -> None:
    """The next Qt text prompt is answered ``text`` (Qt's modal dialog, not ours)."""
    monkeypatch.setattr(QtWidgets.QInputDialog, "getText", lambda *a, **k: (text, True))


def test_class_editor_adds_a_class_with_button_and_key(window, qtbot, monkeypatch):
    from psocake_labeler.gui.dialogs import ClassEditor

    dock = window.dock
    editor = ClassEditor(dock)
    qtbot.addWidget(editor)
    answer_text(monkeypatch, "Need help")
    editor.add()
    assert editor.list.count() == 4
    assert [b.text() for b in dock.controls.class_buttons][-1] == "4 Need help"
    dock.select_rows([11, 12])
    qtbot.keyClick(dock, QtCore.Qt.Key.Key_4)
    assert dock.wait()
    assert dock.session.user_labels() == {11: 3, 12: 3}
    assert "Need help</b></span>&nbsp;2" in dock.controls.counts.text()
    editor.list.setCurrentRow(3)
    answer_text(monkeypatch, "Ask Bob")
    editor.rename()
    assert [b.text() for b in dock.controls.class_buttons][-2:] == ["4 Ask Bob", "H Need help"]


def test_thumbnail_contrast_control_changes_tiles(window):
    dock = window.dock
    dock.select_rows([1, 2, 3])
    assert dock.wait()
    before = dock.grid.list.item(0).icon().pixmap(120, 166).toImage()
    dock.grid.hi.setValue(50.0)        # white level at the median: a much brighter tile
    after = dock.grid.list.item(0).icon().pixmap(120, 166).toImage()
    mean = [np.mean([QtGui.QColor(img.pixel(x, y)).value() for x in range(0, 120, 3)
                     for y in range(0, 120, 3)]) for img in (before, after)]
    assert mean[1] > mean[0] + 10


def test_compute_manifold_runs_embed_in_background(window, qtbot, small_spi_run, tmp_path):
    from psocake_labeler.gui.compute import start_job

    dock = window.dock
    out = tmp_path / "computed.manifold.h5"
    job = start_job(dock, [str(small_spi_run.path)], str(out), ranks=1,
                    options="--n-components 4 --knn 8")
    stages = []
    job.sigProgress.connect(lambda stage, done, total: stages.append(stage))
    with qtbot.waitSignal(job.sigFinished, timeout=120000) as done:
        pass
    assert done.args[0], done.args[1]
    assert out.exists()
    qtbot.waitUntil(lambda: dock.manifold.coords.shape == (300, 4), timeout=60000)
    assert dock.session.path.name == f"computed.manifold.{user_name()}.labels.h5"
    assert stages, "the embed's progress lines reached the dock"


def test_bad_manifold_file_is_reported_not_raised(qtbot, tmp_path):
    from psocake_labeler.gui.hosts.standalone import StandaloneWindow

    w = StandaloneWindow()
    keep(w)
    bad = tmp_path / "broken.manifold.h5"
    bad.write_bytes(b"not an HDF5 file")
    w.dock.open_manifold(bad)
    assert w.dock.wait()
    assert "broken.manifold.h5" in w.dock.controls.status.text()
    assert w.dock.session is None
    # the dock still answers: a key press without a manifold only says what to do
    qtbot.keyClick(w.dock, QtCore.Qt.Key.Key_1)
    assert "open a manifold first" in w.dock.controls.status.text()


def test_add_run_extends_manifold_and_keeps_labels(window, qtbot, second_spi_run):
    dock = window.dock
    dock.select_rows([0, 1])
    qtbot.keyClick(dock, QtCore.Qt.Key.Key_1)
    assert dock.wait()
    old_events = dock.events[[0, 1]].copy()
    dock.add_runs([second_spi_run.path])
    assert dock.wait(120000)
    assert len(dock.events) == 500 and len(dock.view.all.data) == 500
    assert set(dock.events["run"].tolist()) == {93, 94}
    rows = [dock.row_of(int(e["run"]), int(e["event"])) for e in old_events]
    assert dock.session.user_labels() == {rows[0]: 0, rows[1]: 0}
    assert dock.session.path.exists()
    assert dock.session.path.name == f"amo06516_0094.extended.manifold.{user_name()}.labels.h5"
    # a new event can be opened in the viewer from its own file
    new_row = int(np.flatnonzero(dock.events["run"] == 94)[0])
    dock.show_row(new_row)
    assert window.host.current_event() == (94, int(dock.events[new_row]["event"]))
    assert window.host.viewer.getImageItem().image is not None
    assert "no image" not in window.host.caption.text()


def test_add_run_at_a_shorter_distance_says_so_in_the_status(window, tmp_path,
                                                             artifacts_dir):
    from psocake_labeler.simulate import simulate_run

    near = simulate_run(tmp_path / "amo06516_0095.cxi", hits=40, shape=(64, 64), seed=3,
                        run=95, conditions=f"distance={0.6 * 0.130 * 64 / 1024}")
    dock = window.dock
    dock.add_runs([near.path])
    assert dock.wait(120000)
    assert len(dock.events) == 340
    text = dock.controls.status.text()
    assert "340 events" in text and "amo06516_0095.cxi" in text and "0.60 of the pixels" in text
    new = np.flatnonzero(dock.events["run"] == 95)
    assert np.all(dock.manifold.reliability[new] < 0.9)
    assert window.screenshot(artifacts_dir / "gui_add_near_run.png").exists()


def test_keyboard_only_walk_through_recommendations(window, qtbot):
    dock, host = window.dock, window.host
    rec = dock.grid.rows
    assert len(rec) == 10                       # the dock recommends as soon as it opens
    dock.grid.list.setFocus()
    dock.grid.list.setCurrentRow(0)
    assert dock.current_row == rec[0]
    qtbot.keyClick(dock.grid.list, QtCore.Qt.Key.Key_Right)
    assert dock.current_row == rec[1]
    assert host.current_event()[1] == int(dock.events[rec[1]]["event"])
    qtbot.keyClick(dock.grid.list, QtCore.Qt.Key.Key_3)
    assert dock.wait()
    assert dock.session.user_labels() == {rec[1]: 2}


#: Attributes pyqtgraph's Dock and its DockDrop set on the dock itself in the versions
#: setup.py admits (0.12.4-0.13.3 made DockDrop a mixin whose drop overlay is
#: ``self.overlay``; 0.13.4 moved it to ``self.dockdrop``): ours must not shadow them.
PYQTGRAPH_DOCK_NAMES = {"overlay", "dockdrop", "allowedAreas", "area", "label", "widgets",
                        "widgetArea", "topLayout", "layout", "orientation", "autoOrient",
                        "labelHidden", "moveLabel", "closable", "currentRow", "drag"}


def test_the_dock_shadows_no_attribute_of_pyqtgraphs_dock(window, qtbot):
    import inspect
    import re

    from pyqtgraph.dockarea import Dock

    ours = set()
    for cls in type(window.dock).__mro__:
        if cls.__module__.startswith("psocake_labeler"):
            ours |= set(re.findall(r"self\.(\w+) = ", inspect.getsource(cls)))
    assert "label_overlay" in ours
    taken = PYQTGRAPH_DOCK_NAMES | set(vars(Dock("plain")))
    assert not ours & taken, sorted(ours & taken)
    window.resize(900, 700)                    # pyqtgraph 0.12 resized its overlay here
    qtbot.wait(50)
    assert window.dock.label_overlay.text
