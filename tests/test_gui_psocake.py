"""The dock inside a Psocake-shaped main frame: events followed both ways, labels by keys,
the overlay on the host's viewer, the launcher without Psocake."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from psocake_standin import (  # noqa: E402
    PsocakeStandin,
    isolated_row,
    keep,
    manifold_for,
    same_spot,
)
from pyqtgraph.Qt import QtCore  # noqa: E402

pytestmark = pytest.mark.usefixtures("close_windows")


@pytest.fixture
def psocake(qtbot, small_spi_run, tmp_path):
    """A stand-in Psocake with a manifold in its run folder, and the installed dock."""
    from psocake_labeler.gui.hosts.psocake import install

    frame = PsocakeStandin(small_spi_run.path, tmp_path / "psocake")
    keep(frame)
    src = manifold_for(str(small_spi_run.path), str(tmp_path.parent / "gui_psocake_m.h5"))
    import shutil

    shutil.copy(src, f"{frame.psocakeRunDir}/amo06516_0093.manifold.h5")
    frame.show()
    dock = install(frame)
    assert dock.wait(60000)
    return frame, dock


def _event_param(frame):
    return frame.exp.p.param(frame.exp.exp_grp, frame.exp.exp_evt_str)


def test_install_finds_manifold_and_labels_go_to_run_dir(psocake):
    frame, dock = psocake
    assert dock in frame.area.findAll()[1].values()
    assert dock.session is not None and len(dock.session) == 300
    assert str(dock.session.path).startswith(frame.psocakeRunDir)
    from psocake_labeler.labelling.log import user_name

    assert dock.session.path.name == f"amo06516_0093.manifold.{user_name()}.labels.h5"
    assert dock.session.path.exists()


def test_click_on_point_sets_psocake_event(psocake, qtbot):
    frame, dock = psocake
    row = isolated_row(dock.view)
    pos = dock.view.widget_pos_of(row)
    qtbot.mouseClick(dock.view.plot.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)
    assert same_spot(dock.view, dock.current_row, row)
    row = dock.current_row
    event = int(dock.events[row]["event"])
    assert _event_param(frame).value() == event
    assert frame.eventNumber == event
    # Psocake's pipeline ran: its viewer shows that event's image
    expected = frame.det.image(frame.exp.run.event(event))
    assert np.array_equal(frame.img.win.image, expected)


def test_show_row_and_host_event_changes_follow_both_ways(psocake):
    frame, dock = psocake
    dock.show_row(5)
    assert frame.eventNumber == int(dock.events[5]["event"])
    # Psocake changes its event (the user typed a number): the dock follows
    target = int(dock.events[42]["event"])
    _event_param(frame).setValue(target)
    assert dock.current_row == 42
    assert dock.label_overlay.text == "unlabelled"
    # an event that is not a hit is not on the manifold
    missing = sorted(set(range(int(dock.events["event"].max()))) - set(dock.events["event"]))[0]
    _event_param(frame).setValue(missing)
    assert dock.current_row is None
    assert dock.label_overlay.text == "not on the manifold"


def test_number_keys_label_current_event_and_undo(psocake, qtbot, artifacts_dir):
    frame, dock = psocake
    dock.show_row(8)
    qtbot.keyClick(dock.view.plot, QtCore.Qt.Key.Key_1)
    assert dock.wait()
    assert dock.session.user_labels() == {8: 0}
    dock.show_row(8)    # the key moved on to the next unlabelled event: back to row 8
    assert dock.label_overlay.text == "Single (yours)"
    assert dock.label_overlay.colour == dock.session.colours[0]   # in Single's colour
    assert frame.grab().save(str(artifacts_dir / "gui_psocake.png"))
    dock.show_row(8)
    qtbot.keyClick(dock.grid.list, QtCore.Qt.Key.Key_2)   # the grid must not eat digits
    assert dock.wait()
    assert dock.session.user_labels() == {8: 1}
    qtbot.keyClick(dock, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert dock.wait()
    assert dock.session.user_labels() == {8: 0}
    qtbot.keyClick(dock, QtCore.Qt.Key.Key_0)
    assert dock.wait()
    assert dock.session.user_labels() == {}
    # every action reached the label file in Psocake's run folder
    from psocake_labeler.labelling.session import LabelSession

    again = LabelSession.load(dock.session.path, dock.manifold)
    assert again.user_labels() == {}
    assert len(again.log.actions) >= 4


def test_overlay_removed_when_dock_closes(psocake):
    frame, dock = psocake
    dock.show_row(3)
    item = dock.label_overlay.item
    vb = frame.img.win.getView().getViewBox()
    assert item in vb.childGroup.childItems() and item.isVisible()
    dock.close()
    assert item not in vb.childGroup.childItems() and item.scene() is None
    # the host's later event changes no longer reach the closed dock
    _event_param(frame).setValue(int(dock.events[9]["event"]))
    assert dock.current_row == 3


def test_launcher_without_psocake_says_so(capsys):
    from psocake_labeler.gui.hosts import launcher as psocake_launcher

    assert psocake_launcher.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Psocake is not installed" in err[0]


def test_launcher_installs_dock_when_psocake_builds_its_frame(qtbot, small_spi_run, tmp_path):
    """psocake-label's hook: Psocake's gui module builds MainFrame; ours adds the dock, and
    the class stays Psocake's (its own super(MainFrame, self) must keep working)."""
    import types

    from psocake_labeler.gui.dock import LabelManifoldDock
    from psocake_labeler.gui.hosts.launcher import install_on_build

    class MainFrame(PsocakeStandin):          # what psocake.gui.MainFrame(args) would build
        def __init__(self, args):
            # Psocake's own form, which a subclass rebinding MainFrame breaks
            super(MainFrame, self).__init__(small_spi_run.path, tmp_path / args.outDir)  # noqa: UP008

    gui = types.ModuleType("psocake.gui")
    gui.MainFrame = MainFrame
    install_on_build(gui)
    install_on_build(gui)                     # twice: still one dock
    assert gui.MainFrame is MainFrame
    frame = gui.MainFrame(types.SimpleNamespace(outDir="psocake"))
    keep(frame)
    docks = [d for d in frame.area.findAll()[1].values() if isinstance(d, LabelManifoldDock)]
    assert len(docks) == 1 and frame.labelManifoldDock is docks[0]
    assert "no manifold" in docks[0].controls.status.text()


def test_psana_images_are_read_in_the_gui_thread(psocake):
    """Thumbnails load on a worker; without images in the file they come from psana
    (det.image), which must run in the GUI thread."""
    import threading

    frame, dock = psocake
    threads = []
    real_image = frame.det.image

    def image(evt):
        threads.append(threading.get_ident())
        return real_image(evt)

    frame.det.image = image
    event = int(dock.events[7]["event"])
    got = {}
    # a source that cannot be opened: only psana can give the image
    dock.runner.start(lambda progress: dock.host.image("gone/amo06516_0093.cxi", 93, event),
                      lambda img: got.setdefault("img", img))
    assert dock.wait()
    assert threads == [threading.get_ident()]
    assert np.array_equal(got["img"], real_image(frame.exp.run.event(event)))
