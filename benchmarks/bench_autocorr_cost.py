"""What the autocorrelation profile (``autocorr``) costs in the features pass, per hit.

On a simulated 128 x 128 run (2 px jitter; working size 128, no binning) times, in process
CPU ms per hit, the pre-PCA features of every block without the profile (``autocorr=0``)
and with ``autocorr=2``; the features with the side columns the manifold keeps for the
classifier (brightness, and the profile unless ``classifier_autocorr=False``), as
``build_manifold`` computes them; alternately (least of ``--repeat``), and the profile alone
on the blocks' photon-scaled working images; the load average is printed beside them.

    python benchmarks/bench_autocorr_cost.py [--hits 500] [--repeat 3]
        [--workdir /tmp/psocake_bench_acf]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from psocake_labeler.features import FeatureTransform
from psocake_labeler.features import representations as rep
from psocake_labeler.features.autocorr import AutocorrProfile
from psocake_labeler.features.stream import iter_blocks
from psocake_labeler.io import open_run
from psocake_labeler.simulate import simulate_run


def cpu_ms_per_hit(fn, blocks, hits: int) -> float:
    """Process CPU ms per hit of ``fn`` over every block."""
    c = time.process_time()
    for b in blocks:
        fn(b)
    return (time.process_time() - c) / hits * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hits", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default="/tmp/psocake_bench_acf")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"amo06516_0300_{args.hits}.cxi"
    if not path.exists():
        simulate_run(path, hits=args.hits, shape=128, seed=300, conditions="jitter=2")
    run = open_run(path)
    blocks = list(iter_blocks(run, 0, len(run)))
    off = FeatureTransform(autocorr=0.0).fit(run)
    on = FeatureTransform(autocorr=2.0).fit(run)
    bare = FeatureTransform(classifier_autocorr=False).fit(run).pipeline_
    pipe = on.pipeline_
    prof = AutocorrProfile(pipe.binned_shape)
    scaled = []
    for b in blocks:
        v, ok = rep.bin_images(b, pipe.mask, pipe.bin)
        scaled.append((rep.photon_scale(v, ok, "sqrt"), ok))
    steps = {"autocorr=0": lambda b: off.raw_features(b),
             "autocorr=2": lambda b: on.raw_features(b),
             "+ brightness (classifier_autocorr=False)": lambda b: bare.raw_features(b, side=True),
             "+ brightness + profile (default)": lambda b: off.pipeline_.raw_features(b, side=True),
             "profile alone": None}
    best = dict.fromkeys(steps, np.inf)
    for _ in range(args.repeat):
        for name, fn in steps.items():
            got = cpu_ms_per_hit(lambda s: prof(*s), scaled, len(run)) if fn is None \
                else cpu_ms_per_hit(fn, blocks, len(run))
            best[name] = min(best[name], got)
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{len(run)} hits of 128 x 128, working size {pipe.binned_shape}, FFT "
          f"{prof.fft_shape}; least of {args.repeat}; load average {load}")
    print("| pre-PCA features | CPU ms / hit |\n| --- | --- |")
    for k, v in best.items():
        print(f"| {k} | {v:.2f} |")


if __name__ == "__main__":
    main()
