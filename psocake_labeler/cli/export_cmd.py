"""``psocake-labeler export labels.h5 --format json|csv|cxi|blacklist``."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError

_SUFFIX = {"json": ".json", "csv": ".csv", "cxi": ".cxi", "blacklist": ".dat",
           "psocake": ""}


def register(subparsers) -> None:
    """Add the ``export`` sub-command."""
    p = subparsers.add_parser(
        "export", help="export labels as JSON/CSV, a one-class CXI, a blacklist or Psocake files",
        description="Export the final labels (user label, else propagated) of a label file.")
    p.add_argument("labels", help="label file (ours)")
    p.add_argument("--format", required=True, choices=tuple(_SUFFIX),
                   help="json/csv: table of exp, run, event, label, source, confidence; cxi: "
                        "the events of one class with images; blacklist: one 0/1 per event; "
                        "psocake: <exp>_%%04d_labels.h5 and .label.json per run")
    p.add_argument("--class", dest="class_name", default=None,
                   help="class for cxi and blacklist (default Single)")
    p.add_argument("--min-confidence", type=float, default=0.0,
                   help="cxi/blacklist: keep only events at least this confident")
    p.add_argument("-o", "--output", default=None,
                   help="output file (folder for --format psocake); default beside LABELS")
    p.add_argument("--manifold", default=None,
                   help="manifold of the label file: propagate first when predictions are "
                        "missing or out of date")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the label file (propagating with --manifold if needed) and export it."""
    from ..labelfiles.exports import export, write_psocake
    from ..labelfiles.store import read_label_file

    labels = Path(args.labels)
    if not 0.0 <= args.min_confidence <= 1.0:
        raise InputError(f"--min-confidence must be between 0 and 1, got {args.min_confidence}")
    if args.manifold:
        from ..embedding import Manifold
        from ..labelling.session import LabelSession

        s = LabelSession.load(labels, Manifold.load(args.manifold))
        if s.stale or s.predicted.min() < 0 and len(s.labelled_rows()):
            s.propagate()
        data = s.to_data()
    else:
        data = read_label_file(labels)
    if args.format == "psocake":
        out = Path(args.output) if args.output else labels.parent
        if out.exists() and not out.is_dir():
            raise InputError(f"{out}: is a file; --format psocake writes one file per kind "
                             f"and run, so -o must name a folder")
        for p in write_psocake(data, out):
            print(f"wrote {p}")
        return 0
    if args.class_name is not None:
        data.classes.index(args.class_name)   # a clear error before any work
    suffix = _SUFFIX[args.format]
    if args.output:
        out = Path(args.output)
    else:
        tag = f"_{args.class_name or 'Single'}" if args.format in ("cxi", "blacklist") else ""
        out = labels.with_name(labels.stem + tag.replace("/", "-") + suffix)
    if out.resolve() == labels.resolve():
        raise InputError(f"{out}: the export would overwrite the label file; give -o")
    if out.is_file() and _is_ours(out):
        raise InputError(f"{out}: is a psocake-labeler label or manifold file; exports never "
                         f"replace those: give another -o")
    export(data, out, fmt=args.format, class_name=args.class_name,
           min_confidence=args.min_confidence)
    print(f"wrote {out}: {_summary(data, args)}")
    return 0


def _summary(data, args: argparse.Namespace) -> str:
    """What the export holds, in words, with a hint when nothing was propagated."""
    import numpy as np

    from ..labelfiles.exports import class_mask

    label, source, _conf = data.final()
    n = len(label)
    if args.format in ("cxi", "blacklist"):
        name = args.class_name or "Single"
        k = int(class_mask(data, name, args.min_confidence).sum())
        text = f"{k} of {n} events are {name}"
    else:
        user = int(np.sum(source == "user"))
        prop = int(np.sum(source == "propagated"))
        text = (f"{n} events ({user} labelled by hand, {prop} propagated, "
                f"{n - user - prop} without a label)")
    if not np.any(source == "propagated"):
        text += ("; the label file holds no predictions: only hand labels were used "
                 "(run 'psocake-labeler propagate' or pass --manifold)")
    return text


def _is_ours(path: Path) -> bool:
    """True for our label and manifold files (which an export must not replace)."""
    from ..io.schema import path_kind

    return path_kind(path) in ("labels", "manifold")
