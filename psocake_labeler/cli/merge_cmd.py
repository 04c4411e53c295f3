"""``psocake-labeler merge a.h5 b.h5 ... -o merged.h5``: merge users' labels, report conflicts."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io.atomic import atomic_write_text
from ..io.outputs import check_output


def register(subparsers) -> None:
    """Add the ``merge`` sub-command."""
    p = subparsers.add_parser(
        "merge", help="merge several users' label files; conflicts are reported, not decided",
        description="Merge label files (ours, or Psocake's *_labels.h5 / *.label.json). Events "
                    "labelled differently are left unlabelled and listed in the report.")
    p.add_argument("files", nargs="+", help="label files to merge")
    p.add_argument("-o", "--output", required=True, help="merged label file to write")
    p.add_argument("--report", default=None,
                   help="conflict report CSV (default: OUTPUT with .conflicts.csv)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing label file at OUTPUT (it may hold someone's "
                        "labels, so this is never done without it)")
    p.add_argument("--users", default=None,
                   help="comma-separated user names for Psocake files (they carry none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Merge, write the merged file and the report; exit 0 (conflicts are not errors)."""
    from ..labelfiles.merge import merge_labels

    users = args.users.split(",") if args.users else None
    if users is not None and len(users) != len(args.files):
        from ..errors import InputError
        raise InputError(f"--users names {len(users)} users for {len(args.files)} files")
    out = Path(args.output)
    report = Path(args.report) if args.report else out.with_suffix(".conflicts.csv")
    for f in args.files:
        if Path(f).exists() and any(Path(f).resolve() == q.resolve() for q in (out, report)):
            from ..errors import InputError
            raise InputError(f"{f}: is one of the files to merge; write the merge to a new "
                             f"file with -o (inputs are never overwritten)")
    # before any work: -o and --report never replace another kind of file; an existing
    # label file only with --force; an earlier conflict report is replaced
    check_output(out, "labels", force=args.force, replace=False)
    check_output(report, "conflict-report")
    result = merge_labels(args.files, users=users)
    result.write(out)
    atomic_write_text(report, result.report())
    print(result.summary())
    print(f"merged labels: {out}\nconflict report: {report}")
    for c in result.conflicts[:20]:
        pairs = ", ".join(f"{u}: {lab}" for u, lab in zip(c.users, c.labels))
        print(f"  run {c.run} event {c.event}: {pairs}", file=sys.stderr)
    if len(result.conflicts) > 20:
        print(f"  ... {len(result.conflicts) - 20} more in {report}", file=sys.stderr)
    return 0
