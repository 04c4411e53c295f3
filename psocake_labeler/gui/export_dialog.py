"""The Export dialog: file, class, minimum confidence, the counts before writing, and a
warning while a class has no label; the export then runs in the background with progress.

The export reads a copy of the labels taken on the session thread (so it sees exactly the
labels given before Export was pressed) and runs on the dock's other worker, so that keys
pressed meanwhile label at once.
"""
from __future__ import annotations

import copy
from pathlib import Path

from pyqtgraph.Qt import QtWidgets

from ..errors import LabelerError
from ..labelfiles.export_plan import CLASS_FORMATS, DEFAULT_EXPORT_CLASS, plan_export
from ..labelfiles.exports import export, export_format
from ..labelling.quality import CONFIDENT

FILTERS = ("Table (*.json);;Table (*.csv);;One class as CXI, for reconstruction (*.cxi);;"
           "Blacklist for EMC / Dragonfly (*.dat)")


class ExportDialog(QtWidgets.QDialog):
    """Ask what to export; :meth:`start` (the Export button) starts it on the dock."""

    def __init__(self, dock, start_dir: str = ""):
        super().__init__(dock)
        self.dock = dock
        self.start_dir = start_dir
        self.setWindowTitle("Export labels")
        self.path = QtWidgets.QLineEdit()
        self.path.setPlaceholderText("file: .json .csv (tables), .cxi (one class), .dat")
        choose = QtWidgets.QPushButton("Choose…")
        choose.clicked.connect(self.choose)
        self.cls = QtWidgets.QComboBox()
        self.cls.addItems(list(dock.session.classes))
        default = [c.lower() for c in dock.session.classes]
        if DEFAULT_EXPORT_CLASS.lower() in default:
            self.cls.setCurrentIndex(default.index(DEFAULT_EXPORT_CLASS.lower()))
        self.min_conf = QtWidgets.QDoubleSpinBox()
        self.min_conf.setRange(0.0, 1.0)
        self.min_conf.setSingleStep(0.05)
        self.min_conf.setValue(CONFIDENT)
        self.min_conf.setToolTip("A propagated label below this confidence is exported as "
                                 "unsure (no class); your own labels always count")
        self.counts = QtWidgets.QLabel("")
        self.warning = QtWidgets.QLabel("")
        for label in (self.counts, self.warning):
            label.setWordWrap(True)
            # room for the wrapped sentences, which a form layout would not make by itself
            label.setMinimumHeight(3 * label.fontMetrics().lineSpacing())
        self.warning.setStyleSheet("color: #ff6060")
        self.force = QtWidgets.QCheckBox("export anyway")
        self.buttons = QtWidgets.QDialogButtonBox()
        self.ok = self.buttons.addButton("Export", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        for signal in (self.path.textChanged, self.cls.currentIndexChanged,
                       self.min_conf.valueChanged, self.force.toggled):
            signal.connect(lambda *_: self.update_plan())
        file_row = QtWidgets.QHBoxLayout()
        file_row.addWidget(self.path, 1)
        file_row.addWidget(choose)
        form = QtWidgets.QFormLayout(self)
        form.addRow("File", file_row)
        form.addRow("Class (.cxi, .dat)", self.cls)
        form.addRow("Minimum confidence", self.min_conf)
        form.addRow(self.counts)
        form.addRow(self.warning)
        form.addRow(self.force)
        form.addRow(self.buttons)
        self.resize(560, 0)
        self.update_plan()

    def choose(self) -> None:
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(self, "Export labels",
                                                             self.start_dir, FILTERS)
        suffix = chosen.split("*")[-1].rstrip(")") if "*" in chosen else ""
        if path and suffix and not path.endswith(suffix):
            path += suffix
        if path:
            self.path.setText(path)

    def plan(self):
        """The export's plan as the dialog stands (None without a valid file name)."""
        text = self.path.text().strip()
        if not text:
            return None
        fmt = export_format(text)
        cls = self.cls.currentText() if fmt in CLASS_FORMATS else None
        return plan_export(self.dock.session.to_data(), fmt, cls, self.min_conf.value())

    def update_plan(self) -> None:
        """Show the counts and the warning; Export only when it can run."""
        try:
            plan = self.plan()
        except LabelerError as exc:
            plan, self.counts_text = None, str(exc)
        else:
            self.counts_text = plan.summary() if plan is not None else "choose a file"
        self.counts.setText(self.counts_text)
        self.cls.setEnabled(plan is not None and plan.fmt in CLASS_FORMATS)
        blocked = plan is not None and plan.blocked
        self.warning.setText(plan.warning() if blocked else "")
        self.force.setVisible(blocked)
        self.ok.setEnabled(plan is not None and (not blocked or self.force.isChecked()))

    def start(self) -> None:
        """Close the dialog and export in the background."""
        plan = self.plan()
        if plan is None:
            return
        self.accept()
        start_export(self.dock, self.path.text().strip(), plan.class_name,
                     self.min_conf.value(), plan.blocked and self.force.isChecked())


def start_export(dock, path: str, class_name: str | None, min_confidence: float,
                 force: bool) -> None:
    """Copy the labels on the session thread, then export the copy on the other worker
    with progress; the status line says where it went and what it holds."""
    def write(data):
        def work(progress):
            out = export(data, path, class_name=class_name, min_confidence=min_confidence,
                         force=force, progress=progress)
            plan = plan_export(data, export_format(path), class_name, min_confidence)
            return out, plan.summary()

        dock.controls.status.setText(f"exporting {Path(path).name} …")
        dock.runner.start(work, lambda res: dock.controls.status.setText(
            f"exported {res[0]}: {res[1]}"))

    dock._call(lambda s: copy.deepcopy(s.to_data()), write)
