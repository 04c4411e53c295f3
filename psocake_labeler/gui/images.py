"""Images of manifold rows, read from the Psocake files their event table names.

Files are opened once (``open_run``) and kept; an event number is found in its run by a
dictionary. A source that has moved is looked for by name in ``search_dirs`` (e.g. next to
the manifold), because manifolds are often copied off the cluster without their runs.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import LabelerError


class FileImages:
    """``image(source, run, event)`` from the hit files; None when there are no images."""

    def __init__(self, search_dirs: list[Path] | None = None):
        self.search_dirs = list(search_dirs or [])
        self._runs: dict[str, object] = {}
        self._index: dict[str, dict[int, int]] = {}
        self._lock = threading.Lock()   # thumbnails load in a worker, the viewer in the GUI

    def resolve(self, source: str) -> Path | None:
        """The file for ``source``: as given, else by name in ``search_dirs``."""
        p = Path(str(source))
        if p.exists():
            return p
        for folder in self.search_dirs:
            q = Path(folder) / p.name
            if q.exists():
                return q
        return None

    def run_of(self, source: str):
        """The opened ``Run`` of a source file, or None if it cannot be opened."""
        from ..io import open_run

        key = str(source)
        if key not in self._runs:
            path = self.resolve(key)
            run = None
            if path is not None:
                try:
                    run = open_run(path)
                except LabelerError:
                    run = None
            self._runs[key] = run
            if run is not None:
                events = np.asarray(run.events)
                self._index[key] = {int(e): i for i, e in enumerate(events)}
        return self._runs[key]

    def index_of(self, source: str, event: int) -> int | None:
        """Position of ``event`` among the hits of ``source``."""
        with self._lock:
            run = self.run_of(source)
        if run is None:
            return None
        return self._index[str(source)].get(int(event))

    def image(self, source: str, run: int, event: int) -> np.ndarray | None:
        """float32 (H, W) image of the event, None when missing."""
        with self._lock:
            r = self.run_of(source)
            if r is None or not getattr(r, "has_images", True):
                return None
            i = self._index[str(source)].get(int(event))
            if i is None:
                return None
            try:
                return np.asarray(r.image(i), dtype=np.float32)
            except LabelerError:
                return None

    def close(self) -> None:
        """Close every opened run."""
        with self._lock:
            for run in self._runs.values():
                if run is not None and hasattr(run, "close"):
                    run.close()
            self._runs.clear()
            self._index.clear()
