"""``psocake-labeler propagate manifold.h5 labels.h5``: write predictions into a label file.

When LABELS belongs to another manifold (typically the one MANIFOLD extends: ``embed
--extend``), its whole log is carried onto MANIFOLD's rows, matched by event, and written to
a new label file (``-o``, default ``<labels>.<manifold>.h5``); LABELS itself is not changed.
"""
from __future__ import annotations

import argparse
from pathlib import Path

#: Labels to review printed by name; the rest are counted.
REVIEW_SHOWN = 5


def register(subparsers) -> None:
    """Add the ``propagate`` sub-command."""
    from ..labelling.quality import CONFIDENT

    p = subparsers.add_parser(
        "propagate", help="propagate the labels of a label file over its manifold",
        description="Propagate the user labels of LABELS over MANIFOLD and store predictions "
                    "and confidences in LABELS (atomically); then print how many events are "
                    "confident, an estimate of the predictions' accuracy (from held-out user "
                    "labels), per-class counts, and warnings (classes without a label, labels "
                    "to review). If LABELS belongs to another manifold (e.g. the one MANIFOLD "
                    "extends), its labels are carried onto MANIFOLD by event and written to a "
                    "new file (-o).")
    p.add_argument("manifold", help="manifold file (psocake-labeler embed output)")
    p.add_argument("labels", help="label file of that manifold, or of one it extends")
    p.add_argument("-o", "--output", default=None,
                   help="new label file when LABELS belongs to another manifold (default "
                        "<labels stem>.<manifold stem>.h5 beside LABELS)")
    p.add_argument("--method", default=None, choices=("poisson", "harmonic", "spreading"),
                   help="propagation method (default: the file's, else spreading)")
    p.add_argument("--min-confidence", type=float, default=CONFIDENT,
                   help=f"confidence counted as sure in the summary (default {CONFIDENT:g})")
    p.add_argument("--user", default=None, help="user name for the log (default: login)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load (or carry), propagate, save; print the stopping signal."""
    from ..embedding import Manifold
    from ..errors import InputError, ManifoldMismatchError
    from ..labelfiles.export_plan import check_min_confidence
    from ..labelling.quality import propagate_assessed
    from ..labelling.session import LabelSession

    check_min_confidence(args.min_confidence)
    m = Manifold.load(args.manifold)   # missing, folder, not HDF5, wrong kind: one line
    try:
        s = LabelSession.load(args.labels, m, user=args.user)
        carried = None
    except ManifoldMismatchError:
        s, carried = _carry(args, m)
    if not len(s.labelled_rows()):
        raise InputError(f"{args.labels}: holds no user labels, so there is nothing to "
                         f"propagate; label a few events first (psocake-labeler gui "
                         f"{args.manifold} --labels {args.labels})")
    # saved (and exported) with the confidence the held-out labels back
    q = propagate_assessed(s, args.method, args.min_confidence)
    s.save()
    if carried is not None:
        print(carried)
    print(f"{s.path}: {len(s.labelled_rows())} user labels propagated to {len(s)} events")
    *lines, verdict = q.lines()
    for line in lines:
        print(line)
    ev = s.events
    for it in q.review[:REVIEW_SHOWN]:
        print(f"  review run {int(ev['run'][it.row])} event {int(ev['event'][it.row])}: labelled "
              f"{s.classes[it.label]}, the other labels say {s.classes[it.suggested]} "
              f"({it.confidence:.2f})")
    if len(q.review) > REVIEW_SHOWN:
        print(f"  ... and {len(q.review) - REVIEW_SHOWN} more (the dock's review queue lists all)")
    print(verdict)
    return 0


def _carry(args: argparse.Namespace, manifold):
    """A session on ``manifold`` carrying the labels of another manifold's file."""
    from ..errors import InputError
    from ..labelfiles.store import read_label_file
    from ..labelling.session import LabelSession

    labels = Path(args.labels)
    out = Path(args.output) if args.output else labels.with_name(
        f"{labels.stem}.{Path(args.manifold).stem}.h5")
    if out.exists():
        raise InputError(f"{out}: exists; the labels of {labels} (another manifold's) are "
                         f"carried into a new file: give another -o, or propagate {out} "
                         f"itself if it is this manifold's")
    data = read_label_file(labels)
    s = LabelSession.carry(data, manifold, path=None, user=args.user)
    s.path = out
    left = len(data.log.labelled_rows()) - len(s.labelled_rows())
    text = (f"{labels} belongs to another manifold: carried its {len(s.labelled_rows())} "
            f"user labels and {len(s.log.actions)} logged actions onto {args.manifold} "
            f"({len(s)} events) into {out}")
    if left:
        text += f"; {left} labelled events are not on this manifold (kept in {labels} only)"
    return s, text
