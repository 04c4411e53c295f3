"""A window saved as PNG, as the user sees it (``gui --screenshot``, the demo, the docs)."""
from __future__ import annotations

from pathlib import Path

from pyqtgraph.Qt import QtCore, QtWidgets


def save_png(widget: QtWidgets.QWidget, path: str | Path) -> Path:
    """Draw ``widget`` (pending events first) and save it as PNG at its own size."""
    qapp = QtWidgets.QApplication.instance()
    for _ in range(5):
        qapp.processEvents()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = widget.grab().toImage()
    if image.size() != widget.size():
        # a fractional device pixel ratio (Qt's offscreen screen has 100/96): save the
        # window at its own size, as the user sees it at 1400 x 900
        image = image.scaled(widget.size(), QtCore.Qt.AspectRatioMode.IgnoreAspectRatio,
                             QtCore.Qt.TransformationMode.SmoothTransformation)
    if not image.save(str(path)):
        raise OSError(f"could not write screenshot {path}")
    return path
