"""Which feature representation separates single / multiple / water hits best?

Simulates a PR772-like run (psocake_labeler.simulate), computes features for each
representation and photon scale, and prints, side by side with the prototype's approach
(downsampled masked image + scikit-learn PCA, the reference):

- k-NN accuracy (k=10, stratified 5-fold CV) in feature space against the simulated truth,
- the same for singles vs multiples only (the hard pair),
- silhouette score of the three classes,
- time and peak traced memory of compute_features,
- our PCA against sklearn's PCA on the same pre-PCA features (variance agreement, time).

    python benchmarks/bench_features.py --hits 2000 --shape 64
"""
from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from psocake_labeler.features import FeatureTransform, compute_features
from psocake_labeler.features.reduction import Moments, pca_from_moments
from psocake_labeler.io import open_run
from psocake_labeler.simulate import read_truth, simulate_run

CONFIGS = [
    ("polar", dict(representation="polar", photon="sqrt")),
    ("polar log", dict(representation="polar", photon="log")),
    ("polar none", dict(representation="polar", photon="none")),
    ("polar std", dict(representation="polar", photon="sqrt", standardize=True)),
    ("correlation", dict(representation="correlation", photon="sqrt")),
    ("radial", dict(representation="radial", photon="sqrt")),
    ("image", dict(representation="image", photon="sqrt")),
    ("image log", dict(representation="image", photon="log")),
]


def scores(feats: np.ndarray, labels: np.ndarray, seed: int) -> tuple[float, float, float]:
    """(3-class k-NN accuracy, single-vs-multiple k-NN accuracy, silhouette)."""
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    knn = KNeighborsClassifier(10)
    acc = cross_val_score(knn, feats, labels, cv=cv).mean()
    sm = labels < 2
    acc_sm = cross_val_score(knn, feats[sm], labels[sm], cv=cv).mean()
    sil = silhouette_score(feats, labels, sample_size=min(len(feats), 3000), random_state=seed)
    return float(acc), float(acc_sm), float(sil)


def measured(fn):
    """Run ``fn()``; return (result, seconds, peak traced MiB)."""
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return out, dt, peak


def reference(run, labels, bin_: int, n_pca: int, seed: int):
    """The prototype's features: masked image downsampled by ``bin_`` + sklearn PCA."""
    def work():
        n = len(run)
        h, w = run.image_shape
        mask = run.mask if run.mask is not None else np.ones((h, w), bool)
        rows = []
        for a in range(0, n, 512):
            x = run.images(slice(a, min(a + 512, n)))
            x = np.where(mask & np.isfinite(x), x, 0)[:, :h // bin_ * bin_, :w // bin_ * bin_]
            x = x.reshape(len(x), h // bin_, bin_, w // bin_, bin_).mean(axis=(2, 4))
            rows.append(x.reshape(len(x), -1))
        return PCA(n_pca, random_state=seed).fit_transform(np.concatenate(rows))
    feats, dt, peak = measured(work)
    return feats, dt, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hits", type=int, default=2000)
    ap.add_argument("--shape", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-pca", type=int, default=40)
    ap.add_argument("--bins", default="1,2", help="binning factors to try, comma separated")
    ap.add_argument("--only", default="", help="comma-separated config names to run")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sim = simulate_run(Path(tmp) / "amo06516_0093.cxi", hits=args.hits,
                           shape=(args.shape, args.shape), seed=args.seed, run=93)
        print(f"simulated {args.hits} hits of {args.shape}x{args.shape} in "
              f"{time.perf_counter() - t0:.1f} s")
        run = open_run(sim.path)
        labels = np.asarray(read_truth(sim.truth_path).labels)
        print("classes (Single, Multiple, Water/Unknown):", np.bincount(labels, minlength=3))

        header = (f"{'features':<22}{'bin':>4}{'dim':>6}{'kNN acc':>9}{'S/M acc':>9}"
                  f"{'silh.':>8}{'time s':>8}{'peak MiB':>10}")
        print(header)
        print("-" * len(header))
        bins = [int(b) for b in args.bins.split(",")]
        for b in bins:
            feats, dt, peak = reference(run, labels, b, args.n_pca, args.seed)
            acc, acc_sm, sil = scores(feats, labels, args.seed)
            print(f"{'reference: img+sklearn':<22}{b:>4}{feats.shape[1]:>6}{acc:>9.3f}"
                  f"{acc_sm:>9.3f}{sil:>8.3f}{dt:>8.2f}{peak:>10.1f}")
        only = set(filter(None, args.only.split(",")))
        for b in bins:
            for name, opts in CONFIGS:
                if only and name not in only:
                    continue
                (feats, _), dt, peak = measured(
                    lambda b=b, opts=opts: compute_features(run, bin=b, n_pca=args.n_pca,
                                                            **opts))
                acc, acc_sm, sil = scores(feats, labels, args.seed)
                print(f"{name:<22}{b:>4}{feats.shape[1]:>6}{acc:>9.3f}{acc_sm:>9.3f}"
                      f"{sil:>8.3f}{dt:>8.2f}{peak:>10.1f}", flush=True)

        # Our rank-summed PCA against scikit-learn's on the same pre-PCA features.
        t = FeatureTransform(n_pca=args.n_pca).fit(run)
        raw = np.concatenate([t.raw_features(run.images(slice(a, a + 512)))
                              for a in range(0, len(run), 512)])

        def ours():
            mom = Moments(raw.shape[1])
            for block in np.array_split(raw, max(1, len(raw) // 512)):
                mom.update(block)
            return pca_from_moments(mom, args.n_pca, standardize=False)
        (_, _, comps, var), dt_ours, _ = measured(ours)
        sk, dt_sk, _ = measured(lambda: PCA(args.n_pca, svd_solver="full").fit(
            raw.astype(np.float64)))
        sk_var = sk.explained_variance_ * (len(raw) - 1) / len(raw)
        rel = float((np.abs(var - sk_var) / sk_var).max())
        angle = float(np.abs(np.abs((comps * sk.components_).sum(axis=1)) - 1).max())
        print(f"\nPCA check (default features, N={len(raw)}, D={raw.shape[1]}, d={args.n_pca}): "
              f"ours (sum of X^T X blocks + eigh) {dt_ours:.3f} s, sklearn PCA(full) "
              f"{dt_sk:.3f} s; variance max rel. diff {rel:.1e}, 1-|cos| max {angle:.1e}")

if __name__ == "__main__":
    main()
