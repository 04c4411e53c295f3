"""Run slow work (loading, propagation, images) off the GUI thread, with progress.

``TaskRunner.start(fn, on_done)`` runs ``fn(progress)`` on a thread pool; ``progress`` is a
``ProgressCallback`` whose calls arrive in the GUI thread as ``sigProgress``. Results and
errors come back through queued signals, so callbacks always run in the GUI thread.
"""
from __future__ import annotations

import traceback
from typing import Any, Callable

from pyqtgraph.Qt import QtCore


class _Signals(QtCore.QObject):
    done = QtCore.Signal(object)
    failed = QtCore.Signal(object, str)
    progress = QtCore.Signal(str, int, int)


class _Task(QtCore.QRunnable):
    def __init__(self, fn: Callable[[Callable], Any]):
        super().__init__()
        self.fn = fn
        self.signals = _Signals()
        self.setAutoDelete(False)

    def run(self) -> None:
        try:
            result = self.fn(self._progress)
        except Exception as exc:  # reported to the GUI, which shows it; never kills the app
            self._emit(self.signals.failed, exc, traceback.format_exc())
        else:
            self._emit(self.signals.done, result)

    def _progress(self, stage, done, total) -> None:
        self._emit(self.signals.progress, str(stage), int(done), int(total))

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the application is shutting down: nobody is listening
            pass


class TaskRunner(QtCore.QObject):
    """Start callables on a private thread pool and route their outcome to the GUI thread.

    Signals: ``sigBusy(bool)`` when the first task starts / the last one ends,
    ``sigProgress(stage, done, total)``, ``sigError(message)`` for failures without handler.
    """

    sigBusy = QtCore.Signal(bool)
    sigProgress = QtCore.Signal(str, int, int)
    sigError = QtCore.Signal(str)

    def __init__(self, parent: QtCore.QObject | None = None, threads: int = 2):
        super().__init__(parent)
        self.pool = QtCore.QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._tasks: set[_Task] = set()

    @property
    def busy(self) -> bool:
        """True while any task runs or waits."""
        return bool(self._tasks)

    def start(self, fn: Callable[[Callable], Any], on_done: Callable[[Any], None] | None = None,
              on_error: Callable[[Exception], None] | None = None) -> None:
        """Run ``fn(progress)`` in the pool; ``on_done(result)`` / ``on_error(exc)`` in the GUI."""
        task = _Task(fn)
        task.signals.progress.connect(self.sigProgress)

        def finish(*_):
            self._tasks.discard(task)
            if not self._tasks:
                self.sigBusy.emit(False)

        def done(result):
            finish()
            if on_done is not None:
                on_done(result)

        def failed(exc, tb):
            finish()
            if on_error is not None:
                on_error(exc)
            else:
                from ..errors import LabelerError

                if isinstance(exc, LabelerError):   # expected: its message says it all
                    self.sigError.emit(str(exc))
                else:
                    self.sigError.emit(f"{type(exc).__name__}: {exc}")
                    print(tb)

        task.signals.done.connect(done)
        task.signals.failed.connect(failed)
        if not self._tasks:
            self.sigBusy.emit(True)
        self._tasks.add(task)
        self.pool.start(task)

    def wait(self, msecs: int = 60000) -> bool:
        """Block until no task is left, delivering results (and tasks they start); for scripts."""
        timer = QtCore.QElapsedTimer()
        timer.start()
        app = QtCore.QCoreApplication.instance()
        while self._tasks and timer.elapsed() < msecs:
            self.pool.waitForDone(50)
            app.processEvents()
        return not self._tasks
