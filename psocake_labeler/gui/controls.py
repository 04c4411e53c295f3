"""Label controls: class buttons, session actions, counts and a progress bar.

The widget only emits what the user asked for; the dock turns that into session calls.
"""
from __future__ import annotations

from pyqtgraph.Qt import QtCore, QtWidgets

from .flow import HELP_CLASS, HELP_KEY
from .style import Palette, hex_colour


def _text_colour(rgb) -> str:
    # dark text on light buttons, light text on dark ones, so names stay readable
    return "#000000" if (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) > 150 else "#ffffff"


class Controls(QtWidgets.QWidget):
    """Buttons and counts. Signals carry no logic: ``sigLabel(class_index)`` (-1 = unlabel),
    ``sigAction(name)`` with name in recommend, propagate, undo, redo, classes, open,
    compute, export; ``sigAuto(bool)`` for automatic propagation."""

    sigLabel = QtCore.Signal(int)
    sigAction = QtCore.Signal(str)
    sigAuto = QtCore.Signal(bool)

    ACTIONS = (
        ("unlabel", "0 Unlabel", "Remove your label from the selected events (0)"),
        ("recommend", "Recommend", "Fill the grid with the 10 events most worth labelling (R)"),
        ("propagate", "Propagate", "Spread your labels over the manifold (P)"),
        ("undo", "Undo", "Undo the last label (Ctrl+Z)"),
        ("redo", "Redo", "Redo (Ctrl+Shift+Z)"),
        ("review", "Review", "Your labels that confident predictions from the others "
                             "contradict, into the grid (V)"),
        ("export", "Export…", "Export labels: .json .csv .cxi (single hits) .dat (blacklist)"),
    )
    MENU = (
        ("open", "Open manifold…", "Open a manifold (and its labels)"),
        ("save", "Save labels as…", "Save the labels to another file"),
        ("classes", "Classes…", "Rename, add or remove classes"),
        ("averages", "Class averages…", "The mean image of each class's confident events: a "
                                        "wrong class shows at a glance"),
        ("extend", "Add run…", "Place more runs on this manifold without recomputing it, "
                               "keeping your labels"),
        ("compute", "Compute manifold…", "Compute a manifold for this run in the background "
                                         "(mpiexec here, or sbatch on the cluster)"),
    )

    QUALITY_TIP = ("When to stop: events whose label is trusted, and the accuracy of the "
                   "predictions estimated from held-out labels of yours")

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.class_row = QtWidgets.QHBoxLayout()
        self.class_row.setSpacing(3)
        self.class_buttons: list[QtWidgets.QPushButton] = []

        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        actions = QtWidgets.QGridLayout()
        actions.setSpacing(3)
        for k, (name, text, tip) in enumerate(self.ACTIONS):
            b = QtWidgets.QPushButton(text)
            b.setToolTip(tip)
            if name == "unlabel":
                b.clicked.connect(lambda: self.sigLabel.emit(-1))
            else:
                b.clicked.connect(lambda _=False, n=name: self.sigAction.emit(n))
            self.buttons[name] = b
            actions.addWidget(b, 0, k)
        # the less frequent actions share one button, so that the dock keeps its height
        self.more = QtWidgets.QToolButton()
        self.more.setText("More ▾")
        self.more.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QtWidgets.QMenu(self.more)
        self.menu_actions: dict[str, QtWidgets.QAction] = {}
        for name, text, tip in self.MENU:
            act = menu.addAction(text)
            act.setToolTip(tip)
            act.triggered.connect(lambda _=False, n=name: self.sigAction.emit(n))
            self.menu_actions[name] = act
        self.more.setMenu(menu)
        actions.addWidget(self.more, 0, len(self.ACTIONS))
        self.auto = QtWidgets.QCheckBox("auto")
        self.auto.setToolTip("Propagate after every label")
        self.auto.setChecked(True)
        self.auto.toggled.connect(self.sigAuto)

        self.counts = QtWidgets.QLabel("no manifold")
        self.counts.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.counts.setWordWrap(True)
        self.quality = QtWidgets.QLabel("")
        self.quality.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.quality.setWordWrap(True)
        self.quality.hide()
        self.target = QtWidgets.QLabel("open a manifold first (Open… or Compute…)")
        self.target.setToolTip("What the next key will label")
        self.target.setStyleSheet("font-weight: bold")
        self.target.setWordWrap(True)
        self.status = QtWidgets.QLabel("")
        self.status.setStyleSheet("color: gray")
        self.status.setWordWrap(True)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumHeight(14)
        self.progress.setTextVisible(True)
        self.progress.hide()

        row2 = QtWidgets.QHBoxLayout()
        row2.addLayout(actions, 1)
        row2.addWidget(self.auto)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        lay.addLayout(self.class_row)
        lay.addLayout(row2)
        lay.addWidget(self.counts)
        lay.addWidget(self.quality)
        lay.addWidget(self.target)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)

    def set_classes(self, palette: Palette) -> None:
        """One coloured button per class; keys 1..9 are shown on them."""
        for b in self.class_buttons:
            # hide and detach now: deleteLater alone would leave them drawn until the event
            # loop runs, which an offscreen screenshot never lets happen
            self.class_row.removeWidget(b)
            b.hide()
            b.setParent(None)
            b.deleteLater()
        self.class_buttons = []
        for k, (name, rgb) in enumerate(zip(palette.classes, palette.colours)):
            key = f"{k + 1} " if k < 9 else ""
            b = QtWidgets.QPushButton(f"{key}{name}")
            b.setToolTip(f"Label the selected events {name!r}" + (f" (key {k + 1})" if k < 9
                                                                  else ""))
            b.setStyleSheet(f"QPushButton {{ background: {hex_colour(rgb)}; "
                            f"color: {_text_colour(rgb)}; font-weight: bold; padding: 3px; }}")
            b.clicked.connect(lambda _=False, i=k: self.sigLabel.emit(i))
            b.setMinimumWidth(40)
            b.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                            QtWidgets.QSizePolicy.Policy.Fixed)
            self.class_row.addWidget(b)
            self.class_buttons.append(b)
        if HELP_CLASS.lower() not in [c.strip().lower() for c in palette.classes]:
            # the "need help" key works before the class exists: it adds it on first use
            b = QtWidgets.QPushButton(f"{HELP_KEY} {HELP_CLASS}")
            b.setToolTip(f"Label the selected events {HELP_CLASS!r} to ask a colleague "
                         f"(key {HELP_KEY}); the class is added on first use")
            b.setStyleSheet("QPushButton { border: 1px dashed gray; padding: 3px; }")
            b.clicked.connect(lambda: self.sigAction.emit("help"))
            b.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                            QtWidgets.QSizePolicy.Policy.Fixed)
            self.class_row.addWidget(b)
            self.class_buttons.append(b)

    def set_counts(self, palette: Palette, user_counts, predicted_counts, n_labelled: int,
                   n_total: int) -> None:
        """Show 'Single 12 / 830' per class (yours / predicted) and the labelled fraction."""
        parts = []
        for name, rgb, u, p in zip(palette.classes, palette.colours, user_counts,
                                   predicted_counts):
            parts.append(f"<span style='color:{hex_colour(rgb)}'><b>{name}</b></span>&nbsp;{u}"
                         + (f"&nbsp;/&nbsp;{p}" if p is not None else ""))
        frac = 100.0 * n_labelled / n_total if n_total else 0.0
        # non-breaking spaces: a narrow dock wraps between the parts, never inside one
        parts.append(f"labelled&nbsp;{n_labelled}/{n_total}&nbsp;({frac:.1f}%)")
        self.counts.setText(" · ".join(parts))
        self.counts.setToolTip("per class: your labels / predicted events")

    def set_quality(self, text: str, tooltip: str = "") -> None:
        """Show the stopping signal (hidden while empty); ``tooltip``: all of it."""
        self.quality.setText(text)
        self.quality.setToolTip(tooltip or self.QUALITY_TIP)
        self.quality.setVisible(bool(text))

    def show_progress(self, stage: str, done: int, total: int) -> None:
        """Show a progress bar (busy indicator when total is 0)."""
        self.progress.show()
        self.progress.setMaximum(max(total, 0))
        self.progress.setValue(min(done, total) if total > 0 else 0)
        self.progress.setFormat(f"{stage} %v/%m" if total > 0 else stage)

    def hide_progress(self) -> None:
        """Hide the progress bar."""
        self.progress.hide()
