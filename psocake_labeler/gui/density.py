"""The events as a density image when there are too many to draw as points.

pyqtgraph's ScatterPlotItem draws every point on every paint: at 10^6 events a paint takes
seconds and most points hide each other anyway. :class:`DensityLayer` bins the events'
screen positions into an image of the visible range instead, one pixel per screen pixel
(at most ``MAX_PIXELS`` a side): each pixel's colour is the mix of its events' class
colours weighted by their opacity (confidence).

What makes it readable (the first version drew 10^6 events of three tight clusters as three
faint specks a few pixels wide, in /tmp/bench_scale14/w1m/dock_1000000.png):

* every event covers 3 x 3 pixels, and a pixel holding 10^k or more events grows into a
  halo over the empty pixels within 1 + 2 k of it (``MAX_HALO`` decades): a dense spot
  shows as a blob whose size says how many events it holds, while crowded regions keep
  their sharp borders (a halo never covers a pixel that has events);
* opacity is the rank of the pixel's event count among the drawn pixels (histogram
  equalisation, ties sharing the highest rank), from ``MIN_ALPHA`` to 1, so that a lone
  event is as visible as a mid density and the densest cores are solid, however skewed the
  counts are; times the mean opacity of its events' styles (from ``CONF_FLOOR``), so that
  unlabelled and unsure events stay fainter.

What changes when: halos, counts and ranks depend on where the events are, so they are
worked out when the events are binned (a new range, axes or filter: ``set_view``, one pass
over the events), never on a click. A click restyles a few rows (``update``): their weights
move between the per-pixel sums and only the pixels those rows' 3 x 3 squares and halos
cover are coloured again. The sums are integers (0..255 weights and weighted colours), so
the kept sums and the patched pixels are exactly those of a full render.
Binning is deferred to the event loop (one pass for the several calls that open or re-axe
a view) unless the styles are set, which renders at once.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

#: Largest image side (pixels); the view's pixel size below it.
MAX_PIXELS = 1024
#: Decades of event count that grow a halo: a pixel of >= 10^k events covers the empty
#: pixels within 1 + 2 k of it, for k up to this.
MAX_HALO = 5
#: Opacity of the sparsest drawn pixel; the densest is opaque.
MIN_ALPHA = 0.5
#: Share of the opacity kept by a pixel whose events all have the faintest style.
CONF_FLOOR = 0.5
#: Levels of the opacity's rank table (log count).
RANK_LEVELS = 1024
#: A view resized by less than this share keeps its image (stretched), not binned again.
RESIZE_SLACK = 0.1
#: Above this share of the image's pixels touched, an update colours the whole image.
PATCH_SHARE = 0.25

_BIN, _STYLE = 2, 1    # pending work, most first


class DensityLayer:
    """An ``ImageItem`` of the events' colours on the visible range of a view box."""

    def __init__(self) -> None:
        self.item = pg.ImageItem()
        self.item.setOpts(axisOrder="row-major")
        self.xy = np.zeros((0, 2))
        self.visible: np.ndarray | None = None
        self.table = np.zeros((1, 4), dtype=np.int64)  # weight, w r, w g, w b per style code
        self.codes = np.zeros(0, dtype=np.int64)
        self.shape = (1, 1)
        self.rect = (0.0, 0.0, 1.0, 1.0)           # x, y, width, height (data units)
        self.pixel = np.zeros(0, dtype=np.intp)    # flat pixel of each event, -1 off-image
        self.sums = np.zeros((4, 1), dtype=np.int64)   # sum of w, w r, w g, w b per pixel
        self.counts = np.zeros(1, dtype=np.int64)  # events per pixel
        self.layer = np.full(1, -1, dtype=np.int8)  # -1 empty, 0 own square, k halo k
        self.shown = np.zeros((4, 1), dtype=np.int64)  # the sums each pixel is drawn from
        self.shown_n = np.zeros(1, dtype=np.int64)     # ... and their event count
        self.base = np.zeros(1)                    # opacity by the rank of shown_n
        self.image = np.zeros((1, 1, 4), dtype=np.uint8)
        self.pending = _BIN
        self.renders = 0                           # full renders so far (tests, benchmarks)
        self._timer = QtCore.QTimer()
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.render)

    def set_points(self, xy: np.ndarray) -> None:
        """New positions (N, 2) (new axes); the styles are kept if the count matches.
        Binned in the event loop, or at once by :meth:`render`."""
        self.xy = np.asarray(xy, dtype=np.float64)
        if len(self.codes) != len(self.xy):
            self.codes = np.zeros(len(self.xy), dtype=np.int64)
        self._later(_BIN)

    def set_visible(self, visible: np.ndarray | None) -> None:
        """Only events where ``visible`` is True are drawn (None: all)."""
        self.visible = None if visible is None else np.asarray(visible, dtype=bool)
        self._later(_BIN)

    def set_styles(self, colours: np.ndarray, codes: np.ndarray) -> None:
        """Every event's style code and the RGBA (0..255) of each code; drawn at once."""
        rgba = np.rint(np.clip(np.asarray(colours, dtype=np.float64), 0, 255)).astype(np.int64)
        self.table = np.column_stack([rgba[:, 3], rgba[:, :3] * rgba[:, 3:]])
        self.codes = np.asarray(codes, dtype=np.int64).copy()
        self.pending = max(self.pending, _STYLE)
        self.render()

    def update(self, rows: np.ndarray, codes: np.ndarray) -> None:
        """Restyle ``rows`` (distinct: each row's old weight is taken out once) to ``codes``:
        only the pixels they cover are coloured again."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return
        old = self.codes[rows]
        self.codes[rows] = codes
        if self.pending or len(self.pixel) != len(self.codes):
            self.render()
            return
        pix = self.pixel[rows]
        on = pix >= 0
        touched, inverse = np.unique(pix[on], return_inverse=True)
        if len(touched) * 9 > PATCH_SHARE * self.layer.size:
            self.pending = _STYLE     # most pixels: a full pass (its own sums) is cheaper
            self.render()
            return
        delta = self._weights(np.asarray(codes)[on]) - self._weights(old[on])
        change = np.stack([np.bincount(inverse, weights=d, minlength=len(touched))
                           for d in delta]).astype(np.int64)
        moved = change.any(axis=0)
        touched, change = touched[moved], change[:, moved]
        if len(touched) == 0:
            return
        self.sums[:, touched] += change
        pixels = self._spread(touched, change)
        self._colour(pixels)
        self.item.setImage(self.image, autoLevels=False, levels=(0, 255))   # same rect

    def set_view(self, x_range, y_range, pixels) -> None:
        """Bin on this data range with about ``pixels`` = (width, height) screen pixels."""
        w = int(np.clip(pixels[0], 16, MAX_PIXELS))
        h = int(np.clip(pixels[1], 16, MAX_PIXELS))
        x0, x1 = float(x_range[0]), float(x_range[1])
        y0, y1 = float(y_range[0]), float(y_range[1])
        rect = (x0, y0, max(x1 - x0, 1e-300), max(y1 - y0, 1e-300))
        if rect == self.rect and np.allclose((h, w), self.shape, rtol=RESIZE_SLACK, atol=0):
            return   # the axes' labels settling moved the edge a few pixels: stretch it
        self.rect, self.shape = rect, (h, w)
        self._later(_BIN)

    def render(self) -> None:
        """Do the pending binning and colouring now (the event loop does it otherwise)."""
        self._timer.stop()
        if not self.pending:
            return
        if self.pending >= _BIN:
            self._bin()
        self.sums = self._sum_all()
        self.shown = self._layered(self.sums.reshape(4, *self.shape))
        self.pending = 0
        self.renders += 1
        h, w = self.shape
        self.image = np.zeros((h, w, 4), dtype=np.uint8)
        self._colour(slice(None))
        self.item.setImage(self.image, autoLevels=False, levels=(0, 255))
        x0, y0, dx, dy = self.rect
        self.item.setRect(x0, y0, dx, dy)

    # -- internals --------------------------------------------------------------------------
    def _later(self, level: int) -> None:
        self.pending = max(self.pending, level)
        self._timer.start(0)

    def _weights(self, codes: np.ndarray) -> np.ndarray:
        """(4, n) weight and weighted colour of each code (codes out of range clipped)."""
        return self.table[np.clip(codes, 0, len(self.table) - 1)].T

    def _bin(self) -> None:
        """Each event's pixel, the counts, and what only they decide: halos and ranks."""
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
        on = self.pixel[self.pixel >= 0]
        self.counts = np.bincount(on, minlength=h * w).astype(np.int64)
        counts = self.counts.reshape(h, w)
        # Which sums each pixel shows: its own 3 x 3 square, else the smallest halo over it.
        layer = np.where(box_sum(counts[None], 1)[0] > 0, 0, -1).astype(np.int8)
        for k in range(1, MAX_HALO + 1):
            dense = counts >= 10 ** k
            if not dense.any():
                break
            box = around(dense, 1 + 2 * k)
            near = box_sum(dense[box][None].astype(np.int64), 1 + 2 * k)[0] > 0
            layer[box][near & (layer[box] < 0)] = k
        self.layer = layer.reshape(-1)
        # ... and the event count it is drawn from: the counts summed as the colours are
        self.shown_n = self._layered(counts[None])[0]
        self.base = opacity(self.shown_n, self.layer >= 0)

    def _sum_all(self) -> np.ndarray:
        h, w = self.shape
        sums = np.zeros((4, h * w), dtype=np.int64)
        on = self.pixel >= 0
        if len(self.codes) == len(self.pixel) and on.any():
            weights = self._weights(self.codes[on])
            for c in range(4):
                sums[c] = np.bincount(self.pixel[on], weights=weights[c], minlength=h * w)
        return sums

    def _layered(self, grid: np.ndarray) -> np.ndarray:
        """(C, H W): each pixel's sums of ``grid`` (C, H, W) over the square its ``layer``
        says (a halo's sums only over the pixels of >= 10^k events)."""
        h, w = self.shape
        out = box_sum(grid, 1)
        layer = self.layer.reshape(h, w)
        out[:, layer != 0] = 0
        for k in range(1, MAX_HALO + 1):
            take = layer == k
            if not take.any():
                continue
            box = (slice(None),) + around(take, 1 + 2 * k)
            dense = self.counts.reshape(h, w)[box[1:]] >= 10 ** k
            halo = box_sum(np.where(dense, grid[box], 0), 1 + 2 * k)
            out[box][:, take[box[1:]]] = halo[:, take[box[1:]]]
        return out.reshape(len(grid), -1)

    def _spread(self, touched: np.ndarray, change: np.ndarray) -> np.ndarray:
        """Add the sums' ``change`` at ``touched`` pixels to every pixel drawn from them;
        returns those pixels."""
        h, w = self.shape
        ty, tx = np.divmod(touched, w)
        targets, adds = [], []
        for k in range(MAX_HALO + 1):
            src = slice(None) if k == 0 else self.counts[touched] >= 10 ** k
            if k and not src.any():
                break
            r = 1 + 2 * k
            dy, dx = (a.ravel() for a in np.mgrid[-r:r + 1, -r:r + 1])
            y, x = ty[src, None] + dy, tx[src, None] + dx
            ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
            p = np.where(ok, y * w + x, 0)
            ok &= self.layer[p] == k
            targets.append(p[ok])
            adds.append(np.broadcast_to(change[:, src, None], (4, *ok.shape))[:, ok])
        target, inverse = np.unique(np.concatenate(targets), return_inverse=True)
        add = np.concatenate(adds, axis=1)
        for c in range(4):
            self.shown[c, target] += np.bincount(inverse, weights=add[c],
                                                 minlength=len(target)).astype(np.int64)
        return target

    def _colour(self, pixels: np.ndarray | slice) -> None:
        """The RGBA of these flat pixels (or all: a slice) from their shown sums, with the
        same arithmetic for a full render and a patch, pixel by pixel."""
        shown, n = self.shown[:, pixels], self.shown_n[pixels]
        filled = (self.layer[pixels] >= 0) & (shown[0] > 0)
        weight = np.where(filled, shown[0], 1).astype(np.float64)
        rgba = np.empty((4, len(weight)))
        np.divide(shown[1:], weight, out=rgba[:3])
        mean = weight / (255.0 * np.maximum(n, 1))     # the events' mean style opacity
        np.minimum(mean, 1.0, out=mean)
        mean *= 1.0 - CONF_FLOOR
        mean += CONF_FLOOR
        mean *= self.base[pixels]
        mean *= 255.0
        rgba[3] = np.where(filled, mean, 0.0)
        np.clip(rgba, 0, 255, out=rgba)
        self.image.reshape(-1, 4)[pixels] = rgba.T.astype(np.uint8)


