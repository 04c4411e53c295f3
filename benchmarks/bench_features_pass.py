"""The features pass against h5py's read of the same image blocks, in one run (issue 14).

    python benchmarks/bench_features_pass.py [--hits 1500] [--big 40] [--ranks 1 2]
        [--repeat 2] [--workdir /tmp/psocake_bench_pass] [--profile]

Two runs (simulated once, cached in --workdir): ``--hits`` hits of 256 x 256 (2 px beam
jitter) and ``--big`` hits of 1024 x 1024 (a pnCCD-sized detector). For each run and each
rank count, in fresh ``mpiexec -n R`` processes, alternating, the least wall and the least
CPU seconds of ``--repeat`` runs:

* ``read``: h5py reads this rank's rows in the blocks the features pass reads
  (``features.stream.chunk_rows``), as float32;
* ``features``: what ``embed`` does on each rank before the k-NN, with the default options:
  the fit (bad-pixel sample, pre-PCA features, PCA), the features and the per-hit
  brightness (``compute_features(..., with_brightness=True)``).

Printed: wall seconds (slowest rank), process CPU seconds (summed over ranks), peak RSS
(largest rank), the load average before each, and features / read in wall and in CPU
seconds (the goal is <= 1.5); then where the CPU goes, step by step, on each run's first
block. ``--profile`` prints the features pass's cProfile (one rank, the 256 px run, by own
time).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
DATASET = "entry_1/instrument_1/detector_1/data"


def _rows(n: int, comm) -> tuple[int, int]:
    from psocake_labeler._parallel import block_range

    size, rank = (1, 0) if comm is None else (comm.Get_size(), comm.Get_rank())
    return block_range(n, size, rank)


def step_read(path: str, comm) -> None:
    """h5py's read of this rank's rows in the features pass's blocks."""
    import h5py

    from psocake_labeler.features.stream import chunk_rows

    with h5py.File(path, "r") as f:
        ds = f[DATASET]
        start, stop = _rows(ds.shape[0], comm)
        rows = chunk_rows(ds.shape[1:])
        for a in range(start, stop, rows):
            np.asarray(ds[a:min(stop, a + rows)], dtype=np.float32)


def step_features(path: str, comm) -> None:
    """The features and brightness of this rank's rows, default options."""
    from psocake_labeler.features import compute_features
    from psocake_labeler.io import open_run

    compute_features(open_run(path), comm=comm, with_brightness=True)


def stage_costs(path: str, rows: int = 128, repeat: int = 3) -> dict:
    """CPU ms per hit of each step of the features pass, on the run's first block (at most
    ``rows`` hits), the best of ``repeat``; and how many of them needed the ring fit."""
    from psocake_labeler.features import FeatureTransform, centering
    from psocake_labeler.features import representations as rep
    from psocake_labeler.features.brightness import hit_brightness
    from psocake_labeler.features.masking import PixelStats
    from psocake_labeler.features.stream import chunk_rows
    from psocake_labeler.io import open_run

    run = open_run(path)
    pipe = FeatureTransform(n_pca=0, mask_sample=16).fit(run).pipeline_
    k = min(rows, chunk_rows(run.image_shape), len(run))
    cost: dict = {}

    def clock(name, fn, *args):
        t = time.process_time()
        out = fn(*args)
        cost[name] = min(cost.get(name, np.inf), 1e3 * (time.process_time() - t) / k)
        return out

    def statistics(images: np.ndarray) -> None:
        stats = PixelStats(run.image_shape, run.center, pipe.mask)
        step = chunk_rows(run.image_shape, 2 ** 19)   # as fitting.py reads the sample
        for a in range(0, k, step):
            stats.update(images[a:a + step])

    for _ in range(repeat):
        images = clock("read (run.images)", run.images, slice(0, k))
        clock("bad-pixel statistics (per sampled hit)", statistics, images)
        v, ok = clock("bin", rep.bin_images, images, pipe.mask, pipe.bin)
        v = rep.photon_scale(v, ok, "sqrt")
        clock("beam centre search", pipe.beam_offsets, v, ok)
        clock("all of raw_features (bin, centre, fill, polar, FFT)", pipe.raw_features,
              images)
        clock("brightness", hit_brightness, images, pipe.mask)
    off = centering.friedel_offsets(v, ok, pipe.binned_center,
                                    float(pipe.params["beam_search"]) / pipe.bin)
    return {"hits": k, "ring_fit": int(np.isnan(off[:, 0]).sum()), "ms": cost}


