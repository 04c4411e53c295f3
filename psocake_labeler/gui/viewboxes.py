"""pyqtgraph's registry of view boxes, made safe for windows that are deleted.

pyqtgraph keeps every ``ViewBox`` (and every named one) in class-level registries until its
Python wrapper is collected; a window deleted while a new one is built can then crash the
process. Every host with an ``ImageView`` uses these two functions.
"""
from __future__ import annotations

import pyqtgraph as pg


def purge_dead_views() -> None:
    """Remove deleted view boxes from pyqtgraph's registry of views.

    The registry keeps a view until its Python wrapper is collected; any new named view
    then calls every registered view, and a deleted one raises or crashes.
    """
    from pyqtgraph.Qt import isQObjectAlive

    for v in list(pg.ViewBox.AllViews.keys()):
        if not isQObjectAlive(v):
            pg.ViewBox.AllViews.pop(v, None)
    for name, v in list(pg.ViewBox.NamedViews.items()):
        if not isQObjectAlive(v):
            pg.ViewBox.NamedViews.pop(name, None)


def forget_on_destroy(image_view) -> None:
    """Make an ImageView's named view boxes safe to delete.

    ImageView registers its views under a fixed name, and pyqtgraph's ``destroyed`` callback
    then updates every other view while windows are being deleted, which can crash the
    process (Python code run from ``destroyed`` during garbage collection). We drop that
    callback; dead entries are purged whenever a new window is built.
    """
    purge_dead_views()
    boxes = [image_view.getView().getViewBox(), image_view.ui.roiPlot.getPlotItem().getViewBox()]
    for vb in boxes:
        try:
            vb.destroyed.disconnect()
        except (TypeError, RuntimeError):
            pass
