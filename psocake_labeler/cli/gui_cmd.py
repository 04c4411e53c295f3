"""``psocake-labeler gui manifold.h5 [--labels labels.h5] [--screenshot PNG]``: the stand-alone
window on exported files."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``gui`` sub-command."""
    p = subparsers.add_parser(
        "gui", help="open the stand-alone labelling window on a manifold",
        description="Open the Label Manifold dock next to an image viewer of its own. Labels "
                    "are continued from LABELS when it exists (default: "
                    "<manifold stem>.<user>.labels.h5 next to the manifold), created otherwise, "
                    "and "
                    "saved after every change.")
    p.add_argument("manifold", help="manifold file (psocake-labeler embed output)")
    p.add_argument("--labels", default=None, help="label file to continue or create")
    p.add_argument("--screenshot", default=None, metavar="PNG",
                   help="draw offscreen, save the window to PNG and exit (without a display "
                        "this happens anyway, to ./psocake-labeler-gui.png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load (errors are one line, exit 2), then show the window or save a screenshot."""
    from ..embedding import Manifold
    from ..labelling.session import LabelSession

    path = Path(args.manifold)
    # loaded before any window exists, so that a bad file is a clean one-line error
    m = Manifold.load(path)
    if args.screenshot:
        import os

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ..gui.preflight import check_display, headless

    check_display()    # before Qt starts: a Qt that cannot open its display aborts
    from ..gui.hosts.standalone import StandaloneWindow
    from ..gui.qtapp import app, dispose

    qapp = app()
    window = StandaloneWindow()
    labels = Path(args.labels) if args.labels else window.dock.default_labels_path(path)
    session = LabelSession.load(labels, m) if labels.exists() else LabelSession(m, path=labels)
    window.host.files.search_dirs.append(path.parent)
    window.dock.set_session(session)
    if len(m.coords):
        window.dock.show_row(0)
    window.show()
    if args.screenshot or headless():
        out = window.screenshot(args.screenshot or "psocake-labeler-gui.png")
        print(f"screenshot written to {out}")
        dispose(window)
        return 0
    return int(qapp.exec_() or 0)
