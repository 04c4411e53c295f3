"""The many-runs parts of bench_scale.py (imported by it; run through it):

* ``extend``: ``Manifold.extend`` of ``--new`` events (default 10^5, the same three classes)
  onto the ``--n``-event manifold that the ``build`` part cached, and the save of the result
  (what ``embed --extend`` does after reading the features).
* ``runs``: ``--runs`` runs of ``--hits`` simulated hits (64 x 64, ``psocake-labeler
  simulate``, cached in ``--workdir``) embedded as one manifold by ``mpiexec -n --ranks
  psocake-labeler embed``; each rank's peak RSS from ``/usr/bin/time``.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path


def step_extend(workdir: str, n: str, new: str) -> dict:
    """Extend the cached ``n``-event manifold by ``new`` events; save the result."""
    from bench_scale import manifold_path
    from scale_data import experiment

    import psocake_labeler as pl

    m = pl.Manifold.load(manifold_path(workdir, int(n)))
    x, _ = experiment(int(n), new=int(new))
    t = time.perf_counter()
    out = m.extend(x)
    t_extend = time.perf_counter() - t
    path = Path(workdir) / f"extended_{n}_{new}.h5"
    out.save(path)
    return {"time": time.perf_counter() - t, "extend": t_extend, "rows": len(out)}


def part_extend(args: argparse.Namespace) -> None:
    from bench_scale import line, manifold_path, run_step

    if not manifold_path(args.workdir, args.n).exists():
        raise SystemExit(f"no cached {args.n}-event manifold in {args.workdir}: run the "
                         "build part first (--parts build,extend)")
    print(f"\n== extend: {args.new:,} new events onto the {args.n:,}-event manifold ==")
    r = run_step("extend", args.workdir, str(args.n), str(args.new))
    line("Manifold.extend + save", r, f"  (extend alone {r['extend']:.2f} s; goal: minutes)")


def simulate_runs(folder: Path, runs: int, hits: int) -> list[Path]:
    """``runs`` simulated runs of ``hits`` hits (64 x 64), each its own seed and run number."""
    from psocake_labeler.simulate import simulate_run

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in range(runs):
        path = folder / f"r{r + 1:04d}.cxi"
        if not path.exists():  # in this process: a CLI start per run cost more than 50 hits
            simulate_run(path, hits=hits, shape=64, seed=r + 1, run=r + 1)
        paths.append(path)
    return paths


def part_runs(args: argparse.Namespace) -> None:
    from scale_data import load

    folder = Path(args.workdir) / f"runs_{args.runs}x{args.hits}"
    print(f"\n== embed of {args.runs} runs x {args.hits} hits (64 x 64) as one manifold, "
          f"mpiexec -n {args.ranks} ==")
    t = time.perf_counter()
    paths = simulate_runs(folder, args.runs, args.hits)
    print(f"  (simulated or found the runs in {time.perf_counter() - t:.1f} s; not counted)")
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        raise SystemExit("mpiexec not found: pip install mpich (the 'mpi' extra)")
    out = folder / "manifold.h5"
    cmd = [mpiexec, "-n", str(args.ranks), "/usr/bin/time", "-f", "rank-peak-kib %M",
           sys.executable, "-m", "psocake_labeler", "embed", *map(str, paths), "-o",
           str(out), "-q"]
    before, use0 = load(), resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"embed failed:\n{proc.stderr[-3000:]}")
    cpu = use.ru_utime + use.ru_stime - use0.ru_utime - use0.ru_stime
    peaks = [int(p) / 2 ** 20 for p in re.findall(r"rank-peak-kib (\d+)", proc.stderr)]
    events = args.runs * args.hits
    print(f"  embed ({events:,} events)                    {wall:8.2f} s  cpu {cpu:7.1f} s"
          f"  (load {before:.1f})")
    print("  peak RSS per rank: " + ", ".join(f"{p:.2f} GiB" for p in peaks)
          + f"; manifold file {os.path.getsize(out) / 2 ** 20:.1f} MiB")
    print(f"  command: {' '.join(cmd[:3])} psocake-labeler embed {folder}/r*.cxi -o {out} -q")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--new", type=int, default=100_000, help="extend: new events")
    ap.add_argument("--runs", type=int, default=100, help="runs: number of runs")
    ap.add_argument("--hits", type=int, default=1000, help="runs: hits per run")
    ap.add_argument("--ranks", type=int, default=2, help="runs: MPI ranks")


__all__ = ["add_arguments", "part_extend", "part_runs", "simulate_runs", "step_extend"]
