"""What the dock needs from the window it lives in (Psocake, or the stand-alone window).

A host shows one event at a time in its own image viewer. The dock asks it to go to an event
(``go_to``) and hears back through ``sigEventChanged`` whenever the host's event changes,
whoever changed it. Everything else has a sensible default.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from pyqtgraph.Qt import QtCore

from ..images import FileImages


class Host(QtCore.QObject):
    """Base host: images from the files named in the manifold's event table.

    Signal ``sigEventChanged(object)`` carries ``(run, event)`` of the host's new event.
    """

    sigEventChanged = QtCore.Signal(object)

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.files = FileImages()

    def go_to(self, source: str, run: int, event: int) -> None:
        """Show this event in the host's viewer (and emit ``sigEventChanged``)."""
        raise NotImplementedError

    def current_event(self) -> tuple[int, int] | None:
        """``(run, event)`` shown now, or None."""
        return None

    def image(self, source: str, run: int, event: int) -> np.ndarray | None:
        """The assembled image of an event, None if it cannot be had. May run off-thread."""
        return self.files.image(source, run, event)

    def image_view(self):
        """The host's ``pg.ImageView`` (for the label overlay), or None."""
        return None

    def labels_dir(self) -> Path | None:
        """Default folder for label files (None: next to the manifold)."""
        return None

    def manifold_dir(self) -> Path | None:
        """Folder where manifolds for the host's run are looked for."""
        return None

    def run_paths(self) -> list[str]:
        """Files of the host's run, for "Compute manifold"."""
        return []

    def find_manifolds(self) -> list[Path]:
        """Manifold files in ``manifold_dir()``, newest first."""
        folder = self.manifold_dir()
        if folder is None or not Path(folder).is_dir():
            return []
        return find_manifolds(Path(folder))


def is_manifold_file(path: Path) -> bool:
    """True for an HDF5 file whose ``schema`` attribute names a manifold."""
    try:
        with h5py.File(path, "r") as f:
            schema = f.attrs.get("schema", "")
    except (OSError, ValueError):
        return False
    if isinstance(schema, bytes):
        schema = schema.decode(errors="replace")
    return "manifold" in str(schema).lower()


def find_manifolds(folder: Path) -> list[Path]:
    """Manifold files directly in ``folder``, newest first."""
    found = [p for p in folder.glob("*.h5") if is_manifold_file(p)]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def manifold_runs(path: Path) -> set[int]:
    """Run numbers of the events a manifold file holds (empty when it cannot be read)."""
    try:
        with h5py.File(path, "r") as f:
            runs = f["events"].fields("run")[()]
    except (OSError, KeyError, ValueError, TypeError):
        return set()
    return {int(r) for r in np.unique(runs)}
