"""``psocake-labeler info FILE``: what a file holds, in words."""
from __future__ import annotations

import argparse
import os
import sys


def register(subparsers) -> None:
    """Add the ``info`` sub-command."""
    p = subparsers.add_parser(
        "info", help="say what a file holds (Psocake output, label or manifold file)",
        description="Say in words what FILE is: which Psocake output, experiment, run, "
                    "detector, events and hits, image shape, mask, NaN/inf pixels; or what "
                    "a label or manifold file holds. Exits with 2 when the file cannot be "
                    "used (unreadable, wrong layout, hits without images, no hits).")
    p.add_argument("file", help="a .cxi/.h5/.label.json file, a run folder such as r0093/, "
                                "or a quoted glob")
    p.add_argument("--sample", type=int, default=16, metavar="N",
                   help="images to scan for NaN/inf pixels (default 16)")
    p.add_argument("--require-images", action="store_true",
                   help="also exit with 2 when the file has no images to read (litPixels "
                        "files, hits saved without --saveADU): a check before `embed`")
    p.add_argument("--external-links", action="store_true",
                   help="follow HDF5 external links into other files (refused by default)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report; raise the file's problem (exit 2) after printing what is known."""
    from ..io import inspect_file
    from ..io.schema import sqlite_schema
    from ..labelfiles.store import describe_store, is_our_label_file, read_label_file

    if os.path.isfile(args.file) and sqlite_schema(args.file) is not None:
        print("\n".join(describe_store(args.file)), flush=True)   # our label store (SQLite)
        return 0
    if os.path.isfile(args.file) and is_our_label_file(args.file):
        read_label_file(args.file)   # an earlier release's label file: checked like any open
    report = inspect_file(args.file, sample=args.sample)
    try:
        print(report.text(), flush=True)
    except BrokenPipeError:
        # `info FILE | head`: the reader left; avoid a second error when Python exits.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if report.problem is not None:
        raise report.problem
    if getattr(args, "require_images", False) and report.no_images is not None:
        raise report.no_images
    return 0