def box_sum(grid: np.ndarray, radius: int) -> np.ndarray:
    """(C, H, W) integer sums of ``grid`` over the (2 radius + 1)^2 square around each pixel
    (zeros beyond the edge), from its integral image: exact, so a patch equals a full pass."""
    c, h, w = grid.shape
    k = 2 * radius + 1
    total = np.zeros((c, h + k, w + k), dtype=np.int64)
    total[:, radius + 1:radius + 1 + h, radius + 1:radius + 1 + w] = grid
    np.cumsum(total, axis=1, out=total)
    np.cumsum(total, axis=2, out=total)
    out = total[:, k:, k:] - total[:, :h, k:]
    out -= total[:, k:, :w]
    out += total[:, :h, :w]
    return out


def around(mask: np.ndarray, radius: int) -> tuple[slice, slice]:
    """The (row, column) slices of the box around ``mask``'s True pixels, ``radius`` wider
    (cut at the edges): the halo work is done there only, as dense pixels are few."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (slice(max(rows[0] - radius, 0), min(rows[-1] + radius + 1, h)),
            slice(max(cols[0] - radius, 0), min(cols[-1] + radius + 1, w)))


def opacity(total: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Each drawn pixel's opacity: the share of drawn pixels at most as heavy (histogram
    equalisation of the log weight on ``RANK_LEVELS`` levels: ties, and near ties, share
    the highest rank), mapped onto ``MIN_ALPHA`` .. 1."""
    if not filled.any():
        return np.zeros(total.shape)
    level = np.log1p(np.where(filled, total, 0).astype(np.float64))
    top = float(level.max())
    index = np.minimum((level * (RANK_LEVELS / max(top, 1e-12))).astype(np.intp),
                       RANK_LEVELS - 1)
    cdf = np.cumsum(np.bincount(index[filled], minlength=RANK_LEVELS))
    return MIN_ALPHA + (1.0 - MIN_ALPHA) * cdf[index] / cdf[-1]
