"""Thumbnails of a handful of events with their labels: look, click to open, select, label.

Each tile is one pixmap: the log-scaled image (contrast from two percentiles shared by all
tiles) with, below it, the event, the user's label and the predicted label with its
confidence, each in its class colour. Images are read off the GUI thread.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from .style import CURRENT
from .workers import TaskRunner

THUMB = 140            # default tile: ten fit in the dock of a 1400 x 900 window
THUMB_RANGE = (64, 480)
CAPTION = 32
MAX_TILES = 48
MAX_THUMB_PIXELS = 320  # kept per thumbnail: a large tile still shows the fringes


def log_scale(image: np.ndarray, lo_pct: float, hi_pct: float) -> np.ndarray:
    """uint8 display of ``log1p(max(image, 0))`` stretched between two percentiles."""
    img = np.asarray(image, dtype=np.float32)
    img = np.log1p(np.clip(np.nan_to_num(img, nan=0.0, posinf=0.0, neginf=0.0), 0, None))
    lo, hi = np.percentile(img, [lo_pct, hi_pct]) if img.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1e-6
    return (np.clip((img - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def shrink(image: np.ndarray, max_pixels: int = MAX_THUMB_PIXELS) -> np.ndarray:
    """Block-average an image so that its longer side is at most ``max_pixels``."""
    img = np.asarray(image, dtype=np.float32)
    f = int(np.ceil(max(img.shape) / max_pixels))
    if f <= 1:
        return img
    h, w = (img.shape[0] // f) * f, (img.shape[1] // f) * f
    return np.nanmean(img[:h, :w].reshape(h // f, f, w // f, f), axis=(1, 3))


class EventGrid(QtWidgets.QWidget):
    """Tiles of events. Signals: ``sigRowActivated(row)`` (click), ``sigRowEnlarged(row)``
    (double-click), ``sigSelectionChanged(rows)``.

    ``image_fn(row) -> ndarray | None`` reads an image; ``caption_fn(row)`` returns a list of
    ``(text, QColor)`` lines; ``border_fn(row)`` the tile's frame colour or None.
    """

    sigRowActivated = QtCore.Signal(int)
    sigRowEnlarged = QtCore.Signal(int)
    sigSelectionChanged = QtCore.Signal(object)

    def __init__(self, runner: TaskRunner, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.image_fn: Callable[[int], np.ndarray | None] = lambda row: None
        self.caption_fn: Callable[[int], list] = lambda row: [(f"row {row}", QtGui.QColor("w"))]
        self.border_fn: Callable[[int], QtGui.QColor | None] = lambda row: None
        self.rows: list[int] = []
        self._thumbs: dict[int, np.ndarray | None] = {}
        self._generation = 0
        self.thumb = THUMB
        self.current: int | None = None

        self.title = QtWidgets.QLabel("Events")
        self.title.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                 QtWidgets.QSizePolicy.Policy.Preferred)   # long filter names
        self.lo = QtWidgets.QDoubleSpinBox()
        self.hi = QtWidgets.QDoubleSpinBox()
        for box, value, tip in ((self.lo, 1.0, "black level"), (self.hi, 99.7, "white level")):
            box.setRange(0.0, 100.0)
            box.setDecimals(1)
            box.setSingleStep(0.5)
            box.setValue(value)
            box.setSuffix(" %")
            box.setToolTip(f"Thumbnail {tip}: percentile of log(1 + intensity)")
            box.valueChanged.connect(self.refresh)
        self.size = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.size.setRange(*THUMB_RANGE)
        self.size.setValue(THUMB)
        self.size.setMaximumWidth(120)
        self.size.setToolTip("Tile size (double-click a tile for the full image in the viewer)")
        self.size.valueChanged.connect(self.set_tile_size)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(QtWidgets.QLabel("size"))
        top.addWidget(self.size)
        top.addWidget(QtWidgets.QLabel("log contrast"))
        top.addWidget(self.lo)
        top.addWidget(self.hi)

        self.list = QtWidgets.QListWidget()
        self.list.setViewMode(QtWidgets.QListView.ViewMode.IconMode)
        self.list.setResizeMode(QtWidgets.QListView.ResizeMode.Adjust)
        self.list.setMovement(QtWidgets.QListView.Movement.Static)
        self.list.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setSpacing(3)
        self.list.setUniformItemSizes(True)
        self.list.setMinimumHeight(THUMB_RANGE[0] + CAPTION + 16)
        self.list.setStyleSheet("QListWidget { background: #202020; }")
        self.list.itemClicked.connect(lambda item: self.sigRowActivated.emit(self._row(item)))
        self.list.itemDoubleClicked.connect(
            lambda item: self.sigRowEnlarged.emit(self._row(item)))
        self.list.itemSelectionChanged.connect(
            lambda: self.sigSelectionChanged.emit(self.selected_rows()))

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.list, 1)
        self.set_tile_size(THUMB)

    # -- content ----------------------------------------------------------------------------
    def set_rows(self, rows, title: str = "Events") -> None:
        """Show these rows (at most MAX_TILES); images load in the background."""
        rows = [int(r) for r in np.asarray(rows, dtype=int).reshape(-1)]
        more = len(rows) - MAX_TILES
        self.rows = rows[:MAX_TILES]
        self.title.setText(f"{title}: {len(rows)}" + (f" (first {MAX_TILES} shown)"
                                                      if more > 0 else ""))
        self._generation += 1
        generation = self._generation
        self.list.blockSignals(True)
        self.list.clear()
        for row in self.rows:
            item = QtWidgets.QListWidgetItem()
            item.setData(QtCore.Qt.ItemDataRole.UserRole, row)
            item.setSizeHint(self._item_size())
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.refresh()
        missing = [r for r in self.rows if r not in self._thumbs]
        if missing:
            image_fn = self.image_fn

            def load(progress):
                out = {}
                for k, row in enumerate(missing):
                    img = image_fn(row)
                    out[row] = None if img is None else shrink(img)
                    progress("thumbnails", k + 1, len(missing))
                return out

            self.runner.start(load, lambda thumbs: self._loaded(generation, thumbs))

    def set_tile_size(self, pixels: int) -> None:
        """Draw tiles ``pixels`` wide (images keep their aspect)."""
        self.thumb = int(min(max(pixels, THUMB_RANGE[0]), THUMB_RANGE[1]))
        if self.size.value() != self.thumb:
            self.size.setValue(self.thumb)   # comes back here once, then stops
            return
        self.list.setIconSize(QtCore.QSize(self.thumb, self.thumb + CAPTION))
        for k in range(self.list.count()):
            self.list.item(k).setSizeHint(self._item_size())
        self.refresh()

    def _item_size(self) -> QtCore.QSize:
        return QtCore.QSize(self.thumb + 8, self.thumb + CAPTION + 8)

    def columns(self) -> int:
        """Tiles per grid line as laid out now (for up / down keys)."""
        step = self._item_size().width() + 2 * self.list.spacing()
        return max(1, self.list.viewport().width() // step)

    def set_current(self, row: int | None) -> None:
        """Frame the tile of the current event (if shown) and scroll to it."""
        old, self.current = self.current, row
        lo, hi = self.lo.value(), self.hi.value()
        for k in range(self.list.count()):
            item = self.list.item(k)
            r = self._row(item)
            if r in (old, row) and old != row:
                item.setIcon(QtGui.QIcon(self._tile(r, lo, hi)))
            if r == row:
                self.list.scrollToItem(item)

    def clear_cache(self) -> None:
        """Forget loaded thumbnails (a new manifold or image source)."""
        self._thumbs.clear()

    def _loaded(self, generation: int, thumbs: dict) -> None:
        self._thumbs.update(thumbs)
        if len(self._thumbs) > 4 * MAX_TILES:  # keep memory bounded over a long session
            for row in list(self._thumbs)[: len(self._thumbs) - 2 * MAX_TILES]:
                self._thumbs.pop(row, None)
        if generation == self._generation:
            self.refresh()

    def refresh(self) -> None:
        """Redraw every tile (captions or contrast changed)."""
        lo, hi = self.lo.value(), self.hi.value()
        for k in range(self.list.count()):
            item = self.list.item(k)
            row = self._row(item)
            item.setIcon(QtGui.QIcon(self._tile(row, lo, hi)))
            lines = self.caption_fn(row)
            item.setToolTip("\n".join(text for text, _ in lines))

    def _tile(self, row: int, lo: float, hi: float) -> QtGui.QPixmap:
        size = self.thumb
        pix = QtGui.QPixmap(size, size + CAPTION)
        pix.fill(QtGui.QColor(20, 20, 20))
        p = QtGui.QPainter(pix)
        thumb = self._thumbs.get(row)
        if thumb is not None:
            grey = np.ascontiguousarray(log_scale(thumb, lo, hi))
            h, w = grey.shape
            qimg = QtGui.QImage(grey.data, w, h, w, QtGui.QImage.Format.Format_Grayscale8)
            scaled = qimg.scaled(size, size, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                                 QtCore.Qt.TransformationMode.SmoothTransformation)
            p.drawImage(QtCore.QPointF((size - scaled.width()) / 2,
                                       (size - scaled.height()) / 2), scaled)
        else:
            p.setPen(QtGui.QColor(120, 120, 120))
            text = "loading…" if row not in self._thumbs else "no image"
            p.drawText(QtCore.QRectF(0, 0, size, size), QtCore.Qt.AlignmentFlag.AlignCenter,
                       text)
        border = self.border_fn(row)
        if border is not None:
            p.setPen(QtGui.QPen(border, 4))
            p.drawRect(QtCore.QRectF(2, 2, size - 4, size - 4))
        if row == self.current:
            p.setPen(QtGui.QPen(QtGui.QColor(*CURRENT), 3, QtCore.Qt.PenStyle.DashLine))
            p.drawRect(QtCore.QRectF(7, 7, size - 14, size - 14))
        self._caption(p, row, size)
        p.end()
        return pix

    def _caption(self, p: QtGui.QPainter, row: int, size: int) -> None:
        font = p.font()
        font.setPixelSize(11)
        p.setFont(font)
        metrics = QtGui.QFontMetrics(font)
        for k, (text, colour) in enumerate(self.caption_fn(row)[:2]):
            text = metrics.elidedText(text, QtCore.Qt.TextElideMode.ElideRight, size - 4)
            p.setPen(colour)
            p.drawText(QtCore.QRectF(2, size + 1 + 15 * k, size - 4, 15),
                       QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter,
                       text)

    # -- selection --------------------------------------------------------------------------
    @staticmethod
    def _row(item: QtWidgets.QListWidgetItem) -> int:
        return int(item.data(QtCore.Qt.ItemDataRole.UserRole))

    def selected_rows(self) -> list[int]:
        """Rows of the selected tiles, in grid order."""
        return [self._row(self.list.item(k)) for k in range(self.list.count())
                if self.list.item(k).isSelected()]

    def select(self, rows) -> None:
        """Select the tiles of these rows (others deselected), without emitting signals."""
        wanted = set(int(r) for r in np.asarray(rows, dtype=int).reshape(-1))
        self.list.blockSignals(True)
        for k in range(self.list.count()):
            item = self.list.item(k)
            item.setSelected(self._row(item) in wanted)
        self.list.blockSignals(False)

    def tile_rect(self, row: int) -> QtCore.QRect:
        """Viewport rectangle of a row's tile (for tests)."""
        for k in range(self.list.count()):
            if self._row(self.list.item(k)) == row:
                return self.list.visualItemRect(self.list.item(k))
        raise KeyError(row)
