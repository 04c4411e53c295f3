"""A full disk under the label store (a 2 MB tmpfs mounted for the test): no signal, no
traceback, one line naming the file and the space needed; the labels stay in memory and are
saved as soon as there is room again."""
from __future__ import annotations

import os
import subprocess

import pytest

import psocake_labeler as pl
from psocake_labeler.labelfiles.store import read_label_file


@pytest.fixture()
def small_disk(tmp_path):
    """A 2 MB tmpfs; skipped where it cannot be mounted (not root, no mount namespace)."""
    d = tmp_path / "disk"
    d.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def fill(folder):
    """Fill the file system of ``folder`` to the last byte; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_full_disk_keeps_labels_in_memory_and_saves_later(manifold, small_disk):
    path = small_disk / "labels.h5"
    s = pl.LabelSession(manifold, path=path, user="fay")
    s.label([0], "Single")
    filler = fill(small_disk)
    seen = []
    s.add_listener(lambda change: seen.append(s.ahead))
    for r in range(1, 30):
        s.label([r], "Multiple")                  # no exception, no signal
    assert s.ahead and seen[-1] is True
    msg = s.save_error
    assert str(path) in msg and "nothing is lost" in msg and "needed" in msg
    assert "\n" not in msg
    assert len(s.user_labels()) == 30
    with pytest.raises(pl.WriteError, match="nothing is lost"):
        s.save()
    assert read_label_file(path).user_index()[0] == 0      # the store still opens
    filler.unlink()
    assert s.flush() and not s.ahead and s.save_error == ""
    assert pl.LabelSession.load(path, manifold).user_labels() == s.user_labels()


def test_new_store_on_a_full_disk_is_created_when_room_returns(manifold, small_disk):
    filler = fill(small_disk)
    path = small_disk / "labels.h5"
    s = pl.LabelSession(manifold, path=path, user="gus")
    s.label([4], "Single")
    assert s.ahead and str(path) in s.save_error and not path.exists()
    filler.unlink()
    s.label([5], "Single")                        # the next change saves everything
    assert not s.ahead
    assert pl.LabelSession.load(path, manifold).user_labels() == {4: 0, 5: 0}


def test_dock_on_a_full_disk_says_so_and_saves_when_room_returns(qtbot, small_spi_run,
                                                                  small_disk):
    pytest.importorskip("pytestqt")
    from psocake_standin import close_kept, isolated_rows, keep, manifold_for
    from pyqtgraph.Qt import QtCore

    from psocake_labeler.gui.hosts.standalone import StandaloneWindow

    m = manifold_for(str(small_spi_run.path), str(small_disk.parent / "m.h5"))
    w = keep(StandaloneWindow())
    w.show()
    try:
        with qtbot.waitSignal(w.dock.sigLoaded, timeout=60000):
            w.open(m, small_disk / "labels.h5")
        dock = w.dock
        assert dock.wait()
        first, row = isolated_rows(dock.view, 2)
        dock.select_rows([first])
        qtbot.keyClick(dock, QtCore.Qt.Key.Key_1)   # saved from the dock's worker thread
        assert dock.wait() and not dock.session.ahead
        filler = fill(small_disk)
        dock.select_rows([row])
        qtbot.keyClick(dock, QtCore.Qt.Key.Key_2)
        assert dock.wait()
        status = dock.controls.status.text()
        assert "nothing is lost" in status and "labels.h5" in status
        assert dock.session.user_labels() == {first: 0, row: 1} and dock.session.ahead
        filler.unlink()
        dock.store_watch.tick()                       # what the 5 s timer does
        assert dock.wait()
        assert "all labels saved" in dock.controls.status.text()
        again = pl.LabelSession.load(small_disk / "labels.h5", dock.session.manifold)
        assert again.user_labels() == {first: 0, row: 1}
    finally:
        close_kept()


def test_a_store_created_meanwhile_is_joined_not_replaced(manifold, small_disk, tmp_path):
    filler = fill(small_disk)
    path = small_disk / "labels.h5"
    mine = pl.LabelSession(manifold, path=path, user="ida")
    mine.label([1], "Single")
    assert mine.ahead and not path.exists()
    filler.unlink()
    theirs = pl.LabelSession(manifold, path=path, user="jon")     # room again: jon first
    theirs.label([2], "Multiple")
    assert mine.flush() and not mine.ahead            # ida's label after jon's, both kept
    assert pl.LabelSession.load(path, manifold).user_labels() == {1: 0, 2: 1}
    other = small_disk / "notes.h5"
    other.write_text("someone's notes\n")
    filler = fill(small_disk)
    s = pl.LabelSession(manifold, path=small_disk / "x.h5", user="kim")
    s.label([3], "Single")
    filler.unlink()
    os.replace(other, small_disk / "x.h5")            # not a store of this manifold
    assert not s.flush() and "not a label store of this manifold" in s.save_error
    assert (small_disk / "x.h5").read_text() == "someone's notes\n"
    assert s.user_labels() == {3: 0}
