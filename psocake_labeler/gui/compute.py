"""Compute a manifold in the background: ``mpiexec -n N psocake-labeler embed`` or ``sbatch``.

The job runs as a separate process (QProcess), so the GUI stays free and a crash of the job
cannot take the GUI down. Progress lines printed by the ``embed`` command
(``stage: done/total ...``) drive the dock's progress bar; with sbatch the job's log file is
followed instead. When the manifold file appears, the dock opens it. The command lines
and the batch script are Qt-free, in ``cli/jobs.py``.
"""
from __future__ import annotations

from pathlib import Path

from pyqtgraph.Qt import QtCore, QtWidgets

from ..cli.jobs import DONE_LINE, PROGRESS, check_job_values, mpiexec_command, sbatch_script
from ..errors import InputError


class ComputeJob(QtCore.QObject):
    """One background embed. Signals: ``sigProgress(stage, done, total)``,
    ``sigFinished(ok, message, out_path)``."""

    sigProgress = QtCore.Signal(str, int, int)
    sigFinished = QtCore.Signal(bool, str, str)

    def __init__(self, out: str, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.out = str(out)
        self.proc = QtCore.QProcess(self)
        self.proc.setProcessChannelMode(QtCore.QProcess.ProcessChannelMode.MergedChannels)
        self.proc.readyReadStandardOutput.connect(self._read)
        self.proc.finished.connect(self._finished)
        self.output: list[str] = []
        self._log_pos = 0
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self._poll)
        self.poll_ms = 5000   # how often a batch job's log is read

    def start_local(self, command: list[str]) -> None:
        """Run the command here."""
        self.mode = "local"
        self.proc.start(command[0], command[1:])

    def start_sbatch(self, script: str) -> None:
        """Submit the script with ``sbatch`` and follow its log until the manifold exists."""
        self.mode = "sbatch"
        path = Path(self.out).with_suffix(".sbatch")
        path.write_text(script)
        self.proc.start("sbatch", ["--parsable", str(path)])

    def _read(self) -> None:
        text = bytes(self.proc.readAllStandardOutput()).decode(errors="replace")
        self._lines(text)

    def _lines(self, text: str) -> None:
        for line in text.replace("\r", "\n").splitlines():
            self.output.append(line)
            m = PROGRESS.match(line.strip())
            if m:
                self.sigProgress.emit(m["stage"], int(m["done"]), int(m["total"]))

    def _finished(self, code: int, _status) -> None:
        tail = "\n".join(self.output[-3:])
        if code != 0:
            self.sigFinished.emit(False, f"embed failed (exit {code}): {tail}", self.out)
        elif self.mode == "sbatch":
            self.sigProgress.emit(f"queued as job {tail.strip()}", 0, 0)
            self._timer.start(self.poll_ms)
        else:
            self.sigFinished.emit(True, f"manifold written to {self.out}", self.out)

    def _poll(self) -> None:
        log = Path(self.out + ".log")
        if log.exists():
            with open(log, errors="replace") as f:
                f.seek(self._log_pos)
                self._lines(f.read())
                self._log_pos = f.tell()
        # the job's own last line decides: an output file may have been there before
        done = next((m for m in map(DONE_LINE.match, reversed(self.output[-5:])) if m), None)
        if done is None:
            return
        self._timer.stop()
        code = int(done["code"])
        if code == 0:
            self.sigFinished.emit(True, f"manifold written to {self.out}", self.out)
        else:
            tail = "\n".join(line for line in self.output[-4:] if not DONE_LINE.match(line))
            self.sigFinished.emit(False, f"embed failed (exit {code}): {tail}", self.out)


class ComputeDialog(QtWidgets.QDialog):
    """Runs, output, and where to run: here with mpiexec, or on the cluster with sbatch."""

    def __init__(self, dock):
        super().__init__(dock)
        self.dock = dock
        self.setWindowTitle("Compute manifold")
        host = dock.host
        runs = host.run_paths() if host is not None else []
        folder = (host.manifold_dir() if host is not None else None) or Path.cwd()
        stem = Path(runs[0]).stem if runs else "manifold"
        # one run per line: paths keep their spaces and quotes as they are
        self.runs = QtWidgets.QPlainTextEdit("\n".join(runs))
        self.runs.setFixedHeight(70)
        self.out = QtWidgets.QLineEdit(str(Path(folder) / f"{stem}.manifold.h5"))
        self.where = QtWidgets.QComboBox()
        self.where.addItems(["here (mpiexec)", "cluster (sbatch)"])
        self.ranks = QtWidgets.QSpinBox()
        self.ranks.setRange(1, 4096)
        self.ranks.setValue(max(1, min(8, QtCore.QThread.idealThreadCount())))
        self.partition = QtWidgets.QLineEdit()
        self.account = QtWidgets.QLineEdit()
        self.options = QtWidgets.QLineEdit()
        self.options.setPlaceholderText("e.g. --knn 15 --n-components 10")
        form = QtWidgets.QFormLayout(self)
        for label, w in (("Runs", self.runs), ("Output", self.out), ("Where", self.where),
                         ("MPI ranks", self.ranks), ("Partition", self.partition),
                         ("Account", self.account), ("embed options", self.options)):
            form.addRow(label, w)
        box = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                         | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.start)
        box.rejected.connect(self.reject)
        form.addRow(box)

    def run_list(self) -> list[str]:
        """The Runs field, one path per line (empty lines skipped)."""
        return [line for line in self.runs.toPlainText().splitlines() if line.strip()]

    def start(self) -> None:
        runs = self.run_list()
        if not runs:
            QtWidgets.QMessageBox.warning(self, "Compute manifold", "give at least one run file")
            return
        try:
            job = start_job(self.dock, runs, self.out.text(), self.ranks.value(),
                            sbatch=self.where.currentIndex() == 1,
                            partition=self.partition.text(), account=self.account.text(),
                            options=self.options.text())
        except InputError as exc:   # a newline in a path or name: say so, start nothing
            QtWidgets.QMessageBox.warning(self, "Compute manifold", str(exc))
            return
        self.dock.compute_job = job
        self.accept()


def start_job(dock, runs: list[str], out: str, ranks: int, sbatch: bool = False,
              partition: str = "", account: str = "", options: str = "") -> ComputeJob:
    """Start an embed job whose progress shows in the dock and whose result the dock opens."""
    check_job_values(runs, out, options=options)
    job = ComputeJob(out, dock)
    job.sigProgress.connect(dock.controls.show_progress)

    def finished(ok: bool, message: str, path: str) -> None:
        dock.controls.hide_progress()
        if ok:
            dock.controls.status.setText(message)
            dock.open_manifold(path)
        else:
            dock.show_error(message)

    job.sigFinished.connect(finished)
    dock.controls.show_progress("starting embed", 0, 0)
    if sbatch:
        job.start_sbatch(sbatch_script(runs, out, ranks, partition, account, options))
    else:
        job.start_local(mpiexec_command(runs, out, ranks, options))
    return job
