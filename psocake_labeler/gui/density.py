"""The events as a density image when there are too many to draw as points.

pyqtgraph's ScatterPlotItem draws every point on every paint: at 10^6 events a paint takes
seconds and most points hide each other anyway. :class:`DensityLayer` bins the events'
screen positions into an image of the visible range instead, one pixel per screen pixel
(at most ``MAX_PIXELS`` a side): each pixel's colour is the mix of its events' class
colours weighted by their opacity (confidence), and its opacity grows with the log of that
weight; each event covers 3 x 3 pixels. Per-pixel sums are kept, so a click that restyles
a few thousand events subtracts and adds only those (``update``), and a zoom re-bins
(``set_view``: one pass over the events). Labelled, selected, recommended and current
events are drawn on top as points.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

#: Largest image side (pixels); the view's pixel size below it.
MAX_PIXELS = 1024


class DensityLayer:
    """An ``ImageItem`` of the events' colours on the visible range of a view box."""

    def __init__(self) -> None:
        self.item = pg.ImageItem()
        self.item.setOpts(axisOrder="row-major")
        self.xy = np.zeros((0, 2))
        self.visible: np.ndarray | None = None
        self.colours = np.zeros((1, 4))            # RGBA (0..1) per style code
        self.codes = np.zeros(0, dtype=np.int64)
        self.shape = (1, 1)
        self.rect = (0.0, 0.0, 1.0, 1.0)           # x, y, width, height (data units)
        self.pixel = np.zeros(0, dtype=np.int64)   # flat pixel of each event, -1 off-image
        self.sums = np.zeros((4, 1))               # sum of w, w r, w g, w b per pixel

    def set_points(self, xy: np.ndarray, rebin: bool = True) -> None:
        """New positions (N, 2) (new axes); the styles are kept if the count matches.
        ``rebin=False``: binned at the next :meth:`set_view` (a new range follows)."""
        self.xy = np.asarray(xy, dtype=np.float64)
        if len(self.codes) != len(self.xy):
            self.codes = np.zeros(len(self.xy), dtype=np.int64)
        if rebin:
            self._rebin()
        else:
            self.rect = (0.0, 0.0, 0.0, 0.0)      # no range yet: set_view bins

    def set_visible(self, visible: np.ndarray | None) -> None:
        """Only events where ``visible`` is True are drawn (None: all)."""
        self.visible = None if visible is None else np.asarray(visible, dtype=bool)
        self._rebin()

    def set_styles(self, colours: np.ndarray, codes: np.ndarray) -> None:
        """Every event's style code and the RGBA (0..255) of each code; drawn again."""
        self.colours = np.asarray(colours, dtype=np.float64) / 255.0
        self.codes = np.asarray(codes, dtype=np.int64)
        self._accumulate()

    def update(self, rows: np.ndarray, codes: np.ndarray) -> None:
        """Restyle ``rows`` to ``codes``: only their pixels are touched."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return
        self._add(rows, -1.0)
        self.codes[rows] = codes
        self._add(rows, 1.0)
        self._render()

    def set_view(self, x_range, y_range, pixels) -> None:
        """Bin on this data range with about ``pixels`` = (width, height) screen pixels."""
        w = int(np.clip(pixels[0], 16, MAX_PIXELS))
        h = int(np.clip(pixels[1], 16, MAX_PIXELS))
        x0, x1 = float(x_range[0]), float(x_range[1])
        y0, y1 = float(y_range[0]), float(y_range[1])
        rect = (x0, y0, max(x1 - x0, 1e-300), max(y1 - y0, 1e-300))
        if rect == self.rect and (h, w) == self.shape:
            return
        self.rect, self.shape = rect, (h, w)
        self._rebin()

    # -- internals --------------------------------------------------------------------------
    def _rebin(self) -> None:
        h, w = self.shape
        x0, y0, dx, dy = self.rect
        if len(self.xy) == 0 or dx <= 0 or dy <= 0:
            self.pixel = np.full(len(self.xy), -1, dtype=np.intp)
        else:
            col = self.xy[:, 0] - x0
            col *= w / dx
            row = self.xy[:, 1] - y0
            row *= h / dy
            inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
            if self.visible is not None and len(self.visible) == len(inside):
                inside &= self.visible
            self.pixel = row.astype(np.intp)
            self.pixel *= w
            self.pixel += col.astype(np.intp)
            self.pixel[~inside] = -1
        self._accumulate()

    def _accumulate(self) -> None:
        h, w = self.shape
        self.sums = np.zeros((4, h * w))
        self._add(None, 1.0)
        self._render()

    def _add(self, rows: np.ndarray | None, sign: float) -> None:
        """Add (``sign`` 1) or take away (-1) the weights of ``rows`` (None: all events)."""
        if len(self.codes) != len(self.pixel) or len(self.pixel) == 0:
            return
        pix = self.pixel if rows is None else self.pixel[rows]
        codes = self.codes if rows is None else self.codes[rows]
        on = pix >= 0
        if not on.all():
            pix, codes = pix[on], codes[on]
        # Per style code: weight (its opacity) and weighted colour; one gather per channel.
        table = self.colours.copy()
        table[:, :3] *= table[:, 3:]
        table = table[:, [3, 0, 1, 2]] * sign
        codes = np.clip(codes, 0, len(table) - 1)
        size = self.sums.shape[1]
        for c in range(4):
            self.sums[c] += np.bincount(pix, weights=table[codes, c], minlength=size)

    def _render(self) -> None:
        h, w = self.shape
        # Each event covers 3 x 3 pixels (the scatter's points were 5 px wide): a box sum of
        # the weight and colour sums, so colours mix as before and lone events stay visible.
        grid = np.pad(self.sums.reshape(4, h, w), ((0, 0), (1, 1), (1, 1)))
        spread = np.zeros((4, h, w))
        for dr in range(3):
            for dc in range(3):
                spread += grid[:, dr:dr + h, dc:dc + w]
        sums = spread.reshape(4, h * w)
        total = np.maximum(sums[0], 0.0)
        filled = total > 1e-9
        rgba = np.zeros((h * w, 4), dtype=np.float64)
        safe = np.where(filled, total, 1.0)
        for c in range(3):
            rgba[:, c] = sums[c + 1] / safe
        # Opacity: one faint event is visible, a dense cluster is solid.
        top = float(total.max()) if filled.any() else 1.0
        rgba[:, 3] = np.where(filled, 0.35 + 0.65 * np.log1p(total) / np.log1p(top), 0.0)
        image = np.clip(rgba * 255.0, 0, 255).astype(np.uint8).reshape(h, w, 4)
        self.item.setImage(image, autoLevels=False, levels=(0, 255))
        x0, y0, dx, dy = self.rect
        self.item.setRect(x0, y0, dx, dy)
