"""What feature options buy, without labelling: classifiers on the features of hard runs.

For each case of ``bench_active_learning.py`` asked for and each option set, the run's
features (``compute_features(run, **options)``) are scored against the simulator's truth:

* 10-NN and logistic-regression accuracy, stratified 5-fold (what the graph and the blend
  can get out of the features);
* for transfer cases: both classifiers trained on run A's features and applied to each run
  B (another distance, energy or pixel map) transformed by A's transform, no label of B.

    python benchmarks/bench_feature_options.py [--cases 1,6] [--hits 1000]
        [--options '{"work_size": 64}' ...] [--workdir /tmp/psocake_bench_al]

Runs are cached in --workdir exactly as ``bench_active_learning.py`` caches them.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from bench_active_learning import CASES, simulated_run, truth_of
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from psocake_labeler.features import compute_features
from psocake_labeler.io import open_run

BEFORE_13 = {"work_size": 64, "beam_search": 0.0, "fill": "ring", "zero_rows": False,
             "units": "pixel"}
OPTION_SETS = [("before issue 13", BEFORE_13), ("defaults", {}),
               ("defaults, working size 64", {"work_size": 64}),
               ("defaults, fill=friedel", {"fill": "friedel"}),
               ("defaults, no beam search", {"beam_search": 0.0})]


def classifiers():
    return KNeighborsClassifier(10), LogisticRegression(max_iter=3000)


def score_case(case, options: dict, work: Path, hits: int) -> str:
    cxi = simulated_run(work, case.seed, case.mix, case.conditions, hits, 128)
    y, _ = truth_of(cxi)
    t, c = time.perf_counter(), time.process_time()
    feats, transform = compute_features(open_run(str(cxi)), **options)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    knn, lr = (float(np.mean(cross_val_score(m, feats, y, cv=5))) for m in classifiers())
    parts = [f"10-NN {knn:.3f}, LR {lr:.3f}"]
    for seed, mix, cond in case.targets:
        b = simulated_run(work, seed, mix, cond, hits, 128)
        yb, _ = truth_of(b)
        fb, _ = compute_features(open_run(str(b)), transform)
        knn_b, lr_b = (m.fit(feats, y).score(fb, yb) for m in classifiers())
        parts.append(f"A -> B ({cond.split(',')[-1]}): 10-NN {knn_b:.3f}, LR {lr_b:.3f}")
    return "; ".join(parts) + f" [features {wall:.0f} s wall, {cpu:.0f} s CPU]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="1,6", help="case numbers of bench_active_learning")
    ap.add_argument("--hits", type=int, default=1000)
    ap.add_argument("--options", action="append", default=[], metavar="JSON",
                    help="an option set (JSON object), repeatable; default: a fixed list")
    ap.add_argument("--workdir", default="/tmp/psocake_bench_al")
    args = ap.parse_args()
    sets = [(o, json.loads(o)) for o in args.options] or OPTION_SETS
    print(f"load average {os.getloadavg()[0]:.1f}; {args.hits} hits of 128 x 128 per run")
    for i in (int(x) for x in args.cases.split(",") if x):
        print(f"\n  case {i}: {CASES[i].name}")
        for name, opts in sets:
            print(f"    {name}: {score_case(CASES[i], opts, Path(args.workdir), args.hits)}",
                  flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
