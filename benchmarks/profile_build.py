"""Where build_manifold spends its CPU: stage marks (wall, process CPU, load) and cProfile.

    python benchmarks/profile_build.py [--n 100000] [--one-thread] [--top 25]

The array is bench_scale.py's experiment (three 4-D classes lifted to 40 features), knn=15,
10 components. ``--one-thread`` replaces the thread pools of the k-NN and the eigensolver by
a synchronous executor and limits BLAS to one thread, so that cProfile (which follows only
the main thread) sees all of the work; the CPU seconds are then those of one core.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import time
from concurrent.futures import Future
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


class Synchronous:
    """An executor that runs each task at once in the calling thread."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __enter__(self) -> Synchronous:
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def map(self, fn, *iterables):
        return list(map(fn, *iterables))

    def submit(self, fn, *args, **kwargs) -> Future:
        done: Future = Future()
        done.set_result(fn(*args, **kwargs))
        return done

    def shutdown(self, *args, **kwargs) -> None:
        pass


def cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--one-thread", action="store_true")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    from contextlib import nullcontext

    from scale_data import experiment
    from threadpoolctl import threadpool_limits

    import psocake_labeler as pl
    import psocake_labeler.embedding.eigensolve as eigensolve
    import psocake_labeler.neighbors.dense as dense
    import psocake_labeler.neighbors.search as search

    if args.one_thread:
        for module in (search, dense, eigensolve):
            module.ThreadPoolExecutor = Synchronous
    x, _ = experiment(args.n)
    marks: dict = {}
    prof = cProfile.Profile(time.process_time)
    t0, c0 = time.perf_counter(), cpu()

    def progress(stage: str, done: int, total: int) -> None:
        now = (time.perf_counter() - t0, cpu() - c0, os.getloadavg()[0])
        marks.setdefault(f"{stage} start", now)
        marks[f"{stage} end"] = now

    with threadpool_limits(1) if args.one_thread else nullcontext():
        prof.enable()
        pl.build_manifold(x, n_components=10, knn=15, progress=progress)
        prof.disable()
    print(f"build_manifold of {args.n:,} x 40: {time.perf_counter() - t0:.2f} s wall, "
          f"cpu {cpu() - c0:.2f} s, load {os.getloadavg()[0]:.1f}, peak "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20:.2f} GiB")
    for name, (wall, used, load) in marks.items():
        print(f"  {name:20s} at {wall:8.1f} s wall, cpu {used:7.1f} s (load {load:.1f})")
    pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
