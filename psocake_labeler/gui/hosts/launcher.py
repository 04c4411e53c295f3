"""``psocake-label``: start Psocake with the Label Manifold dock installed.

Usage is Psocake's own, e.g. ``psocake-label exp=amo06516:run=93 -d DscCsPad -m spi``.
Psocake is not on PyPI (it needs LCLS's psana1), so it is imported only here, and every
import failure of its environment is one line saying what is missing and what to do.

Psocake has no plugin hook: its ``gui.main()`` builds ``MainFrame(args)`` and runs the Qt
loop. We wrap the original ``MainFrame.__init__`` (not a subclass: Psocake's own
``super(MainFrame, self).__init__()`` must still find its class) so that the dock is
installed as soon as the frame is built, then call Psocake's ``main()``.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import io
import os
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Sequence

PROG = "psocake-label"
MISSING = (f"{PROG}: Psocake is not installed in this Python (it needs LCLS psana1); "
           "run it on an LCLS machine, or use `psocake-labeler gui manifold.h5` here")
# Top-level modules of LCLS's psana1 environment that Psocake imports (PSOCAKE.md).
LCLS_MODULES = ("psana", "PSCalib", "Detector", "pyimgalgos", "psalgos", "LogBook",
                "ImgAlgos", "xtcav", "psmon", "psgeom")
HELP = f"""usage: {PROG} [Psocake's arguments]

Start Psocake (lcls-psana/psocake) with the Label Manifold dock as a tab in its window.
Every argument is Psocake's own, for example:
  {PROG} exp=amo06516:run=93 -d DscCsPad -m spi
The dock opens the newest manifold in Psocake's run folder (<outDir>/<exp>/<user>/psocake/r%04d)
and keeps your labels there, one file per user; when the run changes it follows.
Number keys label the event Psocake shows, wherever the focus is in Psocake's window
(except in a text or number field).
Psocake must be importable (PYTHONPATH or installed) together with LCLS's psana1.
"""


def import_problem(exc: ImportError) -> str:
    """One line for an ImportError raised while importing Psocake: what is missing, what to do."""
    name = exc.name or ""
    top = name.split(".")[0]
    if top == "psocake":
        return MISSING
    if top in LCLS_MODULES:
        return (f"{PROG}: Psocake needs LCLS's psana1 environment, but its module '{name}' is "
                "missing: activate LCLS's psana1 conda environment (LCLS machines), or use "
                "`psocake-labeler gui manifold.h5` here")
    if top and psocake_module(top):
        return (f"{PROG}: Psocake imports its own module '{top}' as a top-level module "
                "(Python 2 style; its -m label mode does), which fails under Python 3: use "
                "-m spi, sfx, lite or all")
    if name:
        return (f"{PROG}: Psocake needs the Python package '{top}', which is not installed: "
                f"`pip install 'psocake-labeler[psocake]'` (or `pip install {top}`)")
    return f"{PROG}: Psocake could not be imported ({exc}); check Psocake's installation"


def psocake_module(name: str) -> bool:
    """True when ``name`` is a module file of the importable Psocake package."""
    try:
        spec = importlib.util.find_spec("psocake")
    except (ImportError, ValueError):
        return False
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    return any((Path(d) / f"{name}.py").exists() for d in folders)


def load_psocake_gui():
    """Import ``psocake.gui`` (which parses ``sys.argv`` at import time).

    Raises
    ------
    ImportError
        Whatever Psocake's import raised; :func:`import_problem` says it in one line.
    """
    os.environ.setdefault("USER", _user())   # Psocake reads $USER for its output folder
    return importlib.import_module("psocake.gui")


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "user"


def install_on_build(gui_module) -> None:
    """Wrap ``gui_module.MainFrame.__init__`` so that each built frame gets the dock.

    The class itself is unchanged (Psocake's ``super(MainFrame, self)`` keeps working);
    wrapping twice has no further effect.
    """
    from .psocake import install

    cls = gui_module.MainFrame
    original = cls.__init__
    if getattr(original, "_label_manifold", False):
        return

    @functools.wraps(original)
    def init_with_dock(self, *args, **kwargs):
        original(self, *args, **kwargs)
        install(self)

    init_with_dock._label_manifold = True
    cls.__init__ = init_with_dock


def psocake_help() -> str:
    """Psocake's own ``--help`` text, or a line saying why it cannot be shown."""
    saved = sys.argv
    sys.argv = ["psocake", "--help"]
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            load_psocake_gui()
    except SystemExit:
        return out.getvalue()
    except ImportError as exc:
        return import_problem(exc) + "\n"
    finally:
        sys.argv = saved
    return ""


def detector_refused(exc: Exception) -> str | None:
    """One line for Psocake refusing the detector name at start-up, else None."""
    utils = sys.modules.get("psocake.cheetahUtils")
    refused = getattr(utils, "DetectorNotSupportedError", None)
    if refused is None or not isinstance(exc, refused):
        return None
    supported = ", ".join(sorted(getattr(utils.SupportedDetectors, "supported", ())))
    return (f"{PROG}: Psocake refused the detector ({exc}); it starts only with {supported} "
            "detector names (-d), so for a pnCCD run add pnCCD support to Psocake's "
            "cheetahUtils (SupportedDetectors and a detector class), or label the run's hit "
            "files with `psocake-labeler gui`")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: Psocake's arguments, Psocake's window, plus our dock."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "-h" in args or "--help" in args:
        print(HELP + "\nPsocake's options:\n" + psocake_help(), end="")
        return 0
    sys.argv = [sys.argv[0], *args]
    try:
        gui = load_psocake_gui()
    except ImportError as exc:
        print(import_problem(exc), file=sys.stderr)
        return 2
    from ...errors import DisplayError
    from ..preflight import check_display

    try:
        check_display()    # Psocake's QApplication would abort the process (rc 134)
    except DisplayError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    install_on_build(gui)
    try:
        result = gui.main()
    except ImportError as exc:
        print(import_problem(exc), file=sys.stderr)
        return 2
    except Exception as exc:
        line = detector_refused(exc)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
