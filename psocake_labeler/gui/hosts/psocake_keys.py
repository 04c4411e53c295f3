"""Number keys anywhere in Psocake's window label the event Psocake shows.

After a click on Psocake's "Next evt" the keyboard focus is on that button, so the dock's
own key handling never sees the key. An application event filter sends 0-9 pressed in
Psocake's window to the dock, unless the focus is in a text or number entry (typing an
event number must still type it) or in the dock itself (which has its own rule: the
selection made in the dock, else the shown event).
"""
from __future__ import annotations

from pyqtgraph.Qt import QtCore, QtWidgets

Key = QtCore.Qt.Key
_MODIFIERS = (QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.AltModifier
              | QtCore.Qt.KeyboardModifier.MetaModifier)
_ENTRIES = (QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox, QtWidgets.QTextEdit,
            QtWidgets.QPlainTextEdit)


def is_text_entry(widget: QtWidgets.QWidget | None) -> bool:
    """True for widgets where a digit is typed text (line edits, spin boxes, editors)."""
    if widget is None:
        return False
    if isinstance(widget, QtWidgets.QComboBox):
        return widget.isEditable()
    return isinstance(widget, _ENTRIES)


class PsocakeKeys(QtCore.QObject):
    """Application event filter: digits pressed in ``window_of()``'s window go to
    ``dock.label_current`` (1..9 label with that class, 0 unlabels)."""

    def __init__(self, dock, window_of):
        super().__init__(dock)
        self.dock = dock
        self.window_of = window_of   # Psocake puts its area into a window after building
        app = QtWidgets.QApplication.instance()
        app.installEventFilter(self)

    def remove(self) -> None:
        """Stop filtering (the dock closed)."""
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)

    def routes(self, widget) -> bool:
        """True when a digit pressed with the focus on ``widget`` goes to the shown event."""
        if not isinstance(widget, QtWidgets.QWidget) or widget.window() is not self.window_of():
            return False
        focus = QtWidgets.QApplication.focusWidget()
        if is_text_entry(focus) or is_text_entry(widget):
            return False
        return not (widget is self.dock or self.dock.isAncestorOf(widget))

    def eventFilter(self, obj, ev) -> bool:
        if ev.type() != QtCore.QEvent.Type.KeyPress or ev.modifiers() & _MODIFIERS:
            return False
        key = ev.key()
        if not Key.Key_0 <= key <= Key.Key_9 or not self.routes(obj):
            return False
        self.dock.label_current(int(key - Key.Key_0) - 1)
        return True
