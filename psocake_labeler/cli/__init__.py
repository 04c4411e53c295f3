"""The ``psocake-labeler`` command.

Each sub-command lives in its own module of this package and provides
``register(subparsers)``, which adds its parser and sets ``func`` to a function taking the
parsed arguments and returning an exit code. Expected errors (:class:`LabelerError`) print
one line and exit with code 2, without a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .. import __version__
from ..errors import LabelerError

# Order here is the order in ``--help``.
COMMAND_MODULES = (
    "simulate_cmd",
    "info_cmd",
    "embed_cmd",
    "gui_cmd",
    "demo_cmd",
    "propagate_cmd",
    "export_cmd",
    "merge_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="psocake-labeler",
        description="Label XFEL diffraction hits on a diffusion-map manifold.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 1
    if getattr(args, "external_links", False):
        from ..io.h5files import allow_external_links
        allow_external_links()
    try:
        return int(args.func(args) or 0)
    except LabelerError as exc:
        print(f"psocake-labeler {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `... | head`: the reader left; stay silent (Python would fail again at exit)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"psocake-labeler {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
