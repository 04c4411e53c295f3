"""``psocake-labeler propagate manifold.h5 labels.h5``: write predictions into a label file."""
from __future__ import annotations

import argparse

import numpy as np


def register(subparsers) -> None:
    """Add the ``propagate`` sub-command."""
    p = subparsers.add_parser(
        "propagate", help="propagate the labels of a label file over its manifold",
        description="Propagate the user labels of LABELS over MANIFOLD and store predictions "
                    "and confidences in LABELS (atomically).")
    p.add_argument("manifold", help="manifold file (psocake-labeler embed output)")
    p.add_argument("labels", help="label file of that manifold")
    p.add_argument("--method", default=None, choices=("poisson", "harmonic", "spreading"),
                   help="propagation method (default: the file's, else spreading)")
    p.add_argument("--user", default=None, help="user name for the log (default: login)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, propagate, save; print a per-class summary."""
    from ..embedding import Manifold
    from ..labelling.session import LabelSession

    m = Manifold.load(args.manifold)   # missing, folder, not HDF5, wrong kind: one line
    s = LabelSession.load(args.labels, m, user=args.user)
    if not len(s.labelled_rows()):
        from ..errors import InputError

        raise InputError(f"{args.labels}: holds no user labels, so there is nothing to "
                         f"propagate; label a few events first (psocake-labeler gui "
                         f"{args.manifold} --labels {args.labels})")
    s.propagate(args.method)
    s.save()
    n_user = len(s.labelled_rows())
    print(f"{args.labels}: {n_user} user labels propagated to {len(s)} events")
    for k, name in enumerate(s.classes):
        sel = s.predicted == k
        conf = float(np.mean(s.confidence[sel])) if sel.any() else 0.0
        print(f"  {name}: {int(sel.sum())} events, mean confidence {conf:.2f}")
    return 0
