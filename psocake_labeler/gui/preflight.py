"""Can Qt open the display? Asked in a child process, before any window is built.

When Qt's xcb platform plugin cannot load (system libraries missing: typically
libxcb-icccm, -keysyms, -xinerama on a fresh Linux desktop or a cluster node) or no X server
answers at ``$DISPLAY``, Qt aborts the whole process (SIGABRT, exit 134) with a message that
does not say what to install. :func:`display_problem` starts a tiny Qt application in a child
process instead; if it dies, the missing libraries are read from Qt's plugin diagnostics
(``QT_DEBUG_PLUGINS=1``) and ``ldd``, and named with their Debian/Ubuntu and RHEL packages.
This module imports no Qt itself.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

#: soname -> (Debian/Ubuntu package, RHEL/Fedora package) of the libraries Qt 5's xcb
#: platform plugin links against.
PACKAGES = {
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libXext.so.6": ("libxext6", "libXext"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libGL.so.1": ("libgl1", "mesa-libGL"),
    "libEGL.so.1": ("libegl1", "mesa-libEGL"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}

#: Platforms that need no display (Qt's own names).
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "webgl", "linuxfb", "eglfs")

_PROBE = ("from pyqtgraph.Qt import QtWidgets\n"
          "app = QtWidgets.QApplication(['psocake-labeler-probe'])\n")
_NOT_FOUND = re.compile(r"([\w.+-]+\.so[.\d]*): cannot open shared object file")
_PLUGIN = re.compile(r"Cannot load library (\S+libqxcb\S*\.so)")


def needs_display() -> bool:
    """False when Qt is told to draw without a screen (``QT_QPA_PLATFORM=offscreen``...)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    return platform not in HEADLESS_PLATFORMS


def headless() -> bool:
    """True when there is no screen to show a window on: a display-less Qt platform, or
    (POSIX) neither ``DISPLAY`` nor ``WAYLAND_DISPLAY`` set. Windows are drawn offscreen."""
    if not needs_display():
        return True
    return os.name == "posix" and not (os.environ.get("DISPLAY")
                                       or os.environ.get("WAYLAND_DISPLAY"))


def check_display(timeout: float = 60.0) -> None:
    """Raise :class:`~psocake_labeler.errors.DisplayError` (one line: what to install or
    check) when a window is due but Qt cannot open the display; nothing when headless."""
    from ..errors import DisplayError

    problem = None if headless() else display_problem(timeout)
    if problem:
        raise DisplayError(problem)


def display_problem(timeout: float = 60.0) -> str | None:
    """None when Qt can open its display; else one line naming the cause and what to do.

    Runs a child Python that creates a ``QApplication`` (about a second); a display-less
    platform (``QT_QPA_PLATFORM=offscreen``) is not probed.
    """
    if not needs_display():
        return None
    env = dict(os.environ, QT_DEBUG_PLUGINS="1")
    try:
        r = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                           text=True, timeout=timeout, preexec_fn=_no_core_dump)
    except subprocess.TimeoutExpired:
        return (f"Qt did not open display {os.environ.get('DISPLAY', '')!r} within "
                f"{timeout:.0f} s (a slow or dead X connection?); check DISPLAY, or use "
                f"--screenshot PNG")
    if r.returncode == 0:
        return None
    return explain(r.stderr)


def explain(qt_stderr: str) -> str:
    """The one-line explanation of a failed Qt start, from its (debug) messages."""
    display = os.environ.get("DISPLAY", "")
    missing = missing_libraries(qt_stderr)
    if missing:
        deb = sorted({PACKAGES[s][0] for s in missing if s in PACKAGES})
        rhel = sorted({PACKAGES[s][1] for s in missing if s in PACKAGES})
        text = (f"Qt cannot load its X11 (xcb) plugin: the system lacks "
                f"{', '.join(missing)}")
        if deb:
            text += (f"; install them: sudo apt-get install {' '.join(deb)} (Debian/Ubuntu)"
                     f" or sudo dnf install {' '.join(rhel)} (RHEL/Fedora)")
        return text + "; or draw offscreen with --screenshot PNG"
    if "could not connect to display" in qt_stderr or display:
        return (f"Qt cannot open display {display!r}: no X server answers there (is it "
                f"running? over ssh, use ssh -X or -Y); or draw offscreen with --screenshot PNG")
    last = [ln for ln in qt_stderr.strip().splitlines() if ln.strip()][-1:] or ["no message"]
    return f"Qt cannot start its window system ({last[0].strip()}); try --screenshot PNG"


def missing_libraries(qt_stderr: str) -> list[str]:
    """Sonames Qt's xcb plugin could not load: from Qt's message, then ``ldd`` of the plugin
    (Qt names only the first missing library; ldd lists all of them)."""
    found = set(_NOT_FOUND.findall(qt_stderr))
    plugin = _PLUGIN.search(qt_stderr)
    if plugin and shutil.which("ldd"):
        try:
            out = subprocess.run(["ldd", plugin.group(1).rstrip(":")], capture_output=True,
                                 text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""   # ldd failed: Qt's own message still names one library
        found.update(m.group(1) for m in re.finditer(r"^\s*(\S+) => not found", out, re.M))
    return sorted(found)


def _no_core_dump() -> None:
    """In the child: Qt's abort must not leave a core file behind."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass   # no resource module or limit refused: a core file is harmless
