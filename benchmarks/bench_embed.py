"""End-to-end ``embed`` on simulated hits under ``mpiexec -n 1`` and ``-n 2``.

    python benchmarks/bench_embed.py [--hits 20000] [--ranks 1 2] [--data DIR]

Simulates (once, cached in --data) a run of 64x64 SPI hits, then runs this script as an MPI
worker for each rank count and prints, side by side: time for reading the images (a separate
read-only pass), features (fit + transform, reading included), k-NN, the diffusion map on
rank 0 (bandwidth, kernel, eigensolve), writing the file, the end-to-end total (everything
but the extra read pass), and the peak memory (max RSS) of each rank.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()


def worker(path: str, out: str, knn_k: int) -> None:
    from mpi4py import MPI

    from psocake_labeler._parallel import block_range, gentle_barrier
    from psocake_labeler.embedding.diffusion import manifold_from_knn
    from psocake_labeler.features import compute_features
    from psocake_labeler.io import open_run
    from psocake_labeler.neighbors.mpi import knn

    world = MPI.COMM_WORLD
    comm = world if world.Get_size() > 1 else None
    rank, size = world.Get_rank(), world.Get_size()
    times: dict[str, float] = {}
    run = open_run(path)
    start, stop = block_range(len(run), size, rank)
    gentle_barrier(world)
    t = time.perf_counter()
    for s in range(start, stop, 1000):
        run.images(slice(s, min(stop, s + 1000)))
    gentle_barrier(world)
    times["read"] = time.perf_counter() - t

    t0 = t = time.perf_counter()
    local, transform = compute_features(run, comm=comm)
    gentle_barrier(world)
    times["features"] = time.perf_counter() - t
    t = time.perf_counter()
    idx, dist = knn(local, knn_k, comm=comm)
    gentle_barrier(world)
    times["k-NN"] = time.perf_counter() - t
    t = time.perf_counter()
    parts = world.gather((local, idx, dist), root=0)
    if rank == 0:
        m = manifold_from_knn(np.concatenate([p[0] for p in parts]),
                              np.concatenate([p[1] for p in parts]),
                              np.concatenate([p[2] for p in parts]), run.event_table(),
                              transform, n_components=10, knn=knn_k)
        times["diffusion map"] = time.perf_counter() - t
        t = time.perf_counter()
        m.save(out)
        times["write"] = time.perf_counter() - t
    gentle_barrier(world)
    times["total"] = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    peaks = world.gather(peak, root=0)
    if rank == 0:
        print("RESULT " + json.dumps({"ranks": size, "times": times, "peak_gib": peaks}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hits", type=int, default=20000)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--knn", type=int, default=15)
    ap.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "psocake-labeler-bench"),
                    help="folder for the simulated run (kept for the next time)")
    ap.add_argument("--worker", nargs=2, metavar=("RUN", "OUT"))
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.knn)
        return
    from psocake_labeler.simulate import simulate_run

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    path = data / f"amo06516_{args.hits}hits_0093.cxi"
    if not path.exists():
        t = time.perf_counter()
        simulate_run(path, hits=args.hits, shape=(64, 64), seed=0, run=93,
                     workers=os.cpu_count() or 1)
        print(f"simulated {args.hits} hits of 64x64 in {time.perf_counter() - t:.0f} s")
    mpiexec = Path(sys.executable).parent / "mpiexec"
    results = []
    for n in args.ranks:
        out = data / f"manifold_{n}.h5"
        proc = subprocess.run([str(mpiexec), "-n", str(n), sys.executable, str(HERE),
                               "--knn", str(args.knn), "--worker", str(path), str(out)],
                              capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            sys.exit(f"-n {n} failed:\n{proc.stderr}")
        results.append(json.loads(lines[0][7:]))
    stages = ["read", "features", "k-NN", "diffusion map", "write", "total"]
    print(f"{args.hits} hits of 64x64, knn={args.knn}, 10 components; seconds per stage")
    print(f"{'ranks':>5s} " + " ".join(f"{s:>13s}" for s in stages) + "  peak RSS GiB per rank")
    for r in results:
        print(f"{r['ranks']:5d} " + " ".join(f"{r['times'].get(s, 0):13.2f}" for s in stages)
              + "  " + ", ".join(f"{p:.2f}" for p in r["peak_gib"]))
    if len(results) > 1:
        base = results[0]["times"]["total"]
        for r in results[1:]:
            print(f"speed-up {results[0]['ranks']} -> {r['ranks']} ranks: "
                  f"{base / r['times']['total']:.2f}x")
    print("(read is a separate read-only pass; features include their own reading)")


if __name__ == "__main__":
    main()
