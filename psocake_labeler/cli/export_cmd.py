"""``psocake-labeler export labels.h5 --format json|csv|cxi|blacklist``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from ..io.outputs import check_output

_SUFFIX = {"json": ".json", "csv": ".csv", "cxi": ".cxi", "blacklist": ".dat",
           "psocake": ""}
# What an earlier export of each format is, as io.outputs.output_kind tells it.
_KIND = {"json": "label-table-json", "csv": "label-table-csv", "cxi": "class-cxi",
         "blacklist": "blacklist"}


def register(subparsers) -> None:
    """Add the ``export`` sub-command."""
    from ..labelling.quality import CONFIDENT

    p = subparsers.add_parser(
        "export", help="export labels as JSON/CSV, a one-class CXI, a blacklist or Psocake files",
        description="Export the final labels of a label file: the user's label, else the "
                    "propagated one when it is at least --min-confidence sure, else none "
                    "('unsure'). The counts are printed before anything is written. While a "
                    "class has no user label, exporting predictions is refused (exit 2) "
                    "unless --force.")
    p.add_argument("labels", help="label file (ours)")
    p.add_argument("--format", required=True, choices=tuple(_SUFFIX),
                   help="json/csv: table of exp, run, event, label, source, confidence; cxi: "
                        "the events of one class with images; blacklist: one 0/1 per event; "
                        "psocake: <exp>_%%04d_labels.h5 and .label.json per run")
    p.add_argument("--class", dest="class_name", default=None,
                   help="class for cxi and blacklist, any case (default Single)")
    p.add_argument("--min-confidence", type=float, default=CONFIDENT,
                   help=f"propagated labels less sure than this get no class (default "
                        f"{CONFIDENT:g}; on simulated runs 99.8%% of events above 0.9 are "
                        f"right)")
    p.add_argument("--force", action="store_true",
                   help="export predictions even while a class has no user label")
    p.add_argument("--replace", action="store_true",
                   help="psocake: replace Psocake's own _labels.h5/.label.json (our own "
                        "earlier exports are replaced anyway)")
    p.add_argument("-o", "--output", default=None,
                   help="output file (folder for --format psocake); default beside LABELS")
    p.add_argument("--manifold", default=None,
                   help="manifold of the label file: propagate first when predictions are "
                        "missing or out of date")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the label file (propagating with --manifold if needed), check, print, export."""
    from ..labelfiles.export_plan import check_min_confidence, plan_export, require_plan

    labels = Path(args.labels)
    check_min_confidence(args.min_confidence)
    data = _read(labels, args.manifold)
    plan = plan_export(data, args.format, args.class_name, args.min_confidence)
    if args.format == "psocake":
        return _psocake(data, labels, plan, args)
    out = _output(labels, plan.class_name, args)
    print(f"{out}: {_summary(data, plan)}")
    if plan.blocked and args.force:
        print(f"warning: exported anyway (--force): {plan.problem()}", file=sys.stderr)
    require_plan(plan, args.force)
    from ..labelfiles.exports import export
    from ..progress import ProgressPrinter

    export(data, out, fmt=args.format, class_name=plan.class_name,
           min_confidence=args.min_confidence, force=args.force,
           progress=ProgressPrinter(enabled=not args.quiet))
    print(f"wrote {out}")
    return 0


def _read(labels: Path, manifold: str | None):
    """The label file's data; with a manifold, propagated first when out of date, with the
    confidence ``propagate`` saves (and saved so, when the file can be written)."""
    from ..labelfiles.store import read_label_file

    if not manifold:
        return read_label_file(labels)
    from ..embedding import Manifold
    from ..labelling.quality import propagate_assessed
    from ..labelling.session import LabelSession

    s = LabelSession.load(labels, Manifold.load(manifold))
    if s.stale or s.predicted.min() < 0 and len(s.labelled_rows()):
        propagate_assessed(s)
        # a read-only label file or a full disk still exports; the user learns that the
        # label file itself keeps its older predictions
        if not s.flush():
            print(f"warning: {labels}: the new predictions could not be saved into the "
                  f"label file (disk full or not writable); its labels are unchanged and the "
                  f"export holds the new predictions", file=sys.stderr)
    return s.to_data()


def _psocake(data, labels: Path, plan, args: argparse.Namespace) -> int:
    from ..labelfiles.export_plan import require_plan
    from ..labelfiles.exports import write_psocake

    out = Path(args.output) if args.output else labels.parent
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; --format psocake writes one file per kind "
                         f"and run, so -o must name a folder")
    print(f"{out}: {_summary(data, plan)}")
    if plan.blocked and args.force:
        print(f"warning: exported anyway (--force): {plan.problem()}", file=sys.stderr)
    require_plan(plan, args.force)
    for p in write_psocake(data, out, min_confidence=args.min_confidence,
                           replace=args.replace):
        print(f"wrote {p}")
    return 0


def _output(labels: Path, class_name: str | None, args: argparse.Namespace) -> Path:
    """The output path (checked: never the label file or another of ours)."""
    if args.output:
        out = Path(args.output)
    else:
        tag = f"_{class_name}" if class_name else ""
        out = labels.with_name(labels.stem + tag.replace("/", "-") + _SUFFIX[args.format])
    if out.resolve() == labels.resolve():
        raise InputError(f"{out}: the export would overwrite the label file; give -o")
    # an earlier export of the same format is replaced; anything else is refused
    check_output(out, _KIND[args.format])
    return out


def _summary(data, plan) -> str:
    """The plan's counts, with a hint when nothing was propagated."""
    import numpy as np

    text = plan.summary()
    if not np.any(np.asarray(data.predicted) >= 0):
        text += ("; the label file holds no predictions: only hand labels were used "
                 "(run 'psocake-labeler propagate' or pass --manifold)")
    return text
