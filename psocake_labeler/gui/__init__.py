"""The "Label Manifold" dock and its hosts (Psocake, the stand-alone window), and the demo.

Names are imported on first use, so that ``psocake-label`` can say "Psocake is missing"
without first loading Qt::

    from psocake_labeler.gui import LabelManifoldDock, StandaloneWindow, install
"""
from __future__ import annotations

import importlib

_NAMES = {
    "LabelManifoldDock": "dock",
    "Host": "hosts.base",
    "PsocakeHost": "hosts.psocake",
    "install": "hosts.psocake",
    "StandaloneWindow": "hosts.standalone",
    "run_demo": "demo",
}

__all__ = list(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
