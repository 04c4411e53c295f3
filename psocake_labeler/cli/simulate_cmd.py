"""``psocake-labeler simulate OUT.cxi --hits N``: a PR772-like run in Psocake's layout."""
from __future__ import annotations

import argparse

from ..errors import InputError


def register(subparsers) -> None:
    """Add the ``simulate`` sub-command."""
    p = subparsers.add_parser(
        "simulate", help="write a simulated PR772-like run in Psocake's SPI or SFX layout",
        description="Simulate single PR772-like particles, clusters of 2-3, water droplets "
                    "and non-hits on a pnCCD-like detector and write them as Psocake's hit "
                    "finder would (SPI: one .cxi; SFX: per-rank files + master), with the "
                    "ground truth in OUT.truth.h5 beside it.")
    p.add_argument("out", metavar="OUT.cxi", help="the .cxi to write (SFX: the master file)")
    # Numbers are parsed here rather than by argparse so that a bad value is one line.
    p.add_argument("--hits", required=True, metavar="N", help="number of hits")
    p.add_argument("--shape", default="256", metavar="N|HxW",
                   help="image size: 256 or 128x256 (default 256)")
    p.add_argument("--seed", default="0", help="random seed (default 0)")
    p.add_argument("--mix", default=None, metavar="K=F,...",
                   help="fractions of kinds, default single=0.3,multiple=0.15,water=0.45,"
                        "nonhit=0.1 (normalised to sum 1)")
    p.add_argument("--conditions", default=None, metavar="K=V,...",
                   help="harder beamtime: jitter=PX,photons=LO-HI,dead_half=top|bottom,"
                        "clipped=FRACTION,distance=M,pixel=M,offset=ROW:COL "
                        "(docs/simulator.md)")
    p.add_argument("--layout", default="spi", help="spi (default) or sfx")
    p.add_argument("--experiment", default="amo06516", help="experiment name (default amo06516)")
    p.add_argument("--run", default="93", help="run number (default 93)")
    p.add_argument("--workers", default="1", metavar="N",
                   help="processes computing hits (default 1; the run does not depend on it)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be an integer, got {value!r}") from None


def _shape(value: str) -> tuple[int, int]:
    parts = value.lower().split("x")
    try:
        if len(parts) == 1:
            return (int(parts[0]), int(parts[0]))
        if len(parts) == 2:
            return (int(parts[0]), int(parts[1]))
    except ValueError:
        pass
    raise InputError(f"--shape must be N or HxW (e.g. 256 or 128x256), got {value!r}")


def run(args: argparse.Namespace) -> int:
    """Simulate, then print what was written."""
    from ..progress import ProgressPrinter
    from ..simulate import KINDS, simulate_run

    hits = _int(args.hits, "--hits")
    if hits < 1:
        raise InputError(f"--hits must be a positive integer, got {hits}")
    progress = ProgressPrinter(enabled=not args.quiet)
    sim = simulate_run(args.out, hits=hits, shape=_shape(args.shape),
                       seed=_int(args.seed, "--seed"), mix=args.mix, layout=args.layout,
                       experiment=args.experiment, run=_int(args.run, "--run"),
                       workers=_int(args.workers, "--workers"), progress=progress,
                       conditions=args.conditions)
    counts = {k: int((sim.kinds == k).sum()) for k in KINDS}
    counts = {k: v for k, v in counts.items() if v or k != "unknown"}
    files = [sim.path, *sim.rank_paths]
    print(f"wrote {len(sim.labels)} hits ({', '.join(f'{v} {k}' for k, v in counts.items())}) "
          f"in Psocake's {args.layout.upper()} layout:")
    for f in files:
        print(f"  {f}")
    print(f"ground truth: {sim.truth_path}")
    return 0
