"""Error of the per-hit beam centre on simulated runs whose true centres are known.

The simulator jitters the beam per hit and writes each true centre to the truth file
(``params/beam_center``). For each run and working size this prints, per kind of hit, the
median and 90th percentile of the distance (image pixels) between the found and the true
centre, for:

* ``nominal``: the run's centre (no search), what the features used before issue 13;
* ``centroid``: ``scipy.ndimage.center_of_mass`` of the good pixels' counts, the usual
  quick estimate (reference);
* ``friedel``: Friedel symmetry only (``centering.friedel_offsets``; nominal where too few
  mirror pairs are good);
* ``ring``: the ring fit only (``ringfit.ring_offsets``; nominal where it finds none);
* ``fr.first``: Friedel symmetry, then the ring fit where Friedel has too few pairs
  (``centre="friedel"``, the default before 2026-12-02);
* ``ours``: ``centering.beam_offsets`` with the default ``centre`` (``"rings"``: the ring
  fit, then Friedel symmetry where the fit finds none), what ``beam_search`` uses.

Runs with a dead half are also split by where the beam fell (on the live or the dead half).

    python benchmarks/bench_beam_centre.py [--hits 300] [--sizes 64,128] [--search 14]
        [--workdir /tmp/psocake_bench_centre]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from psocake_labeler.features import DEFAULTS, centering, ringfit
from psocake_labeler.features import representations as rep
from psocake_labeler.io import open_run
from psocake_labeler.simulate import read_truth, simulate_run

RUNS = ("jitter=2", "jitter=6,dead_half=bottom", "jitter=2,clipped=0.5")
KINDS = ("single", "multiple", "water", "nonhit")


def working_images(path: Path, size: int):
    """Photon-scaled working images, their good masks, the working centre and the bin."""
    run = open_run(str(path))
    images = run.images(slice(None))
    h, w = run.image_shape
    mask = run.mask if run.mask is not None else np.ones((h, w), dtype=bool)
    good = mask[None] & ~centering.zero_rows(images, mask, max(2, h // 16))
    b = max(1, max(h, w) // size)
    v, ok = rep.bin_images(images, good, b)
    centre = rep.binned_center(((h - 1) / 2.0, (w - 1) / 2.0), b)
    return rep.photon_scale(v, ok, "sqrt"), ok, centre, b, ((h - 1) / 2.0, (w - 1) / 2.0)


def centroid(v: np.ndarray, ok: np.ndarray, centre) -> np.ndarray:
    """Offsets of each image's intensity centroid (counts of the good pixels)."""
    out = np.zeros((len(v), 2))
    for k in range(len(v)):
        counts = np.where(ok[k], v[k], 0.0) ** 2
        if counts.sum() > 0:
            out[k] = np.array(ndimage.center_of_mass(counts)) - np.asarray(centre)
    return out


def timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def summary(err: np.ndarray, kinds: np.ndarray, sel: np.ndarray) -> str:
    parts = []
    for k in KINDS:
        s = sel & (kinds == k)
        if s.any():
            parts.append(f"{k} {np.median(err[s]):.2f} / {np.quantile(err[s], 0.9):.2f}")
    return "; ".join(parts)


def run_one(path: Path, size: int, search: float, dead: bool) -> None:
    truth = read_truth(path)
    kinds = np.asarray(truth.kinds).astype(str)
    v, ok, centre, b, full_centre = working_images(path, size)
    true = truth.params["beam_center"] - np.asarray(full_centre)
    s = search / b
    methods = {
        "nominal": lambda: np.zeros((len(v), 2)),
        "centroid": lambda: centroid(v, ok, centre),
        "friedel": lambda: np.nan_to_num(centering.friedel_offsets(v, ok, centre, s)),
        "ring": lambda: np.nan_to_num(ringfit.ring_offsets(v, ok, centre, s)),
        "fr.first": lambda: centering.beam_offsets(v, ok, centre, s, "friedel"),
        "ours": lambda: centering.beam_offsets(v, ok, centre, s, DEFAULTS["centre"]),
    }
    clipped = np.asarray(truth.params["clipped"]) > 0
    for name, fn in methods.items():
        off, wall, cpu = timed(fn)
        err = np.hypot(*(off * b - true).T)
        every = np.ones(len(err), dtype=bool)
        line = f"    {name:9s} {summary(err, kinds, every)}"
        print(f"{line}   [{wall:.1f} s wall, {cpu:.1f} s CPU]")
        if dead:
            on_dead = true[:, 0] > 1.0          # the bottom half is dead
            print(f"      beam on live half ({np.sum(true[:, 0] < -1.0)} hits): "
                  f"{summary(err, kinds, true[:, 0] < -1.0)}")
            print(f"      beam on dead half ({on_dead.sum()} hits): "
                  f"{summary(err, kinds, on_dead)}")
        if clipped.any():
            print(f"      clipped hits ({clipped.sum()}): {summary(err, kinds, clipped)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hits", type=int, default=300)
    ap.add_argument("--sizes", default="64,128", help="working sizes (pixels)")
    ap.add_argument("--search", type=float, default=14.0, help="search radius, image pixels")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--runs", default=";".join(RUNS), help="';'-separated conditions")
    ap.add_argument("--workdir", default="/tmp/psocake_bench_centre")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f}; {args.hits} hits of 128 x 128 per run, "
          f"seed {args.seed}, search +-{args.search:g} px; error = |found - true| in image "
          f"pixels, median / 90% per kind")
    for cond in args.runs.split(";"):
        tag = cond.replace(",", "_").replace("=", "")
        path = work / f"centre_{tag}_{args.seed}_{args.hits}.cxi"
        if not path.exists():
            simulate_run(path, hits=args.hits, shape=128, seed=args.seed, conditions=cond)
        for size in (int(x) for x in args.sizes.split(",")):
            print(f"\n  {cond}, working size {size}:")
            run_one(path, size, args.search, "dead_half" in cond)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
