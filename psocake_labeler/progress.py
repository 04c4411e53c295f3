"""Progress reports for long work: a callable ``progress(stage, done, total)``.

Library code accepts ``progress=None`` (silent) or any such callable; the command line
passes a :class:`ProgressPrinter`, the GUI a Qt signal emitter.
"""
from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, TextIO

ProgressCallback = Callable[[str, int, int], None]
#: The package's logger: warnings the command line prints to stderr (no handler set).
LOG = logging.getLogger("psocake_labeler")


def report(progress: Optional[ProgressCallback], stage: str, done: int, total: int) -> None:
    """Call ``progress`` if one was given."""
    if progress is not None:
        progress(stage, done, total)


class ProgressPrinter:
    """Print one line per update, with rate and ETA, at most every ``interval`` s per stage."""

    def __init__(self, stream: TextIO | None = None, interval: float = 1.0, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.interval = interval
        self.enabled = enabled
        self._start: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        start = self._start.setdefault(stage, now)
        finished = total > 0 and done >= total
        if not finished and now - self._last.get(stage, -1e9) < self.interval:
            return
        self._last[stage] = now
        elapsed = now - start
        rate = done / elapsed if elapsed > 0 else 0.0
        if total > 0:
            eta = (total - done) / rate if rate > 0 else float("nan")
            line = f"{stage}: {done}/{total} ({100.0 * done / total:.0f}%)"
            if finished:
                line += f" in {elapsed:.1f} s"
            elif rate > 0:
                line += f", {rate:.1f}/s, ETA {eta:.0f} s"
        else:
            line = f"{stage}: {done}"
        print(line, file=self.stream, flush=True)


@contextmanager
def log_lines(level: int = logging.WARNING) -> Iterator[list[str]]:
    """The lines the ``psocake_labeler`` logger emits at ``level`` or above inside the block
    (on any thread), as a list filled in as they come: what the command line prints to
    stderr, for a window to show."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect(level)
    LOG.addHandler(handler)
    try:
        yield lines
    finally:
        LOG.removeHandler(handler)
