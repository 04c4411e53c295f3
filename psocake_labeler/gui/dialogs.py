"""Small dialogs behind the dock's buttons: open, export, classes, compute.

Each ``<name>_dialog(dock)`` asks the user, then calls the dock / session; file work runs on
the dock's workers.
"""
from __future__ import annotations

from pathlib import Path

from pyqtgraph.Qt import QtWidgets

from .averages_view import averages_dialog


def _start_dir(dock) -> str:
    host = dock.host
    for folder in ((host.manifold_dir() if host is not None else None),
                   (Path(dock.session.path).parent if dock.session is not None
                    and dock.session.path is not None else None)):
        if folder is not None and Path(folder).is_dir():
            return str(folder)
    return str(Path.cwd())


def open_dialog(dock) -> None:
    """Choose a manifold file (labels: its default label file, continued if present)."""
    path, _ = QtWidgets.QFileDialog.getOpenFileName(
        dock, "Open manifold", _start_dir(dock), "Manifold (*.h5);;All files (*)")
    if path:
        dock.open_manifold(path)


def extend_dialog(dock) -> None:
    """Choose run files to place on the open manifold."""
    if dock.session is None:
        dock.show_error("open a manifold first")
        return
    paths, _ = QtWidgets.QFileDialog.getOpenFileNames(
        dock, "Add runs to the manifold", _start_dir(dock),
        "Psocake hits (*.cxi *.h5);;All files (*)")
    if paths:
        dock.add_runs(paths)


def export_dialog(dock) -> None:
    """Export the final labels: file, class, minimum confidence, counts shown first."""
    from .export_dialog import ExportDialog

    if dock.session is None:
        dock.show_error("nothing to export: open a manifold first")
        return
    ExportDialog(dock, _start_dir(dock)).exec_()


class ClassEditor(QtWidgets.QDialog):
    """Rename, add and remove classes of the dock's session."""

    def __init__(self, dock):
        super().__init__(dock)
        self.dock = dock
        self.setWindowTitle("Classes")
        self.list = QtWidgets.QListWidget()
        buttons = QtWidgets.QHBoxLayout()
        for text, slot in (("Add…", self.add), ("Rename…", self.rename),
                           ("Remove", self.remove), ("Close", self.accept)):
            b = QtWidgets.QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.list)
        lay.addLayout(buttons)
        self.fill()

    def fill(self) -> None:
        self.list.clear()
        for name, colour in zip(self.dock.session.classes, self.dock.session.colours):
            item = QtWidgets.QListWidgetItem(name)
            item.setForeground(QtWidgets.QApplication.palette().text())
            item.setData(1, _swatch(colour))
            self.list.addItem(item)

    def _current(self) -> str | None:
        item = self.list.currentItem()
        return item.text() if item is not None else None

    def _run(self, fn) -> None:
        # class changes are quick; doing them here keeps the dialog in step
        self.dock.session_runner.wait()
        try:
            fn(self.dock.session)
        except Exception as exc:  # a ClassNameError explains itself; show, don't crash
            QtWidgets.QMessageBox.warning(self, "Classes", str(exc))
        self.fill()
        self.dock.refresh()

    def add(self) -> None:
        name, ok = QtWidgets.QInputDialog.getText(self, "Add class", "Name")
        if ok and name:
            self._run(lambda s: s.add_class(name.strip()))

    def rename(self) -> None:
        old = self._current()
        if old is None:
            return
        new, ok = QtWidgets.QInputDialog.getText(self, "Rename class", f"New name of {old}",
                                                 text=old)
        if ok and new and new != old:
            self._run(lambda s: s.rename_class(old, new.strip()))

    def remove(self) -> None:
        name = self._current()
        if name is None:
            return
        n = sum(1 for c in self.dock.session.user_labels().values()
                if self.dock.session.classes[c] == name)
        if n:
            answer = QtWidgets.QMessageBox.question(
                self, "Remove class", f"{name} holds {n} of your labels; remove them too?")
            if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                return
        self._run(lambda s: s.remove_class(name, confirm=True))


def _swatch(colour: str):
    from pyqtgraph.Qt import QtGui

    pix = QtGui.QPixmap(14, 14)
    pix.fill(QtGui.QColor(colour))
    return QtGui.QIcon(pix)


def classes_dialog(dock) -> None:
    """Open the class editor."""
    if dock.session is None:
        dock.show_error("open a manifold first")
        return
    ClassEditor(dock).exec_()


def compute_dialog(dock) -> None:
    """Ask how to compute a manifold, then run the job in the background."""
    from .compute import ComputeDialog

    ComputeDialog(dock).exec_()


def save_dialog(dock) -> None:
    """Save the labels to a new file, which then receives every later change (autosave)."""
    if dock.session is None:
        dock.show_error("nothing to save: open a manifold first")
        return
    path, _ = QtWidgets.QFileDialog.getSaveFileName(dock, "Save labels as", _start_dir(dock),
                                                    "Label file (*.h5)")
    if not path:
        return

    def save(s):
        out = s.save(path)
        s.path = Path(out)
        return out

    dock._call(save, lambda out: dock.controls.status.setText(f"labels saved to {out} "
                                                              f"(autosaved from now on)"))


# The controls' action names that open a dialog, and the dialog each opens.
DIALOGS = {"open": open_dialog, "extend": extend_dialog, "export": export_dialog,
           "classes": classes_dialog, "compute": compute_dialog, "save": save_dialog,
           "averages": averages_dialog}
