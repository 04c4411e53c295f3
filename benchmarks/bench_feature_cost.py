"""What the feature defaults cost: fit + transform time per hit at working size 64 and 128.

Runs ``FeatureTransform(**options).fit_transform(run)`` (mask statistics, features, PCA) on

* a simulated 256 x 256 run (``simulate_run``, 2 px beam jitter), and
* synthetic 1024 x 1024 Poisson images (a pnCCD-sized detector; no simulator, whose cost
  at that size is not the point),

for the options before issue 13 (``FeatureTransform.BEFORE``-style: no beam search, ring
fill, pixel units) and for the defaults, each at working sizes 64 and 128, printing wall
and process CPU seconds and the load average beside each.

    python benchmarks/bench_feature_cost.py [--hits 300] [--big 60]
        [--workdir /tmp/psocake_bench_cost]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from psocake_labeler.features import FeatureTransform
from psocake_labeler.io import open_run
from psocake_labeler.simulate import simulate_run

OLD = {"beam_search": 0.0, "fill": "ring", "zero_rows": False, "units": "pixel"}


def big_images(n: int, seed: int = 0) -> np.ndarray:
    """``n`` 1024 x 1024 float32 images: a ring pattern about a jittered centre, Poisson."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:1024, 0:1024].astype(np.float32)
    out = np.empty((n, 1024, 1024), dtype=np.float32)
    for k in range(n):
        cy, cx = 511.5 + rng.normal(0, 8, 2)
        r = np.hypot(yy - cy, xx - cx) + 1.0
        lam = 2e3 * (np.sinc(r / 40.0) ** 2) / (1 + (r / 200.0) ** 2) + 0.05
        out[k] = rng.poisson(lam)
    return out


def timed(options: dict, data) -> tuple[float, float, float]:
    load = os.getloadavg()[0]
    t, c = time.perf_counter(), time.process_time()
    FeatureTransform(**options).fit_transform(data)
    return time.perf_counter() - t, time.process_time() - c, load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hits", type=int, default=300, help="hits of the 256 px run")
    ap.add_argument("--big", type=int, default=60, help="1024 x 1024 images")
    ap.add_argument("--workdir", default="/tmp/psocake_bench_cost")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"cost_256_{args.hits}.cxi"
    if not path.exists():
        simulate_run(path, hits=args.hits, shape=256, seed=4, conditions="jitter=2")
    datasets = [(f"256 x 256 simulated, {args.hits} hits", open_run(str(path)), args.hits),
                (f"1024 x 1024 Poisson, {args.big} images", big_images(args.big), args.big)]
    print("| data | options | working size | wall s | CPU s | ms CPU / hit | load |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, data, n in datasets:
        for label, opts in (("before issue 13", OLD), ("defaults", {})):
            for size in (64, 128):
                wall, cpu, load = timed({**opts, "work_size": size}, data)
                print(f"| {name} | {label} | {size} | {wall:.1f} | {cpu:.1f} | "
                      f"{1e3 * cpu / n:.0f} | {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()
