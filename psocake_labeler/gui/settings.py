"""What the GUI remembers between sessions (Qt's per-user settings file).

The axes chosen for a manifold are kept under a key made from its event table and its
eigenvalues, so that reopening the same manifold (whatever its path) shows the same view,
and a recomputed manifold of the same events (other eigenvectors) starts afresh.
"""
from __future__ import annotations

import hashlib

import numpy as np
from pyqtgraph.Qt import QtCore


def settings() -> QtCore.QSettings:
    """The settings file: ``$XDG_CONFIG_HOME/psocake-labeler/gui.ini`` on Linux."""
    return QtCore.QSettings(QtCore.QSettings.Format.IniFormat,
                            QtCore.QSettings.Scope.UserScope, "psocake-labeler", "gui")


def manifold_key(manifold) -> str:
    """Key of a manifold's view settings (computes the events hash: call off the GUI
    thread for large manifolds)."""
    h = hashlib.sha256(str(manifold.events_hash()).encode())
    h.update(np.ascontiguousarray(manifold.eigenvalues, dtype="<f8").tobytes())
    return h.hexdigest()[:24]


def saved_axes(key: str, n_components: int) -> tuple[int, int] | None:
    """The axes saved for this manifold, None when none (or not valid for it)."""
    value = settings().value(f"axes/{key}")
    try:
        i, j = (int(v) for v in str(value).split(","))
    except (TypeError, ValueError):
        return None
    return (i, j) if 0 <= i < n_components and 0 <= j < n_components else None


def save_axes(key: str, axes: tuple[int, int] | None) -> None:
    """Remember these axes for the manifold (None forgets them)."""
    s = settings()
    if axes is None:
        s.remove(f"axes/{key}")
    else:
        s.setValue(f"axes/{key}", f"{int(axes[0])},{int(axes[1])}")
    s.sync()
