"""The dock inside the real Psocake (lcls-psana/psocake master and s3df) over the psana1
stand-ins.

One Psocake window per branch (``-m spi``, 1400 x 700, built as ``psocake-label`` builds it:
Psocake's own ``MainFrame`` whose ``__init__`` the launcher wrapped) serves all the tests;
Psocake's modules are dropped between the branches. The tests
click Psocake's Next/Prev, type into its Event Number and Run Number fields, press keys to
the focused widget and grab ``ex.area.window()``. Skipped, with the reason, where Psocake's
source or the stand-ins are absent (see tests/psocake_real.py).
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from psocake_real import psocake_imported, psocake_source, xtc_root  # noqa: E402
from psocake_standin import PsocakeStandin, isolated_rows, keep, manifold_for  # noqa: E402
from pyqtgraph.Qt import QtCore, QtWidgets  # noqa: E402

Key = QtCore.Qt.Key
LEFT = QtCore.Qt.MouseButton.LeftButton
# Every attribute of Psocake's MainFrame the dock relies on (hosts/psocake.py, _layout, _keys).
DOCK_USES = ("area", "img.win", "exp.p", "exp.exp_grp", "exp.exp_evt_str", "exp.exp_run_str",
             "exp.run", "exp.times", "eventNumber", "runNumber", "psocakeDir", "psocakeRunDir",
             "det", "mk.dock")


def _save_manifold(src: str, out, runs) -> None:
    """A copy of the 300-hit manifold whose events belong to ``runs`` (split in halves): the
    stand-ins serve the same images for every run."""
    import psocake_labeler as pl

    m = pl.Manifold.load(src)
    half = len(m.events) // 2
    m.events["run"][:half] = runs[0]
    m.events["run"][half:] = runs[-1]
    out.parent.mkdir(parents=True, exist_ok=True)
    m.save(out)


@pytest.fixture(scope="module", params=["master", "s3df"])
def real(request, qapp, small_spi_run, tmp_path_factory):
    src, why = psocake_source(request.param)
    if src is None:
        pytest.skip(why)
    import os

    from psocake_labeler.gui.hosts.launcher import install_on_build

    tmp = tmp_path_factory.mktemp(f"psocake_{request.param}")
    top = tmp / "out" / "amo06516" / os.environ.get("USER", "tester") / "psocake"
    base = manifold_for(str(small_spi_run.path), str(tmp / "base.manifold.h5"))
    _save_manifold(base, top / "r0093" / "amo06516_0093.manifold.h5", [93])
    _save_manifold(base, top / "r0094" / "amo06516_0094.manifold.h5", [94])
    _save_manifold(base, top / "amo06516_runs95-97.manifold.h5", [95, 97])
    root = xtc_root(tmp / "xtc", "amo06516", range(93, 98))
    argv = ["exp=amo06516:run=93", "-d", "DscCsPad", "-m", "spi", "-o", str(tmp / "out")]
    with psocake_imported(src, small_spi_run.path, root, argv) as gui:
        install_on_build(gui)
        win = keep(gui.Window())
        ex = gui.MainFrame(sys.argv)
        gui.ex = ex                      # as gui.main(): Psocake's Window uses the global
        win.resize(1400, 700)
        win.setCentralWidget(ex.area)
        win.show()
        win.activateWindow()
        dock = ex.labelManifoldDock
        assert dock.wait(60000)
        yield type("Real", (), dict(gui=gui, win=win, ex=ex, dock=dock, top=top,
                                    branch=request.param))
        dock.close()


def _param(ex, name):
    return ex.exp.p.param(ex.exp.exp_grp, name)


def _type_into(qtbot, ex, name: str, text: str) -> None:
    """Click Psocake's parameter field, replace its text, press Enter (as a user does)."""
    item = next(iter(_param(ex, name).items))
    item.treeWidget().setCurrentItem(item)                  # a click selects the row: the
    qtbot.mouseClick(item.widget, LEFT)                    # field's spin box shows, takes focus
    assert QtWidgets.QApplication.focusWidget() is item.widget
    qtbot.keyClick(item.widget, Key.Key_A, QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(QtWidgets.QApplication.focusWidget(), text)
    qtbot.keyClick(QtWidgets.QApplication.focusWidget(), Key.Key_Return)


def _to_run(qtbot, r, run: int) -> None:
    if r.ex.runNumber != run:
        _type_into(qtbot, r.ex, r.ex.exp.exp_run_str, str(run))
        assert r.dock.wait(60000)
    assert r.ex.runNumber == run


def _key_to_focus(qtbot, key) -> QtWidgets.QWidget:
    focus = QtWidgets.QApplication.focusWidget()
    assert focus is not None
    qtbot.keyClick(focus, key)
    return focus


def test_every_attribute_the_dock_uses_is_on_the_real_frame_and_the_standin(real, small_spi_run,
                                                                           tmp_path):
    standin = keep(PsocakeStandin(small_spi_run.path, tmp_path))
    for frame, label in ((real.ex, "Psocake"), (standin, "stand-in")):
        for path in DOCK_USES:
            if frame is standin and path == "mk.dock":
                continue   # the stand-in has no Mask Panel: the dock then takes a column
            obj = frame
            for part in path.split("."):
                assert hasattr(obj, part), f"{label} has no {path}"
                obj = getattr(obj, part)
    for name in ("exp_grp", "exp_evt_str", "exp_run_str"):
        assert getattr(standin.exp, name) == getattr(real.ex.exp, name)
    assert type(real.ex.img.win) is type(standin.img.win)
    assert real.ex.psocakeRunDir == f"{real.ex.psocakeDir}/r0093"


def test_dock_is_a_tab_and_psocake_keeps_its_layout(real, artifacts_dir):
    ex, dock = real.ex, real.dock
    assert dock.container() is ex.mk.dock.container()      # a tab beside the Mask Panel
    assert dock.session is not None and len(dock.session) == 300
    for size in ((1400, 700), (1920, 1080)):
        real.win.resize(*size)
        for _ in range(3):
            QtWidgets.QApplication.processEvents()
        assert (real.win.width(), real.win.height()) == size   # the window did not grow
        shown = {n: d for n, d in ex.area.findAll()[1].items() if d.isVisible()}
        assert {"Image Panel", "Experiment Parameters", "Label Manifold"} <= set(shown)
        assert min(d.width() for d in shown.values()) >= 80, {
            n: d.width() for n, d in shown.items()}
        assert shown["Image Panel"].width() >= 350
        # the whole dock is in view: its controls end inside the tab
        bottom = dock.controls.mapTo(dock, dock.controls.rect().bottomRight()).y()
        assert dock.controls.isVisible() and bottom <= dock.height()
        assert ex.area.window().grab().save(
            str(artifacts_dir / f"psocake_{real.branch}_{size[0]}x{size[1]}.png"))
    real.win.resize(1400, 700)
    QtWidgets.QApplication.processEvents()


def test_keys_label_the_event_psocake_shows_after_next(real, qtbot):
    ex, dock = real.ex, real.dock
    _to_run(qtbot, real, 93)
    events = set(int(e) for e in dock.events["event"])
    row = next(r for r in isolated_rows(dock.view, 40) if int(dock.events[r]["event"]) + 1
               in events)
    qtbot.mouseClick(dock.view.plot.viewport(), LEFT, pos=dock.view.widget_pos_of(row))
    row = dock.current_row
    clicked = int(dock.events[row]["event"])
    assert ex.eventNumber == clicked and list(dock.selected) == [row]
    qtbot.mouseClick(ex.control.nextBtn, LEFT)
    assert ex.eventNumber == clicked + 1
    assert QtWidgets.QApplication.focusWidget() is ex.control.nextBtn
    shown = dock.row_of(93, clicked + 1)
    assert dock.current_row == shown and len(dock.selected) == 0
    assert f"event {clicked + 1}, shown in Psocake" in dock.controls.target.text()
    _key_to_focus(qtbot, Key.Key_1)
    assert dock.wait()
    assert dock.session.user_labels() == {shown: 0}
    assert dock.label_overlay.text == "Single (yours)"
    # back in the dock: the key still labels the event Psocake shows, not the clicked one,
    # then the dock's flow moves on to the next unlabelled event of its grid
    dock.view.plot.setFocus()
    _key_to_focus(qtbot, Key.Key_2)
    assert dock.wait()
    assert dock.session.user_labels() == {shown: 1}
    assert dock.current_row in dock.grid.rows and dock.current_row != shown
    now = ex.eventNumber
    assert dock.row_of(93, now) == dock.current_row
    qtbot.mouseClick(ex.control.prevBtn, LEFT)
    assert ex.eventNumber == now - 1 and dock.current_row == dock.row_of(93, now - 1)
    _key_to_focus(qtbot, Key.Key_0)       # 0 on Prev unlabels the shown event
    assert dock.wait()
    expected = {} if dock.row_of(93, now - 1) == shown else {shown: 1}
    assert dock.session.user_labels() == expected
    assert dock.label_overlay.text in ("not on the manifold", "unlabelled") or "predicted" in \
        dock.label_overlay.text


def test_typing_an_event_number_still_types(real, qtbot):
    ex, dock = real.ex, real.dock
    _to_run(qtbot, real, 93)
    before = dict(dock.session.user_labels())
    target = int(dock.events[5]["event"])
    _type_into(qtbot, ex, ex.exp.exp_evt_str, str(target))
    assert dock.wait()
    assert ex.eventNumber == target and dock.current_row == 5
    assert dock.session.user_labels() == before


def test_run_change_opens_that_runs_manifold_or_says_it_has_none(real, qtbot):
    ex, dock = real.ex, real.dock
    _to_run(qtbot, real, 93)
    labelled = dict(dock.session.user_labels())
    assert labelled                              # from the key test
    _to_run(qtbot, real, 94)
    assert set(dock.events["run"]) == {94}
    assert dock.session.path.parent == real.top / "r0094"
    assert dock.current_row == dock.row_of(94, ex.eventNumber)
    assert "(yours)" not in dock.label_overlay.text
    _to_run(qtbot, real, 96)                     # no manifold anywhere holds run 96
    assert dock.current_row is None
    assert "run 96 has no manifold yet" in dock.controls.status.text()
    assert dock.label_overlay.text == "run 96: no manifold yet"
    before = dict(dock.session.user_labels())
    qtbot.mouseClick(ex.control.nextBtn, LEFT)
    _key_to_focus(qtbot, Key.Key_1)
    assert dock.wait() and dock.session.user_labels() == before
    _to_run(qtbot, real, 95)                     # the two-run manifold in psocakeDir
    assert set(dock.events["run"]) == {95, 97}
    assert dock.session.path.parent == real.top
    _to_run(qtbot, real, 93)                     # back: run 93's labels are continued
    assert set(dock.events["run"]) == {93}
    assert dock.session.user_labels() == labelled


def test_images_psocake_has_but_the_file_lacks_come_from_psana(real, small_spi_run):
    ex, dock = real.ex, real.dock
    row = 7
    event = int(dock.events[row]["event"])
    img = dock.host.image("gone/amo06516_0093.cxi", 93, event)
    expected = ex.det.image(ex.exp.run.event(ex.exp.times[event]))
    assert img is not None and np.array_equal(img, expected)
    i = int(np.flatnonzero(np.asarray(small_spi_run.events) == event)[0])
    import psocake_labeler as pl

    assert np.array_equal(img, pl.open_run(small_spi_run.path).image(i))
