"""Filters and search: show only some events, jump to (run, event), find similar events.

The bar only emits what the user asked for; :func:`filter_mask` says which rows match.
"""
from __future__ import annotations

import re

import numpy as np
from pyqtgraph.Qt import QtCore, QtWidgets

ALL, YOURS, PROPAGATED = "all events", "your labels", "propagated"
ANY, BELOW, ABOVE = "any confidence", "confidence <", "confidence >"


def filter_mask(final: np.ndarray, confidence: np.ndarray, user: np.ndarray, show: str,
                class_index: int | None, limit: str, threshold: float) -> np.ndarray | None:
    """Rows matching a filter, as a bool mask; None when the filter keeps everything.

    ``final``: each row's label (the user's, else the prediction; -1 none); ``user``: True
    where the label is the user's; ``show``: ALL, YOURS, PROPAGATED or a class (then
    ``class_index``); ``limit``: ANY, BELOW or ABOVE ``threshold`` on the confidence (1 for
    user labels).
    """
    keep = np.ones(len(final), dtype=bool)
    if show == YOURS:
        keep &= user
    elif show == PROPAGATED:
        keep &= ~user & (final >= 0)
    elif class_index is not None:
        keep &= final == class_index
    if limit == BELOW:
        keep &= confidence < threshold
    elif limit == ABOVE:
        keep &= confidence > threshold
    return None if keep.all() and show == ALL and limit == ANY else keep


def parse_run_event(text: str, runs) -> tuple[int, int] | None:
    """``"93 4661"``, ``"93:4661"``, ``"r93 #4661"`` -> (93, 4661); a lone event number is
    taken in the manifold's only run. None when the text says neither."""
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if len(numbers) == 2:
        return numbers[0], numbers[1]
    if len(numbers) == 1 and len(set(runs)) == 1:
        return int(next(iter(set(runs)))), numbers[0]
    return None


class FilterBar(QtWidgets.QWidget):
    """Show [what] [confidence limit] [threshold] · go to [run event] · Similar.

    Signals: ``sigFilter()`` (read :attr:`show`, :attr:`limit`, :attr:`threshold`),
    ``sigJump(text)``, ``sigSimilar()``.
    """

    sigFilter = QtCore.Signal()
    sigJump = QtCore.Signal(str)
    sigSimilar = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.what = QtWidgets.QComboBox()
        self.what.setToolTip("Show only these events on the manifold and in the grid "
                             "(least confident first)")
        self.limit_box = QtWidgets.QComboBox()
        self.limit_box.addItems([ANY, BELOW, ABOVE])
        self.value = QtWidgets.QDoubleSpinBox()
        self.value.setRange(0.0, 1.0)
        self.value.setSingleStep(0.05)
        self.value.setValue(0.5)
        self.jump = QtWidgets.QLineEdit()
        self.jump.setPlaceholderText("go to run event")
        self.jump.setToolTip("Type run and event (e.g. 93 4661), Enter: make it current")
        self.jump.returnPressed.connect(lambda: self.sigJump.emit(self.jump.text()))
        self.similar = QtWidgets.QPushButton("Similar (S)")
        self.similar.setToolTip("The current event and its nearest neighbours on the manifold "
                                "into the grid, to label together")
        self.similar.clicked.connect(self.sigSimilar)
        for w in (self.what, self.limit_box):
            w.activated.connect(lambda _=0: self.sigFilter.emit())
        self.value.valueChanged.connect(
            lambda _=0: self.sigFilter.emit() if self.limit != ANY else None)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (QtWidgets.QLabel("Show"), self.what, self.limit_box, self.value):
            lay.addWidget(w)
        lay.addStretch(1)
        lay.addWidget(self.jump)
        lay.addWidget(self.similar)
        self.set_classes([])

    def set_classes(self, classes) -> None:
        """Offer these classes (keeps the current choice when it still exists)."""
        current = self.what.currentText()
        self.what.blockSignals(True)
        self.what.clear()
        self.what.addItems([ALL, YOURS, PROPAGATED] + [f"class {c}" for c in classes])
        k = self.what.findText(current)
        self.what.setCurrentIndex(max(k, 0))
        self.what.blockSignals(False)

    @property
    def show(self) -> str:
        return self.what.currentText()

    @property
    def class_name(self) -> str | None:
        text = self.what.currentText()
        return text[len("class "):] if text.startswith("class ") else None

    @property
    def limit(self) -> str:
        return self.limit_box.currentText()

    @property
    def threshold(self) -> float:
        return float(self.value.value())

    def set_filter(self, show: str, limit: str = ANY, threshold: float | None = None) -> None:
        """Choose a filter as a user would (emits ``sigFilter`` once)."""
        self.blockSignals(True)
        if threshold is not None:
            self.value.setValue(threshold)
        self.limit_box.setCurrentText(limit)
        self.what.setCurrentText(show)
        self.blockSignals(False)
        self.sigFilter.emit()
