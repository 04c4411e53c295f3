"""The events as a density image when there are too many to draw as points.

pyqtgraph's ScatterPlotItem draws every point on every paint: at 10^6 events a paint takes
seconds and most points hide each other anyway. :class:`DensityLayer` bins the events'
screen positions into an image of the visible range instead, one pixel per screen pixel
(at most ``MAX_PIXELS`` a side): each pixel's colour is the mix of its events' class
colours weighted by their opacity (confidence). Per-pixel sums are kept, so a click that
restyles a few thousand events subtracts and adds only those (``update``), and a zoom
re-bins (``set_view``: one pass over the events). Labelled, selected, recommended and
current events are drawn on top as points.

What makes it readable (the first version drew 10^6 events of three tight clusters as three
faint specks a few pixels wide, in /tmp/bench_scale14/w1m/dock_1000000.png):

* every event covers 3 x 3 pixels, and a pixel holding many events grows into a halo over
  the empty pixels around it, two pixels more per decade of weight (``MAX_HALO`` decades):
  a dense spot shows as a blob whose size says how many events it holds, while crowded
  regions keep their sharp borders (a halo never covers a pixel that has events);
* opacity is the pixel's rank among the drawn pixels (histogram equalisation, ties sharing
  the highest rank) from ``MIN_ALPHA`` to 1, so that a lone event is as visible as a mid
  density and the densest cores are solid, however skewed the counts are.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from scipy.ndimage import uniform_filter

#: Largest image side (pixels); the view's pixel size below it.
MAX_PIXELS = 1024
#: Decades of weight that grow a halo: a pixel of weight >= 10^k covers the empty pixels
#: within 1 + 2 k of it, for k up to this.
MAX_HALO = 5
#: Opacity of the sparsest drawn pixel; the densest is opaque.
MIN_ALPHA = 0.5


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
        grid = self.sums.reshape(4, h, w)
        sums = box_sum(grid, 1)                  # each event covers 3 x 3 pixels
        empty = sums[0] <= 1e-9
        # Halos: a pixel of weight >= 10^k also covers the empty pixels within 1 + 2 k.
        decade = np.log10(np.maximum(grid[0], 1e-300))
        for k in range(1, MAX_HALO + 1):
            dense = decade >= k
            if not dense.any() or not empty.any():
                break
            rows, cols = np.flatnonzero(dense.any(axis=1)), np.flatnonzero(dense.any(axis=0))
            r = 1 + 2 * k    # only the box around the dense pixels: they are few
            r0, r1 = max(rows[0] - r, 0), min(rows[-1] + r + 1, h)
            c0, c1 = max(cols[0] - r, 0), min(cols[-1] + r + 1, w)
            part = np.where(dense[r0:r1, c0:c1], grid[:, r0:r1, c0:c1], 0.0)
            halo = box_sum(part, r)
            take = empty[r0:r1, c0:c1] & (halo[0] > 1e-9)
            sums[:, r0:r1, c0:c1][:, take] = halo[:, take]
            empty[r0:r1, c0:c1] &= ~take
        sums = sums.reshape(4, h * w)
        total = np.maximum(sums[0], 0.0)
        filled = total > 1e-9
        rgba = np.zeros((h * w, 4), dtype=np.float32)
        safe = np.where(filled, total, 1.0)
        for c in range(3):
            rgba[:, c] = sums[c + 1] / safe
        rgba[:, 3] = np.where(filled, opacity(total, filled), 0.0)
        rgba *= 255.0
        image = np.clip(rgba, 0, 255).astype(np.uint8).reshape(h, w, 4)
        self.item.setImage(image, autoLevels=False, levels=(0, 255))
        x0, y0, dx, dy = self.rect
        self.item.setRect(x0, y0, dx, dy)


def box_sum(grid: np.ndarray, radius: int) -> np.ndarray:
    """(C, H, W) sums of ``grid`` over the (2 radius + 1)^2 square around each pixel
    (zeros beyond the edge): scipy's separable running mean, times the square's area."""
    k = 2 * radius + 1
    out = uniform_filter(grid, size=(1, k, k), mode="constant")
    out *= k * k
    return out


#: Levels of the opacity's rank table (log weight).
RANK_LEVELS = 1024


def opacity(total: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Each drawn pixel's opacity: the share of drawn pixels at most as heavy (histogram
    equalisation of the log weight on ``RANK_LEVELS`` levels: ties, and near ties, share
    the highest rank), mapped onto ``MIN_ALPHA`` .. 1."""
    if not filled.any():
        return np.zeros_like(total)
    level = np.log1p(np.where(filled, total, 0.0))
    top = float(level.max())
    index = np.minimum((level * (RANK_LEVELS / max(top, 1e-12))).astype(np.intp),
                       RANK_LEVELS - 1)
    cdf = np.cumsum(np.bincount(index[filled], minlength=RANK_LEVELS))
    return MIN_ALPHA + (1.0 - MIN_ALPHA) * cdf[index] / cdf[-1]