def print_stages(runs: list) -> None:
    for name, path, _ in runs:
        proc = subprocess.run([sys.executable, str(HERE), "--stages", str(path)],
                              capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"--stages failed:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"\nwhere the CPU goes, {name}: first {r['hits']} hits ({r['ring_fit']} of them "
              f"ring-fitted), best of 3, load {os.getloadavg()[0]:.1f}")
        for stage, ms in r["ms"].items():
            print(f"  {stage:52s} {ms:8.3f} ms CPU / hit")


def worker(step: str, path: str, profile: bool) -> None:
    import h5py  # noqa: F401  (imported before the clock starts, as in a running job)
    from mpi4py import MPI

    import psocake_labeler.features
    import psocake_labeler.io  # noqa: F401

    world = MPI.COMM_WORLD
    comm = world if world.Get_size() > 1 else None
    fn = {"read": step_read, "features": step_features}[step]
    world.Barrier()
    use0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(fn, path, comm)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    else:
        fn(path, comm)
    wall = time.perf_counter() - t
    use = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (use.ru_utime - use0.ru_utime) + (use.ru_stime - use0.ru_stime)
    got = world.gather((wall, cpu, use.ru_maxrss / 2 ** 20), root=0)
    if world.Get_rank() == 0:
        print("RESULT " + json.dumps({"wall": max(g[0] for g in got),
                                      "cpu": sum(g[1] for g in got),
                                      "peak": max(g[2] for g in got)}))


def run_worker(step: str, path: Path, ranks: int, profile: bool = False) -> dict:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    load = os.getloadavg()[0]
    cmd = [str(mpiexec), "-n", str(ranks), sys.executable, str(HERE), "--worker", step,
           str(path)] + (["--profile"] if profile else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"{step} -n {ranks} failed:\n{proc.stderr[-3000:]}")
    if profile:
        print(proc.stderr)
    return {**json.loads(lines[0][7:]), "load": load}


def make_runs(work: Path, hits: int, big: int) -> list[tuple[str, Path, int]]:
    from psocake_labeler.simulate import simulate_run

    runs = [(f"256 x 256, {hits} hits", work / f"pass256_{hits}.cxi", hits, 256),
            (f"1024 x 1024, {big} hits", work / f"pass1024_{big}.cxi", big, 1024)]
    for _, path, n, size in runs:
        if not path.exists():
            print(f"(simulating {path.name}: {n} hits of {size} x {size}, once)", flush=True)
            simulate_run(path, hits=n, shape=size, seed=4, conditions="jitter=2",
                         workers=os.cpu_count() or 1)
    return [(name, path, n) for name, path, n, _ in runs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hits", type=int, default=1500, help="hits of the 256 px run")
    ap.add_argument("--big", type=int, default=40, help="hits of the 1024 px run")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workdir", default="/tmp/psocake_bench_pass")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--worker", nargs=2, metavar=("STEP", "RUN"), help=argparse.SUPPRESS)
    ap.add_argument("--stages", metavar="RUN", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.profile)
        return
    if args.stages:
        print(json.dumps(stage_costs(args.stages)))
        return
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    runs = make_runs(work, args.hits, args.big)
    print(f"bench_features_pass: {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, default feature options; "
          f"least wall and least CPU of {args.repeat} runs (the file is in the page cache)")
    print("| run | ranks | step | wall s | CPU s | ms CPU / hit | peak RSS GiB | load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    ratios = []
    for name, path, n in runs:
        for ranks in args.ranks:
            best: dict = {}
            for _ in range(args.repeat):
                for step in ("read", "features"):
                    r = run_worker(step, path, ranks)
                    # Least wall and least CPU, each over the repeats (load moves both).
                    old = best.get(step, r)
                    best[step] = {**r, "wall": min(r["wall"], old["wall"]),
                                  "cpu": min(r["cpu"], old["cpu"])}
            for step, r in best.items():
                print(f"| {name} | {ranks} | {step} | {r['wall']:.2f} | {r['cpu']:.2f} | "
                      f"{1e3 * r['cpu'] / n:.2f} | {r['peak']:.2f} | {r['load']:.1f} |",
                      flush=True)
            ratios.append((name, ranks, best["features"]["wall"] / best["read"]["wall"],
                           best["features"]["cpu"] / best["read"]["cpu"]))
    for name, ranks, wall, cpu in ratios:
        print(f"features / read, {name}, {ranks} rank(s): {wall:.1f}x wall, {cpu:.1f}x CPU "
              f"(goal <= 1.5)")
    print_stages(runs)
    if args.profile:
        run_worker("features", runs[0][1], 1, profile=True)


if __name__ == "__main__":
    main()
