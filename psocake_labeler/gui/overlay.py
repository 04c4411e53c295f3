"""The current event's label, written over the host's image viewer.

Our own ``pg.TextItem`` in the viewer's view box (never Psocake's shared ``peak_text``),
pinned to the top-left corner of the visible area so that panning and zooming keep it in
sight, and removed when the dock closes.
"""
from __future__ import annotations

import html

import pyqtgraph as pg
from pyqtgraph.Qt import QtGui


class LabelOverlay:
    """Text such as "Single (yours)" or "Multiple 0.83 (predicted)" in the class colour."""

    def __init__(self, image_view):
        # ImageView(view=PlotItem()).getView() is the PlotItem; overlays go in its ViewBox
        view = image_view.getView() if hasattr(image_view, "getView") else image_view
        self.view = view.getViewBox() if hasattr(view, "getViewBox") else view
        self.item = pg.TextItem(anchor=(0, 0), fill=pg.mkBrush(0, 0, 0, 170))
        self.item.setZValue(1e6)
        self.view.addItem(self.item, ignoreBounds=True)
        self.view.sigRangeChanged.connect(self._pin)
        self.text = ""
        self.colour: str | None = None
        self._pin()

    def set(self, text: str, colour: QtGui.QColor | None = None) -> None:
        """Show ``text`` (empty hides the item)."""
        self.text = text
        self.colour = colour.name() if colour is not None else None
        if not text:
            self.item.hide()
            return
        rgb = colour.name() if colour is not None else "#ffffff"
        self.item.setHtml(f"<span style='color:{rgb}; font-size:14pt; font-weight:bold'>"
                          f"{html.escape(text)}</span>")
        self.item.show()
        self._pin()

    def _pin(self, *_) -> None:
        (x0, x1), (y0, y1) = self.view.viewRange()
        inverted = self.view.yInverted()
        self.item.setPos(x0, y0 if inverted else y1)
        # wrap to the viewer's width rather than run past its edge (a narrow dock area)
        width = self.view.sceneBoundingRect().width()
        self.item.textItem.setTextWidth(max(60.0, width - 8) if width > 0 else -1)

    def remove(self) -> None:
        """Take the text item off the viewer (idempotent)."""
        try:
            self.view.sigRangeChanged.disconnect(self._pin)
        except (TypeError, RuntimeError):
            pass
        if self.item.scene() is not None:
            self.view.removeItem(self.item)
        self.text = ""
