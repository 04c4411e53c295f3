"""The Qt application of a command (``gui``, ``demo``): start it, quiet it, end windows.

Offscreen when there is no display; the offscreen platform's harmless messages are
filtered out; windows are closed but kept referenced until the process exits.
"""
from __future__ import annotations

import os
import sys

import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets

from .preflight import headless

# Harmless messages of Qt's offscreen platform that would only clutter the demo's output.
_QUIET = ("does not support propagateSizeHints", "XDG_RUNTIME_DIR not set")
_CLOSED: list = []


def _qt_messages(mode, context, message) -> None:
    if not any(q in message for q in _QUIET):
        print(message, file=sys.stderr)


def app() -> QtWidgets.QApplication:
    """The QApplication, offscreen when there is no display."""
    if headless() and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if QtWidgets.QApplication.instance() is None:
        QtCore.qInstallMessageHandler(_qt_messages)
    return pg.mkQApp("psocake-labeler")


def dispose(window: QtWidgets.QWidget) -> None:
    """Finish background work and close a window, keeping it referenced until exit.

    Deleting windows that hold pyqtgraph ImageViews can crash later paints of their items;
    a command exits right after closing anyway.
    """
    dock = getattr(window, "dock", None)
    if dock is not None:
        dock.wait()
    window.close()
    _CLOSED.append(window)
