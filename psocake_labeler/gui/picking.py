"""Which points a click, a rectangle or a lasso hits, in numpy (fast at 10^5 points).

Shared by the 2-D and the 3-D view; positions are whatever plane the caller projects to
(data coordinates scaled to pixels, or screen pixels).
"""
from __future__ import annotations

import numpy as np


def nearest(xy: np.ndarray, point, radius: float, visible: np.ndarray | None = None,
            scale=(1.0, 1.0)) -> int | None:
    """Index of the point nearest to ``point`` within ``radius`` (after dividing the axes by
    ``scale``, e.g. data units per pixel), among ``visible`` ones; None when none is."""
    if len(xy) == 0:
        return None
    d2 = ((xy[:, 0] - point[0]) / scale[0]) ** 2 + ((xy[:, 1] - point[1]) / scale[1]) ** 2
    if visible is not None:
        d2 = np.where(visible, d2, np.inf)
    i = int(np.argmin(d2))
    return i if d2[i] <= radius ** 2 else None


def in_rect(xy: np.ndarray, x0: float, y0: float, x1: float, y1: float,
            visible: np.ndarray | None = None) -> np.ndarray:
    """Indices of the points inside the rectangle (corners in any order)."""
    (x0, x1), (y0, y1) = sorted((x0, x1)), sorted((y0, y1))
    inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    if visible is not None:
        inside &= visible
    return np.flatnonzero(inside)


def in_polygon(xy: np.ndarray, polygon: np.ndarray,
               visible: np.ndarray | None = None) -> np.ndarray:
    """Indices of the points inside a closed polygon (even-odd rule, ray casting).

    Only points in the polygon's bounding box are tested, edge by edge: O(points x edges)
    for those, a few ms for a hand-drawn lasso over 10^5 points.
    """
    poly = np.asarray(polygon, dtype=float).reshape(-1, 2)
    if len(poly) < 3 or len(xy) == 0:
        return np.zeros(0, dtype=int)
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    cand = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0])
                          & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
    if visible is not None:
        cand = cand[visible[cand]]
    x, y = xy[cand, 0], xy[cand, 1]
    inside = np.zeros(len(cand), dtype=bool)
    for (xa, ya), (xb, yb) in zip(poly, np.roll(poly, -1, axis=0)):
        if ya == yb:
            continue
        crosses = (ya > y) != (yb > y)
        x_cross = xa + (y - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (x < x_cross)
    return cand[inside]
