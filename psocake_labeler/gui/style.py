"""Colours and brushes shared by the manifold view, the event grid, the controls and the overlay.

Brushes are built once per (class, opacity level) and reused: pyqtgraph's symbol atlas keys
on the brush object, so a small palette keeps 10^5 points to a handful of cached symbols.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtGui

from ..labelling.classes import default_colours
from ..labelling.columns import blocks

UNLABELLED = (150, 150, 150)
SELECTED = (0, 230, 255)
RECOMMENDED = (255, 230, 0)
CURRENT = (255, 0, 255)
ALPHA_LEVELS = 8


def class_colours(classes: list[str]) -> list[tuple[int, int, int]]:
    """RGB colour of each class, as a new session would give them (any number of classes)."""
    return [_rgb(c) for c in default_colours(classes)]


def hex_colour(rgb: tuple[int, int, int]) -> str:
    """'#rrggbb' for Qt style sheets and HTML."""
    return "#{:02x}{:02x}{:02x}".format(*tuple(rgb))


def _rgb(colour) -> tuple[int, int, int]:
    if isinstance(colour, str):
        c = QtGui.QColor(colour)
        return (c.red(), c.green(), c.blue())
    return tuple(int(v) for v in colour[:3])


class Palette:
    """Brushes by (class, opacity level); row 0 is unlabelled grey."""

    def __init__(self, classes: list[str], colours: list | None = None):
        self.classes = list(classes)
        self.colours = class_colours(self.classes)
        if colours is not None and len(colours) == len(self.classes):
            # the session's own colours (``#rrggbb``) win over our defaults
            self.colours = [_rgb(c) for c in colours]
        alphas = np.linspace(45, 255, ALPHA_LEVELS).astype(int)
        rows = [UNLABELLED] + self.colours
        self.brushes = np.empty((len(rows), ALPHA_LEVELS), dtype=object)
        for i, rgb in enumerate(rows):
            for j, a in enumerate(alphas):
                self.brushes[i, j] = pg.mkBrush(*rgb, int(a if i else 110))
        #: RGBA (0..255) of each flat brush index, for the density image (density.py).
        self.rgba = np.array([[*rgb, a if i else 110] for i, rgb in enumerate(rows)
                              for a in alphas], dtype=np.float64)
        self.solid = np.empty(len(rows), dtype=object)
        for i, rgb in enumerate(rows):
            self.solid[i] = pg.mkBrush(*rgb, 255)

    def codes_for(self, classes: np.ndarray, confidence: np.ndarray | None) -> np.ndarray:
        """Flat index into ``brushes`` of each point (cheap to compare between redraws)."""
        classes = np.asarray(classes)
        codes = np.empty(classes.shape, dtype=np.int64)
        flat, out = classes.reshape(-1), codes.reshape(-1)
        conf = None if confidence is None else np.asarray(confidence).reshape(-1)
        # block by block (columns.blocks: 10^6 events a redraw per click, each block's seven
        # steps in cache, 2-3x faster than seven passes over memory); fmax/fmin send NaN to 0
        for s in blocks(len(out)):
            c = out[s]
            np.add(flat[s], 1, out=c, casting="unsafe")
            np.clip(c, 0, len(self.colours), out=c)
            c *= ALPHA_LEVELS
            if conf is None:
                c += ALPHA_LEVELS - 1
                continue
            level = np.multiply(conf[s], ALPHA_LEVELS - 1, dtype=np.float64)
            np.fmax(level, 0.0, out=level)
            np.fmin(level, ALPHA_LEVELS - 1, out=level)
            np.rint(level, out=level)
            np.add(c, level, out=c, casting="unsafe")
        return codes

    def qcolor(self, index: int) -> QtGui.QColor:
        """QColor of class ``index`` (-1 = unlabelled grey)."""
        rgb = UNLABELLED if index < 0 or index >= len(self.colours) else self.colours[index]
        return QtGui.QColor(*rgb)
