"""The views of the dock in the stand-alone window at 1400 x 900: automatic and remembered
axes, lasso, legend, the event grid (ten tiles in sight, size slider, double-click), 3-D; the
density image of many events (threshold lowered), and a label restyling only its row."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from psocake_standin import (  # noqa: E402
    isolated_row,
    open_window,
    same_spot,
    xvfb_display_problem,
)
from pyqtgraph.Qt import QtCore, QtGui, QtTest, QtWidgets  # noqa: E402

LEFT = QtCore.Qt.MouseButton.LeftButton
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier


pytestmark = pytest.mark.usefixtures("close_windows")


@pytest.fixture
def mpath(small_spi_manifold_path):
    return str(small_spi_manifold_path)     # 10 components: enough pairs to choose from


@pytest.fixture
def window(qtbot, mpath, tmp_path):
    return open_window(qtbot, mpath, tmp_path / "labels.h5")


def drag_path(widget, points, modifiers) -> None:
    """A left-button drag through ``points`` (QPoint) with held modifiers, at a hand's pace
    (pyqtgraph drops mouse moves that come faster than a screen refresh)."""
    QtTest.QTest.mousePress(widget, LEFT, modifiers, points[0])
    for p in points[1:]:
        QtTest.QTest.qWait(20)
        ev = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, QtCore.QPointF(p),
                               QtCore.Qt.MouseButton.NoButton, LEFT, modifiers)
        QtWidgets.QApplication.sendEvent(widget, ev)
    QtTest.QTest.mouseRelease(widget, LEFT, modifiers, points[-1])


def test_default_axes_are_chosen_and_a_choice_is_remembered(window, qtbot, mpath, tmp_path):
    from psocake_labeler.embedding.views import best_axes

    dock = window.dock
    coords = np.asarray(dock.manifold.coords)
    auto = best_axes(coords)
    assert dock.view.axes == auto and auto != (0, 1)
    assert np.allclose(dock.view.all.data["x"], coords[:, auto[0]])
    # the user picks psi5 / psi8 with the boxes; a new window on the same manifold shows them
    dock.view.x_box.setCurrentIndex(4)
    dock.view.x_box.activated.emit(4)
    dock.view.y_box.setCurrentIndex(7)
    dock.view.y_box.activated.emit(7)
    assert dock.view.axes == (4, 7)
    again = open_window(qtbot, mpath, tmp_path / "other.labels.h5")
    assert again.dock.view.axes == (4, 7)
    assert np.allclose(again.dock.view.all.data["y"], coords[:, 7])
    # the same component on both axes swaps instead of drawing a diagonal
    again.dock.view.y_box.setCurrentIndex(4)
    again.dock.view.y_box.activated.emit(4)
    assert again.dock.view.axes == (7, 4)
    # "auto" forgets the choice
    qtbot.mouseClick(again.dock.view.auto_axes, LEFT)
    assert again.dock.wait() and again.dock.view.axes == auto
    third = open_window(qtbot, mpath, tmp_path / "third.labels.h5")
    assert third.dock.view.axes == auto


def _triangle_unlike_its_box(pts, rect):
    """A triangle inside the widget's ``rect`` (a drag must start on the plot) holding >= 5 of
    the points, whose bounding box holds more."""
    centre = np.median(pts, axis=0)
    for r in np.percentile(np.linalg.norm(pts - centre, axis=1), [30, 50, 70, 20, 10]):
        for turn in range(8):
            a = turn * np.pi / 4 + np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3])
            poly = [QtCore.QPoint(int(x), int(y)) for x, y in
                    zip(centre[0] + r * np.cos(a), centre[1] + r * np.sin(a))]
            if not all(rect.contains(p) for p in poly):
                continue
            tri = QtGui.QPolygonF([QtCore.QPointF(p) for p in poly])
            inside = {i for i, (x, y) in enumerate(pts)
                      if tri.containsPoint(QtCore.QPointF(x, y), QtCore.Qt.FillRule.OddEvenFill)}
            box = tri.boundingRect()
            in_box = {i for i, (x, y) in enumerate(pts) if box.contains(QtCore.QPointF(x, y))}
            if len(inside) >= 5 and len(in_box) >= len(inside) + 3:
                return poly, inside
    raise AssertionError("no triangle differs from its rectangle on these points")


def test_lasso_selects_the_points_inside_the_polygon(window, qtbot):
    dock = window.dock
    view = dock.view
    view.shape_box.setCurrentText("lasso")
    vp = view.plot.viewport()
    pts = np.array([[p.x(), p.y()] for p in map(view.widget_pos_of, range(len(dock.events)))])
    # a triangle whose rectangle would select more: the lasso must take only the inside
    poly, inside = _triangle_unlike_its_box(pts, vp.rect())
    path = []
    for a, b in zip(poly, poly[1:] + poly[:1]):
        path += [a + (b - a) * (k / 6) for k in range(6)]
    path.append(poly[0])
    drag_path(vp, path, SHIFT)
    got = set(dock.selected.tolist())
    assert len(got ^ inside) <= max(2, len(inside) // 50)   # pixel rounding at the edges
    assert dock.grid.title.text().startswith("Selected")
    assert f"{len(got)} selected" in dock.controls.target.text()


def test_legend_names_every_class_and_mark(window):
    dock = window.dock
    dock.session.add_class("Need help")
    assert dock.wait()
    text = dock.view.legend.text()
    for name in dock.session.classes + ["unlabelled", "recommended", "current", "selected"]:
        assert name in text
    assert dock.session.colours[3].lower() in text.lower()


def test_ten_tiles_in_sight_at_1400_by_900_slider_and_double_click(window, qtbot):
    dock, host = window.dock, window.host
    assert (window.width(), window.height()) == (1400, 900)
    rows = dock.grid.rows
    assert len(rows) == 10
    vp = dock.grid.list.viewport().rect()
    for r in rows:
        assert vp.contains(dock.grid.tile_rect(r)), "every recommendation visible, no scroll"
    assert dock.grid.tile_rect(rows[0]).width() >= 140
    # tiles show the image, not a stamp: at least 128 px of image across
    icon = dock.grid.list.item(0).icon().pixmap(dock.grid.list.iconSize()).toImage()
    assert icon.width() >= 140
    dock.grid.size.setValue(300)
    assert dock.grid.tile_rect(rows[0]).width() >= 300
    assert not all(vp.contains(dock.grid.tile_rect(r)) for r in rows)
    # double-click: the event in the viewer, zoomed out to the whole image
    host.viewer.getView().setRange(xRange=(0, 5), yRange=(0, 5), padding=0)
    rect = dock.grid.tile_rect(rows[3])
    qtbot.mouseDClick(dock.grid.list.viewport(), LEFT, pos=rect.center())
    assert dock.current_row == rows[3]
    ev = dock.events[rows[3]]
    assert host.current_event() == (int(ev["run"]), int(ev["event"]))
    (x0, x1), _ = host.viewer.getView().viewRange()
    assert x1 - x0 >= host.viewer.getImageItem().boundingRect().width() - 1


def test_3d_tab_says_why_without_opengl(window):
    dock = window.dock
    dock.view_tabs.setCurrentIndex(1)
    if dock.gl_problem is None:
        pytest.skip("OpenGL works here: the 3-D view itself is tested")
    # the tab says why instead of crashing (Qt's offscreen platform has no OpenGL)
    assert "OpenGL" in dock.gl_problem and dock.view_tabs.widget(1).text() == dock.gl_problem


def test_3d_view_colours_and_picking(window, qtbot):
    dock = window.dock
    dock.view_tabs.setCurrentIndex(1)
    if dock.gl_problem is not None:
        pytest.skip(f"no OpenGL here: {dock.gl_problem}")
    v = dock.view3d
    dock.select_rows([0, 1])
    dock.label_selected(0)
    dock.controls.buttons["propagate"].click()
    assert dock.wait()
    pred = np.asarray(dock.session.predicted)
    colours = QtGui.QColor(dock.session.colours[int(pred[5])])
    rgba = v.all.color[5]
    assert abs(rgba[0] - colours.redF()) < 0.01 and abs(rgba[2] - colours.blueF()) < 0.01
    for _ in range(5):
        QtWidgets.QApplication.processEvents()
    xy = v.screen_xy()
    w, h = v.gl.width(), v.gl.height()
    on = np.flatnonzero((xy[:, 0] > 10) & (xy[:, 0] < w - 10) & (xy[:, 1] > 10)
                        & (xy[:, 1] < h - 10))
    d = np.min(np.where(np.eye(len(on), dtype=bool), np.inf,
                        np.linalg.norm(xy[on, None] - xy[None, on], axis=2)), axis=1)
    row = int(on[np.argmax(d)])
    qtbot.mouseClick(v.gl, LEFT, pos=QtCore.QPoint(*np.rint(xy[row]).astype(int)))
    assert dock.current_row == row
    assert v.marks.pos is not None and len(v.marks.pos) >= 1


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed")
def test_3d_view_under_a_real_x_server():
    """The 3-D test again in a child process on Xvfb's OpenGL (the offscreen platform has
    none)."""
    if os.environ.get("QT_QPA_PLATFORM") == "xcb":
        pytest.skip("already the child")
    problem = xvfb_display_problem()
    if problem is not None and "lacks" in problem:
        pytest.skip(f"Xvfb runs but Qt's xcb libraries are missing: {problem}")
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    here = Path(__file__)
    done = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable,
                           "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"{here}::test_3d_view_colours_and_picking"],
                          cwd=here.parent, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "1 passed" in out, out[-3000:]


def test_isolated_pick_still_works_with_new_axes(window, qtbot):
    dock = window.dock
    row = isolated_row(dock.view)
    qtbot.mouseClick(dock.view.plot.viewport(), LEFT, pos=dock.view.widget_pos_of(row))
    assert dock.current_row is not None
    assert same_spot(dock.view, dock.current_row, row)


# -- many events: the density image (density.py), and restyling only what changed --------

def _pixel_of(view, row):
    x0, y0, dx, dy = view.density.rect
    h, w = view.density.shape
    x, y = view.coords[row, list(view.axes)]
    return int((y - y0) * h / dy), int((x - x0) * w / dx)


def test_density_image_follows_clicks_keys_and_zoom(qtbot, small_spi_manifold_path, tmp_path,
                                                    monkeypatch):
    from psocake_labeler.gui import manifold_view

    monkeypatch.setattr(manifold_view, "DENSITY_FROM", 50)
    w = open_window(qtbot, str(small_spi_manifold_path), tmp_path / "labels.h5")
    dock, view = w.dock, w.dock.view
    assert view.dense and view.density.item.isVisible() and not view.all.isVisible()
    image = view.density.item.image
    assert image is not None and (image[..., 3] > 0).sum() > 20     # the events are drawn
    # A click picks the event under the mouse; a class key labels it.
    row = isolated_row(view)
    qtbot.mouseClick(view.plot.viewport(), LEFT, pos=view.widget_pos_of(row))
    assert dock.current_row == row
    with qtbot.waitSignal(dock.sigUpdated, timeout=60000):
        qtbot.keyClick(dock, QtCore.Qt.Key.Key_2)
    assert dock.wait()
    assert dock.session.user_labels()[row] == 1
    # Propagation restyled many events, only their pixels drawn again: the kept sums and
    # the picture are those of a full pass.
    kept, picture = view.density.sums.copy(), view.density.image.copy()
    renders = view.density.renders
    view.density.set_styles(dock.class_palette.rgba, view.codes)
    assert view.density.renders == renders + 1
    np.testing.assert_array_equal(kept, view.density.sums)
    np.testing.assert_array_equal(picture, view.density.image)
    # The labelled event's pixel shows its class colour more than any other's.
    r, c = _pixel_of(view, row)
    rgb = view.density.item.image[r, c, :3].astype(float)
    colours = np.array(dock.class_palette.colours, dtype=float)
    assert np.argmin(np.linalg.norm(colours - rgb, axis=1)) == 1
    # A zoom re-bins the image on the new range.
    (x0, x1), (y0, y1) = view.vb.viewRange()
    view.vb.setRange(xRange=(x0, (x0 + x1) / 2), yRange=(y0, (y0 + y1) / 2), padding=0)
    qtbot.waitUntil(lambda: abs(view.density.rect[2] - (x1 - x0) / 2) < 1e-6 * (x1 - x0),
                    timeout=5000)


def test_density_image_draws_a_tight_cluster_as_a_blob_and_a_lone_event_clearly(qtbot):
    """Three classes collapsed to points (as the 10^6 benchmark's first two components) were
    three faint specks: a dense pixel now grows a halo, and opacity is by rank."""
    from psocake_labeler.gui.density import MIN_ALPHA, DensityLayer
    from psocake_labeler.gui.style import Palette

    palette = Palette(["a", "b"])
    rng = np.random.default_rng(0)
    xy = np.vstack([0.25 + rng.normal(0, 0.001, (50000, 2)), [[0.75, 0.75]]])
    codes = palette.codes_for(np.r_[np.zeros(50000, int), 1], np.ones(50001))
    layer = DensityLayer()
    layer.set_points(xy)
    layer.set_view((0, 1), (0, 1), (100, 100))
    layer.set_styles(palette.rgba, codes)
    image = layer.item.image
    cluster, lone = image[:50, :50], image[60:90, 60:90]
    assert (cluster[..., 3] > 0).sum() >= 9 * 9             # 10^4.7 weight: a 19 x 19 blob
    assert cluster[25, 25, 3] == 255                         # its core is opaque
    drawn = cluster[cluster[..., 3] > 0][:, :3].astype(float)
    assert np.abs(drawn - palette.colours[0]).max() <= 1     # the halo is the cluster's colour
    assert (lone[..., 3] > 0).sum() == 9                     # the lone event: 3 x 3, no halo
    assert lone[..., 3].max() >= int(MIN_ALPHA * 255)
    assert np.abs(lone[15, 15, :3].astype(float) - palette.colours[1]).max() <= 1


def test_a_dense_view_bins_and_renders_once_for_each_picture(qtbot, monkeypatch):
    """Opening (coordinates, axes, range, filter, then styles) renders the density image
    once; new axes and a filter in one go, once more."""
    from psocake_labeler.gui import manifold_view
    from psocake_labeler.gui.style import Palette

    monkeypatch.setattr(manifold_view, "DENSITY_FROM", 50)
    view = manifold_view.ManifoldView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    rng = np.random.default_rng(2)
    coords = rng.normal(size=(3000, 4))
    palette = Palette(["a", "b"])
    view.set_coords(coords)
    view.set_visible(None)
    view.set_classes(palette, rng.integers(-1, 2, 3000), rng.uniform(0, 1, 3000),
                     np.zeros(0, int), np.zeros(0, int))
    qtbot.wait(300)          # the deferred binning and the zoom's re-bin timer have run
    assert view.density.renders == 1
    view.set_axes(2, 3)
    view.set_visible(coords[:, 0] > 0)
    qtbot.waitUntil(lambda: view.density.renders == 2, timeout=5000)
    qtbot.wait(300)
    assert view.density.renders == 2
    assert (view.density.image[..., 3] > 0).sum() > 100
    # a click re-applies the same filter (browse.refilter): no new binning
    view.set_visible(coords[:, 0] > 0)
    qtbot.wait(300)
    assert view.density.renders == 2


def _fresh_layer(xy, palette, codes, pixels=(100, 100)):
    from psocake_labeler.gui.density import DensityLayer

    layer = DensityLayer()
    layer.set_points(xy)
    layer.set_view((0, 1), (0, 1), pixels)
    layer.set_styles(palette.rgba, codes)
    return layer


def test_density_update_patches_only_the_changed_pixels_to_a_full_renders_picture(qtbot):
    """A click restyles a few rows: their 3 x 3 squares and the halos they feed are drawn
    again, and the picture is exactly a fresh render's (dense cores, halos, lone events)."""
    from psocake_labeler.gui.style import Palette

    palette = Palette(["a", "b", "c"])
    rng = np.random.default_rng(1)
    xy = np.vstack([0.3 + rng.normal(0, 0.002, (30000, 2)),     # a core with halos
                    0.7 + rng.normal(0, 0.05, (3000, 2)),       # a spread cloud
                    rng.uniform(0, 1, (40, 2)), [[0.9, 0.1]]])   # lone events
    n = len(xy)
    cls = np.r_[np.zeros(30000, int), np.ones(3000, int), np.full(41, -1)]
    codes = palette.codes_for(cls, rng.uniform(0.2, 1, n))
    layer = _fresh_layer(xy, palette, codes)
    assert layer.renders == 1
    core, cloud = np.arange(0, 30000, 1000), np.arange(30000, 33000, 300)
    for rows, to in ((core, 2), (cloud, 0), ([n - 1], 2), (np.arange(n), 1)):
        before = layer.image.copy()
        new = palette.codes_for(np.full(len(rows), to), rng.uniform(0.2, 1, len(rows)))
        codes = codes.copy()
        codes[rows] = new
        layer.update(np.asarray(rows), new)
        fresh = _fresh_layer(xy, palette, codes)
        assert (fresh.image != before).any()            # the change shows...
        np.testing.assert_array_equal(layer.image, fresh.image)   # ...as a full render
        np.testing.assert_array_equal(layer.sums, fresh.sums)
    # the core's halo (no events of its own) took the new colour of the core
    r, c = int(0.3 * 100) + 6, int(0.3 * 100)
    assert layer.image[r, c, 3] > 0
    assert layer.renders == 2                           # the last update touched every pixel


def test_a_label_without_propagation_restyles_its_row_as_a_full_redraw_would(window, qtbot):
    dock, view = window.dock, window.dock.view
    dock.controls.auto.setChecked(False)       # no propagation: a label changes its row only
    assert dock.wait()
    rows = [isolated_row(view)]
    qtbot.mouseClick(view.plot.viewport(), LEFT, pos=view.widget_pos_of(rows[0]))
    before = view.codes.copy()
    with qtbot.waitSignal(dock.sigUpdated, timeout=60000):
        qtbot.keyClick(dock, QtCore.Qt.Key.Key_3)
    assert dock.wait()
    assert dock.session.user_labels()[rows[0]] == 2
    assert np.flatnonzero(view.codes != before).tolist() == rows
    # ...and the styles are what a full redraw gives.
    pred, conf, _, _, has_pred = dock.final_labels()
    want = dock.class_palette.codes_for(pred, conf if has_pred else None)
    np.testing.assert_array_equal(view.codes, want)
    assert view.all.data["brush"][rows[0]] is dock.class_palette.brushes.ravel()[want[rows[0]]]
