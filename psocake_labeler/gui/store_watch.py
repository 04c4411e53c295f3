"""The dock's watch on its label store: show when labels run ahead of the file (a full disk),
save them when room returns, and take in what other writers saved meanwhile."""
from __future__ import annotations

import time
from pathlib import Path

from pyqtgraph.Qt import QtCore


class StoreWatch(QtCore.QObject):
    """Every ``INTERVAL_MS`` on the dock's session thread: ``flush()`` while the session is
    ahead of its store, else ``refresh()`` (other writers' labels then redraw the dock).

    While the labels are all saved, not while the user is labelling (a key within the last
    ``INTERVAL_MS``, :meth:`touch`): the refresh also writes the lagging predictions, 40 MB
    at 10^6 events, and a click queued behind it on the session thread waited for it. Each
    change reads what other writers appended anyway.
    """

    INTERVAL_MS = 5000

    def __init__(self, dock) -> None:
        super().__init__(dock)
        self.dock = dock
        self.warned = False
        self.touched = -float("inf")    # monotonic time of the user's last label
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(self.INTERVAL_MS)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    def tick(self) -> None:
        """Retry the save, or read other writers' actions (never two session calls at once)."""
        s = self.dock.session
        if s is None or s.path is None or self.dock.session_runner.busy:
            return
        if not s.ahead and time.monotonic() - self.touched < self.INTERVAL_MS / 1000.0:
            return    # labels all saved, the user labelling: predictions later
        self.dock.session_runner.start(lambda progress: s.flush() if s.ahead else s.refresh(),
                                       lambda _result: self.show(s))

    def touch(self) -> None:
        """The user labelled: the next tick leaves the session thread to the clicks."""
        self.touched = time.monotonic()

    def show(self, session) -> None:
        """Status line: the one-line save error while the store is behind, then "saved"."""
        if session is not self.dock.session:
            return
        if session.ahead and session.save_error:
            self.dock.show_error(session.save_error)
            self.warned = True
        elif self.warned and not session.ahead:
            self.warned = False
            self.dock.controls.status.setText(
                f"all labels saved to {Path(session.path).name}")
