"""``psocake-labeler demo [--hits 2000] [--screenshot PNG]``: simulate, embed, label."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``demo`` sub-command."""
    p = subparsers.add_parser(
        "demo", help="simulate a PR772-like run, embed it and open the labelling window",
        description="Simulate a run of PR772-like hits (cached), compute its diffusion map "
                    "(with MPI when available) and open the stand-alone window with the 10 "
                    "recommended events in the grid. Without a display, or with --screenshot, "
                    "the window is drawn offscreen, saved as PNG, and the demo exits.")
    p.add_argument("--hits", type=int, default=2000, help="number of hits (default 2000)")
    p.add_argument("--screenshot", default=None, metavar="PNG",
                   help="save the window to PNG and exit (default without a display: "
                        "./psocake-labeler-demo.png)")
    p.add_argument("--no-mpi", action="store_true", help="embed in-process, without mpiexec")
    p.add_argument("--auto-label", type=int, default=0, metavar="N",
                   help="first label N recommended events with the simulator's truth, as a "
                        "user would, and propagate (shows active learning at work)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; print where the screenshot went."""
    from ..errors import InputError
    from ..progress import ProgressPrinter

    if args.hits < 50:
        raise InputError(f"--hits {args.hits}: the demo needs at least 50 hits")
    if args.screenshot:
        import os

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ..gui.preflight import check_display

    check_display()    # before simulating: say now if no window can open
    from ..gui.demo import run_demo

    out = run_demo(args.hits, args.screenshot, progress=ProgressPrinter(), mpi=not args.no_mpi,
                   auto_label=args.auto_label)
    if out is not None:
        print(f"screenshot written to {out}")
    return 0
