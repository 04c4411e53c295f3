"""Where the Label Manifold dock goes in Psocake's window, and how it fits there.

Measured on the real Psocake (master and s3df, ``-m spi`` at its default 1400 x 700): three
columns, the image 573 px wide on the left, Experiment Parameters over Hit Finder / Mask
Panel 587 px in the middle, Small Data and Image Control 232 px on the right. A new column
for the dock (``addDock(dock, 'right')``) must take its width from those three; with the
dock's minimum of 661 px the image fell to 229 px and the window grew to 1704 px. So the
dock becomes a tab of the middle column's lower stack (beside Hit Finder and Mask Panel,
which every mode has), the stack gets two thirds of the column's height, and the dock's
parts may shrink to what that tab has instead of imposing their minimum size on Psocake's
splitters. (A scroll area around the dock does not help: its word-wrapped status lines make
Qt size the content to its preferred height, 910 px.)
"""
from __future__ import annotations

from pyqtgraph.Qt import QtCore, QtWidgets

# The middle column's lower stack gets this share of the column height (the upper one keeps
# Experiment Parameters, whose Event Number row stays in view).
STACK_SHARE = 2
# Action buttons may shrink to this width so that the controls fit a 587 px tab.
BUTTON_MIN_WIDTH = 40
# The manifold view and the event grid may shrink to this (w, h) in the tab: measured, their
# own minima (427 x 235 and 481 x 217) plus the controls need 661 x 629, more than the
# 587 x 442 the tab has at 1400 x 700.
VIEW_MIN = (200, 110)
# Tiles in the tab: two columns beside the manifold (the slider still enlarges them).
TILE = 112


def anchor_dock(frame):
    """The Psocake dock whose tab stack receives ours: the Mask Panel (present in every
    mode), else None (the dock then gets its own column)."""
    mk = getattr(frame, "mk", None)
    dock = getattr(mk, "dock", None)
    docks = frame.area.findAll()[1].values()
    return dock if dock is not None and any(d is dock for d in docks) else None


def make_compact(dock) -> None:
    """Let the dock's parts shrink to what a tab of Psocake's middle column has, so that its
    minimum size no longer squeezes Psocake's panels (the body's minimum becomes about
    364 x 402 px instead of 661 x 629)."""
    for part in (dock.view, dock.grid):
        part.setMinimumSize(*VIEW_MIN)
    split = dock.view.parentWidget()
    if isinstance(split, QtWidgets.QSplitter):
        # the tab is wide and short (587 x 442): manifold and tiles side by side
        split.setOrientation(QtCore.Qt.Orientation.Horizontal)
        split.setSizes([1, 1])
    dock.grid.set_tile_size(TILE)
    for button in dock.controls.buttons.values():
        button.setMinimumWidth(BUTTON_MIN_WIDTH)
        button.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                             QtWidgets.QSizePolicy.Policy.Fixed)


def place_dock(frame, dock) -> str:
    """Add ``dock`` to Psocake's dock area as a tab beside the Mask Panel and raise it.

    Returns where it went: ``"tab"``, or ``"right"`` when Psocake has no Mask Panel dock.
    """
    anchor = anchor_dock(frame)
    if anchor is None:
        frame.area.addDock(dock, "right")
        return "right"
    sx, sy = anchor.container().stretch()
    dock.setStretch(sx, max(sy, 1) * STACK_SHARE)
    frame.area.addDock(dock, "above", anchor)
    dock.raiseDock()
    return "tab"


def dock_widths(area) -> dict[str, tuple[int, int, bool]]:
    """``{dock title: (width, height, visible)}`` of every dock in the area (for checks and
    the docs' measurements)."""
    return {name: (d.width(), d.height(), d.isVisible())
            for name, d in area.findAll()[1].items()}
