"""Starting the GUI: a display Qt cannot open is one line and exit 2 (not Qt's abort, rc 134);
any number of classes gets colours."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from psocake_standin import xvfb_display_problem

import psocake_labeler as pl
from psocake_labeler.gui.preflight import PACKAGES, explain, headless
from psocake_labeler.labelling.classes import ClassList, default_colours

# What Qt 5.15 prints (QT_DEBUG_PLUGINS=1) on a Debian 12 without libxcb-icccm, and with the
# libraries but no X server at DISPLAY=:99 (both seen on this project's test machine).
MISSING_LIBS = (
    "Cannot load library /venv/lib/python3.11/site-packages/PyQt5/Qt5/plugins/platforms/"
    "libqxcb.so: (libxcb-icccm.so.4: cannot open shared object file: No such file or "
    "directory)\nqt.qpa.plugin: Could not load the Qt platform plugin \"xcb\" in \"\" even "
    "though it was found.\n")
DEAD_DISPLAY = (
    "qt.qpa.xcb: could not connect to display :99\nqt.qpa.plugin: Could not load the Qt "
    "platform plugin \"xcb\" in \"\" even though it was found.\n")


def test_gui_with_a_display_qt_cannot_open_is_one_line(small_spi_manifold_path, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["DISPLAY"] = ":97"      # no X server there (and maybe no xcb libraries either)
    labels = tmp_path / "labels.h5"
    r = subprocess.run([sys.executable, "-m", "psocake_labeler", "gui",
                        str(small_spi_manifold_path), "--labels", str(labels)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("psocake-labeler gui: error: Qt cannot")
    assert "apt-get install" in lines[0] or "cannot open display ':97'" in lines[0]
    assert not labels.exists()                  # nothing was built before the check


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed")
def test_a_working_display_passes_the_check():
    problem = xvfb_display_problem()
    if problem is not None and "lacks" in problem:
        pytest.skip(f"Xvfb runs but Qt's xcb libraries are missing: {problem}")
    assert problem is None


def test_explanations_name_packages_or_the_display(monkeypatch):
    text = explain(MISSING_LIBS)
    assert "libxcb-icccm.so.4" in text and "apt-get install libxcb-icccm4" in text
    assert "dnf install xcb-util-wm" in text and "\n" not in text
    monkeypatch.setenv("DISPLAY", ":99")
    text = explain(DEAD_DISPLAY)
    assert "cannot open display ':99'" in text and "apt-get" not in text
    # every library of Qt's xcb plugin the README names has both package names
    assert all(deb and rhel for deb, rhel in PACKAGES.values())


def test_offscreen_and_no_display_are_headless(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert headless()
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.setenv("DISPLAY", ":0")
    assert not headless()
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert headless() == (os.name == "posix")


def test_any_number_of_classes_has_distinct_colours():
    names = ["Single", "Multiple", "Water/Unknown"] + [f"class {i}" for i in range(60)]
    colours = default_colours(names)
    assert len(set(colours)) == len(names)
    assert colours[:3] == ClassList(names[:3]).colours
    cl = ClassList(names[:3])
    for i in range(50):
        cl.add(f"extra {i}")
    assert len(set(cl.colours)) == 53


def test_dock_opens_a_session_of_40_classes(qtbot, small_spi_manifold_path, tmp_path):
    pytest.importorskip("pytestqt")
    from psocake_labeler.gui.hosts.standalone import StandaloneWindow
    from psocake_labeler.gui.style import Palette

    names = [f"kind {i}" for i in range(40)]
    pal = Palette(names)
    assert len({b.color().name() for b in pal.solid[1:]}) == 40
    m = pl.Manifold.load(small_spi_manifold_path)
    s = pl.LabelSession(m, classes=names, path=tmp_path / "many.h5")
    s.label(np.arange(40), "kind 39")
    from psocake_standin import keep

    w = keep(StandaloneWindow())
    with qtbot.waitSignal(w.dock.sigLoaded, timeout=60000):
        w.open(small_spi_manifold_path, tmp_path / "many.h5")
    assert w.dock.wait()
    assert w.dock.session.classes == names
    assert len(w.dock.class_palette.colours) == 40


def test_psocake_label_help_is_help_even_without_psocake(capsys):
    from psocake_labeler.gui.hosts import launcher

    assert launcher.main(["--help"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: psocake-label") and "not installed" in out and not err
