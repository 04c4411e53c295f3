"""A whole experiment on one manifold: every scale number of issue 14 in one run.

    python benchmarks/bench_scale.py [--parts knn,build,propagate,features,dock,extend,runs]
        [--n 1000000] [--workdir /tmp/bench_scale] [--sklearn-workdir DIR]
        [--skip-sklearn] [--skip-pydiffmap] [--new 100000] [--runs 100] [--hits 1000]
        [--ranks 2] [--repeat 3]

Parts (each timed step runs in a fresh Python process, so that its peak RSS is its own; the
1-minute load average is printed beside every time, since the machine is shared):

* ``knn``: 20,000 x 1,000 float32 features of a 5-D latent lifted by random Fourier
  features plus noise (the k-NN cannot prune them): our k-NN (k = 64), one all-pairs
  float32 GEMM ``X @ X.T``, ``build_manifold`` and pydiffmap
  ``DiffusionMap.from_sklearn(n_evecs=10, k=64, epsilon="bgh", alpha=1.0)``; then the same
  on the structured data of bench_diffusion.py (a 3-D latent), where the goal is >= 5x.
  Each step runs ``--repeat`` times, alternating; min and median of each are printed.
* ``build``: ``build_manifold(X, n_components=10)`` of ``--n`` events x 40 features (three
  classes, each a 4-D latent lifted to 40 features), with the time of each stage; the
  manifold is cached in ``--workdir`` for the parts below.
* ``propagate`` (bench_scale_click.py): on that manifold, 300 labels, then the click: one
  more label with its durable save (the label store), ``propagate`` warm-started,
  ``recommend(10)``, and 4 more clicks; the answer shown against the full one;
  scikit-learn ``LabelSpreading`` on the coordinates (at most 10^5 events: with a larger
  ``--n`` the click is timed again on the 10^5 manifold in ``--sklearn-workdir``, beside
  scikit-learn).
* ``features``: the features pass of a simulated run at 256 px against h5py's raw read of
  the same blocks.
* ``dock``: the Label Manifold dock on that manifold, offscreen (bench_scale_dock.py): open,
  300 labels, then label-propagate-redraw cycles; saves a screenshot in ``--workdir``.
* ``extend`` and ``runs`` (bench_scale_runs.py): 10^5 new events onto the cached manifold
  (``--new``); ``embed`` of ``--runs`` simulated runs as one manifold under mpiexec.
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
from bench_scale_click import print_propagate, step_propagate  # noqa: F401  (steps by name)
from bench_scale_dock import print_dock, step_dock  # noqa: F401  (steps by name)
from bench_scale_runs import add_arguments, part_extend, part_runs, step_extend  # noqa: F401
from scale_data import clock, clocks, experiment, load, peak_gib, structured, unprunable

HERE = Path(__file__).resolve().parent
PARTS = ("knn", "build", "propagate", "features", "dock", "extend", "runs")
#: The largest manifold scikit-learn's LabelSpreading is run on (its dense steps at 10^6
#: events do not fit); with a larger ``--n`` the click is also timed at this size.
SKLEARN_N = 100_000
#: The k-NN part's inputs, by the name a step is given.
DATA = {"unprunable": unprunable, "structured": structured}


def step_knn_ours(data: str) -> dict:
    from psocake_labeler.neighbors import knn

    x = DATA[data]()
    stats: dict = {}
    _, t, c, _ = clocks(knn, x, 64, stats=stats)
    return {"time": t, "tcpu": c, "pairs": stats["pairs"] / stats["all_pairs"]}


def step_gemm(data: str) -> dict:
    x = DATA[data]()
    # The N x N result is made on purpose: one all-pairs float32 GEMM.
    g, t, c, _ = clocks(np.matmul, x, x.T)
    return {"time": t, "tcpu": c, "check": float(g[0, 0])}


def step_build_small(data: str) -> dict:
    import psocake_labeler as pl

    x = DATA[data]()
    m, t, c, _ = clocks(pl.build_manifold, x, n_components=10, knn=64, alpha=1.0)
    return {"time": t, "tcpu": c, "vals": m.eigenvalues[:5].tolist()}


def step_pydiffmap(data: str) -> dict:
    from pydiffmap.diffusion_map import DiffusionMap

    x = DATA[data]().astype(np.float64)
    dm = DiffusionMap.from_sklearn(n_evecs=10, k=64, epsilon="bgh", alpha=1.0)
    _, t, c, _ = clocks(dm.fit, x)
    return {"time": t, "tcpu": c, "vals": np.real(dm.evals[:5]).tolist()}


def manifold_path(workdir: str, n: int) -> Path:
    return Path(workdir) / f"experiment_{n}.h5"


def step_build(workdir: str, n: str) -> dict:
    """build_manifold of the experiment array, with the time of each stage; saved for the
    parts below."""
    import psocake_labeler as pl

    x, y = experiment(int(n))
    marks: dict = {}
    t0 = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        marks.setdefault(f"{stage} start", time.perf_counter() - t0)
        marks[f"{stage} end"] = time.perf_counter() - t0

    m = pl.build_manifold(x, n_components=10, knn=15, progress=progress)
    total = time.perf_counter() - t0
    Path(workdir).mkdir(parents=True, exist_ok=True)
    m.save(manifold_path(workdir, int(n)))
    np.save(Path(workdir) / f"experiment_{n}_truth.npy", y)
    knn_end = marks.get("k-NN end", 0.0)
    eig0, eig1 = marks.get("eigensolve start", knn_end), marks.get("eigensolve end", total)
    return {"time": total, "knn": knn_end, "kernel": eig0 - knn_end, "eigensolve": eig1 - eig0,
            "nnz": int(m.graph.nnz), "vals": m.eigenvalues[:4].tolist()}


def step_sklearn(workdir: str, n: str) -> dict:
    """scikit-learn LabelSpreading (knn kernel, 15 neighbours) on the diffusion coordinates
    with the same 301 labels."""
    from sklearn.semi_supervised import LabelSpreading

    import psocake_labeler as pl

    m = pl.Manifold.load(manifold_path(workdir, int(n)))
    y = np.load(Path(workdir) / f"experiment_{n}_truth.npy")
    rows = np.random.default_rng(0).choice(len(m), 301, replace=False)
    yy = np.full(len(m), -1)
    yy[rows] = y[rows]
    ls, t = clock(LabelSpreading(kernel="knn", n_neighbors=15).fit, m.coords, yy)
    un = np.setdiff1d(np.arange(len(m)), rows)
    return {"time": t, "accuracy": float(np.mean(ls.transduction_[un] == y[un]))}


def step_raw_read(path: str) -> dict:
    """h5py's read of the image blocks the features pass reads (the same rows per block)."""
    import h5py

    from psocake_labeler.features.stream import chunk_rows

    with h5py.File(path, "r") as f:
        ds = f["entry_1/instrument_1/detector_1/data"]
        rows = chunk_rows(ds.shape[1:])
        t = time.perf_counter()
        total = 0.0
        for a in range(0, ds.shape[0], rows):
            block = np.asarray(ds[a:a + rows], dtype=np.float32)
            total += float(block[0, 0, 0])
        return {"time": time.perf_counter() - t, "blocks": -(-ds.shape[0] // rows)}


def step_features(path: str) -> dict:
    """The features pass of ``embed`` (fit: pixel statistics, PCA; the features) on one rank."""
    from psocake_labeler.features import compute_features
    from psocake_labeler.io import open_run

    run = open_run(path)
    feats, t = clock(compute_features, run)
    return {"time": t, "shape": list(feats[0].shape)}


STEPS = {name[5:]: fn for name, fn in list(globals().items()) if name.startswith("step_")}


def run_step(name: str, *args: str) -> dict:
    """``STEPS[name](*args)`` in a fresh Python process; its result, peak RSS and the load
    average before it started."""
    before = load()
    cmd = [sys.executable, __file__, "--step", name, "--", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"step {name} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load"] = before
    return out


def line(label: str, r: dict, extra: str = "") -> None:
    print(f"  {label:44s} {r['time']:8.2f} s  cpu {r['cpu']:7.1f} s  peak {r['peak']:5.2f} GiB"
          f"  (load {r['load']:.1f}){extra}", flush=True)


def repeated(names: list[str], data: str, repeat: int) -> dict:
    """Each step ``repeat`` times, alternating (a load change hits every side alike), each
    in a fresh process whose one timed call is its first (imports and making the array are
    outside the clock, first-call costs inside, the same for every side); per step the
    min and median of wall and CPU seconds."""
    runs: dict = {name: [] for name in names}
    for _ in range(repeat):
        for name in names:
            runs[name].append(run_step(name, data))
    out = {}
    for name, rs in runs.items():
        r = dict(rs[-1])
        for key in ("time", "tcpu"):
            vals = [q[key] for q in rs]
            r[key], r[key + "_med"] = min(vals), float(np.median(vals))
        r["cpu"] = min(q["cpu"] for q in rs)
        r["peak"] = max(q["peak"] for q in rs)
        r["load"], r["load_max"] = min(q["load"] for q in rs), max(q["load"] for q in rs)
        out[name] = r
    return out


def stat_line(label: str, r: dict, extra: str = "") -> None:
    print(f"  {label:44s} {r['time']:7.2f} / {r['time_med']:7.2f} s  cpu {r['tcpu']:6.2f} / "
          f"{r['tcpu_med']:6.2f} s  peak {r['peak']:5.2f} GiB  (load {r['load']:.1f}-"
          f"{r['load_max']:.1f}){extra}", flush=True)


def ratios(label: str, a: dict, b: dict, goal: str) -> None:
    """a / b of the min and of the median, in wall and in CPU seconds of the timed calls."""
    print(f"  {label} = {a['time'] / b['time']:.2f}x wall (min), "
          f"{a['time_med'] / b['time_med']:.2f}x (median); {a['tcpu'] / b['tcpu']:.2f}x cpu "
          f"(min), {a['tcpu_med'] / b['tcpu_med']:.2f}x (median) {goal}")


DESCRIBE = {"unprunable": "5-D latent + noise", "structured": "3-D latent, bench_diffusion.py"}
LABELS = {"knn_ours": "our k-NN", "gemm": "one float32 GEMM X @ X.T",
          "build_small": "build_manifold (k-NN + kernel + eigensolve)",
          "pydiffmap": "pydiffmap from_sklearn"}


def part_knn(args: argparse.Namespace) -> None:
    print(f"\n(each step {args.repeat}x, alternating, each a fresh process's first call; "
          "min / median of wall and of CPU seconds of the timed call)")
    for data, names, goal in (("unprunable", ["knn_ours", "gemm", "build_small", "pydiffmap"],
                               "(goal >= 2)"),
                              ("structured", ["build_small", "knn_ours", "pydiffmap"],
                               "(goal >= 5)")):
        print(f"\n== k-NN: {data} 20,000 x 1,000 ({DESCRIBE[data]}), k = 64 ==")
        if args.skip_pydiffmap:
            names.remove("pydiffmap")
        res = repeated(names, data, args.repeat)
        for name in names:
            r = res[name]
            stat_line(LABELS[name], r, f"  ({r['pairs']:.1%} of pairs in full)"
                      if "pairs" in r else "")
        if "gemm" in res:
            ratios("k-NN / GEMM", res["knn_ours"], res["gemm"], "(goal <= 1)")
        if "pydiffmap" in res:
            ratios("pydiffmap / build_manifold", res["pydiffmap"], res["build_small"], goal)


def part_build(args: argparse.Namespace) -> None:
    print(f"\n== build_manifold of {args.n:,} x 40 features (3 classes of 4-D latents), "
          "knn=15, 10 components ==")
    r = run_step("build", args.workdir, str(args.n))
    line("build_manifold", r, "  (goal < 180 s, < 4 GiB)")
    print(f"    k-NN {r['knn']:.1f} s, kernel + bandwidth + links {r['kernel']:.1f} s, "
          f"eigensolve {r['eigensolve']:.1f} s; graph nnz {r['nnz']:,}")


def part_propagate(args: argparse.Namespace) -> None:
    sizes = [(args.workdir, args.n)]
    small = Path(args.sklearn_workdir or args.workdir)
    if not args.skip_sklearn and args.n > SKLEARN_N:
        # scikit-learn cannot do 10^6 events: it runs on the 10^5 manifold, and so do we
        sizes.append((str(small), SKLEARN_N))
    for workdir, n in sizes:
        if not manifold_path(workdir, n).exists():
            # the build part made only --n's manifold: the 10^5 one is made here, once
            print(f"\n(building {manifold_path(workdir, n)} for the click, once)")
            run_step("build", workdir, str(n))
        print(f"\n== the click on {n:,} events: 300 random labels, then one more ==")
        r = run_step("propagate", workdir, str(n))
        print_propagate(r)
        if not args.skip_sklearn and n <= SKLEARN_N:
            sk = run_step("sklearn", workdir, str(n))
            line("scikit-learn LabelSpreading(kernel=knn).fit", sk,
                 f"  accuracy {sk['accuracy']:.4f}")


def part_features(args: argparse.Namespace) -> None:
    path = Path(args.workdir) / "run256.cxi"
    if not path.exists():
        print(f"\n(simulating {path}: 1500 hits of 256 x 256, once)")
        subprocess.run([sys.executable, "-m", "psocake_labeler", "simulate", str(path),
                        "--hits", "1500", "--shape", "256", "--quiet"], check=True)
    print("\n== features pass vs h5py's raw read of the same blocks: 1500 hits, 256 x 256, "
          "one rank (best of 3, alternating; the file is in the page cache) ==")
    best: dict = {}
    for _ in range(3):
        for name in ("raw_read", "features"):
            r = run_step(name, str(path))
            if name not in best or r["time"] < best[name]["time"]:
                best[name] = r
    line("h5py read of the same blocks", best["raw_read"])
    line("compute_features (polar, PCA 40)", best["features"])
    print(f"  features / raw read = {best['features']['time'] / best['raw_read']['time']:.2f}x"
          " (goal <= 1.5)")


def part_dock(args: argparse.Namespace) -> None:
    print(f"\n== the Label Manifold dock on {args.n:,} events (offscreen Qt, 1400 x 900) ==")
    print_dock(run_step("dock", args.workdir, str(args.n), str(args.cycles),
                        args.dock_out or args.workdir))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--workdir", default="/tmp/bench_scale")
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument("--sklearn-workdir", default=None,
                    help="where the 10^5 manifold (--parts build --n 100000) is, when --n > "
                         "10^5 (default: --workdir)")
    ap.add_argument("--skip-pydiffmap", action="store_true")
    ap.add_argument("--dock-out", default=None, help="folder of the dock part's label store "
                    "and screenshot (default: --workdir)")
    ap.add_argument("--cycles", type=int, default=8, help="label cycles of the dock part")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each step of the knn part")
    add_arguments(ap)
    ap.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        out = STEPS[args.step](*args.rest)
        out["peak"] = peak_gib()
        use = resource.getrusage(resource.RUSAGE_SELF)
        out["cpu"] = use.ru_utime + use.ru_stime
        print(json.dumps(out))
        return
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    print(f"bench_scale: {os.cpu_count()} cores, load {load():.1f}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for part in args.parts.split(","):
        globals()[f"part_{part}"](args)


if __name__ == "__main__":
    main()
