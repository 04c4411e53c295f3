"""Time the simulator: hits per second and peak memory for a PR772-like run.

    python benchmarks/bench_simulate.py --hits 2000 --shape 256 [--workers 2]

Prints wall time, CPU time, peak resident memory and the file size.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from psocake_labeler.simulate import simulate_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--shape", type=int, default=256)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "amo06516_0093.cxi"
        wall, cpu = time.perf_counter(), time.process_time()
        simulate_run(path, hits=args.hits, shape=(args.shape, args.shape), seed=args.seed,
                     workers=args.workers)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = path.stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'hits':>6} {'shape':>7} {'workers':>7} {'wall s':>8} {'cpu s':>8} "
          f"{'hits/s':>8} {'peak MiB':>9} {'file MiB':>9}")
    print(f"{args.hits:>6} {args.shape:>7} {args.workers:>7} {wall:>8.1f} {cpu:>8.1f} "
          f"{args.hits / wall:>8.1f} {peak:>9.0f} {size / 2**20:>9.0f}")
    print(f"(load average at end: {os.getloadavg()[0]:.1f}; target: 2000 hits at 256x256 < 60 s)")


if __name__ == "__main__":
    main()
