"""``psocake-label``: start Psocake with the Label Manifold dock installed.

Usage is Psocake's own, e.g. ``psocake-label exp=amo06516:run=93 -d pnccdFront -m spi``.
Psocake is not on PyPI (it needs LCLS's psana1), so it is imported only here, and a clear
one-line message says what to do when it is missing.

Psocake has no plugin hook: its ``gui.main()`` builds ``MainFrame(args)`` and runs the Qt
loop. We replace ``psocake.gui.MainFrame`` with a subclass that calls :func:`install` at the
end of its constructor, then call Psocake's own ``main()``.

pnCCD limitation: Psocake's master branch accepts only cspad, rayonix, jungfrau4m and
epix10k2m at start-up (``cheetahUtils.SupportedDetectors``, with a ``TODO: add pnccd for
SPI``). For SPI with a pnCCD, add the pnCCD to that list in your Psocake checkout; nothing
in this launcher can do it for you without patching Psocake.
"""
from __future__ import annotations

import importlib
import sys
from typing import Sequence

MISSING = ("psocake-label: Psocake is not installed in this Python (it needs LCLS psana1); "
           "run it on an LCLS machine, or use `psocake-labeler gui manifold.h5` here")


def load_psocake_gui():
    """Import ``psocake.gui`` (which parses ``sys.argv`` at import time); None if missing."""
    try:
        return importlib.import_module("psocake.gui")
    except ImportError as exc:
        if exc.name is not None and (exc.name == "psocake" or exc.name.startswith("psocake.")
                                     or exc.name.startswith("psana")):
            return None
        raise


def patch_main_frame(gui_module) -> type:
    """Make ``gui_module.MainFrame`` install the dock after building itself; returns it."""
    from .psocake import install

    base = gui_module.MainFrame

    class MainFrameWithLabels(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            install(self)

    gui_module.MainFrame = MainFrameWithLabels
    return MainFrameWithLabels


HELP = ("usage: psocake-label PSOCAKE-ARGUMENTS...   e.g. psocake-label exp=amo06516:run=93 "
        "-d pnccdFront -m spi\n\nStart Psocake with the Label Manifold dock installed; every "
        "argument is Psocake's own (its options follow when Psocake is installed).")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: Psocake's arguments, Psocake's window, plus our dock."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    wants_help = any(a in ("-h", "--help") for a in sys.argv[1:])
    if wants_help:
        print(HELP)
    gui = load_psocake_gui()
    if gui is None:
        if wants_help:
            print(f"\n{MISSING}")
            return 0
        print(MISSING, file=sys.stderr)
        return 2
    if not wants_help:
        from ...errors import DisplayError
        from ..preflight import check_display

        try:
            check_display()    # Psocake's QApplication would abort the process (rc 134)
        except DisplayError as exc:
            print(f"psocake-label: error: {exc}", file=sys.stderr)
            return 2
    patch_main_frame(gui)
    result = gui.main()
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
