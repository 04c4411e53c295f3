"""Speed of propagate() and recommend(10) at 100,000 events, next to scikit-learn.

A k-NN graph (Gaussian weights, symmetric) over 100k points in 10 dimensions (three classes,
one of them half of the events, like Water/Unknown in a run) stands in for a manifold.
The timed step is what the GUI does after each click: one new label, then propagate()
warm-started from the previous result, then recommend(10). The reference is
``sklearn.semi_supervised.LabelSpreading(kernel="knn").fit`` on the same coordinates with the
same labels.

    python benchmarks/bench_propagation_speed.py [--n 100000] [--k 20] [--dim 10] [--skip-sklearn]
        [--cache graph.npz]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import make_blobs
from sklearn.neighbors import NearestNeighbors

from psocake_labeler.labelling.propagation import METHODS, propagate
from psocake_labeler.labelling.recommend import recommend


def knn_kernel(x: np.ndarray, k: int) -> sp.csr_matrix:
    """Symmetric Gaussian k-NN kernel, zero diagonal (the form of ``Manifold.graph``)."""
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    dist, idx = dist[:, 1:], idx[:, 1:]
    sigma = np.median(dist[:, -1])
    w = np.exp(-(dist / sigma) ** 2).ravel()
    n = x.shape[0]
    g = sp.csr_matrix((w, (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n))
    g = g.maximum(g.T).tocsr()
    g.setdiag(0)
    g.eliminate_zeros()
    return g


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--dim", type=int, default=10, help="dimension of the point cloud")
    ap.add_argument("--labels", type=int, default=200, help="labels before the timed click")
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument("--cache", default="", help="save/load the k-NN graph here (.npz)")
    args = ap.parse_args()

    n = args.n
    x, y = make_blobs(n_samples=[n // 4, n // 4, n - 2 * (n // 4)], n_features=args.dim,
                      cluster_std=[1.0, 1.2, 1.5], center_box=(-3.0, 3.0),
                      random_state=7)
    cache = Path(args.cache) if args.cache else None
    t = time.perf_counter()
    if cache is not None and cache.exists():
        g = sp.load_npz(cache).tocsr()
        print(f"graph: {n} events, k={args.k}, nnz={g.nnz}, loaded from {cache}")
    else:
        g = knn_kernel(x, args.k)
        print(f"graph: {n} events, k={args.k}, nnz={g.nnz}, built in "
              f"{time.perf_counter() - t:.1f} s")
        if cache is not None:
            sp.save_npz(cache, g)
    rng = np.random.default_rng(0)
    rows = rng.choice(n, args.labels + 1, replace=False)
    old, new = rows[:-1], rows

    print(f"\n{'step':44s} {'time (s)':>9s}")
    results = {}
    for method in METHODS:
        t = time.perf_counter()
        prev = propagate(g, old, y[old], 3, method=method)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        p = propagate(g, new, y[new], 3, method=method, warm_start=prev)
        warm = time.perf_counter() - t
        t = time.perf_counter()
        picks = recommend(g, p, new, 10)
        rec = time.perf_counter() - t
        un = np.setdiff1d(np.arange(n), new)
        acc = float(np.mean(p.predicted[un] == y[un]))
        results[method] = (cold, warm, rec, acc)
        print(f"{'propagate ' + method + ' (cold, first call)':44s} {cold:9.3f}")
        print(f"{'propagate ' + method + ' (warm, one new label)':44s} {warm:9.3f}")
        print(f"{'recommend(10) after ' + method:44s} {rec:9.3f}   picks {picks[:3]}...")
    t = time.perf_counter()
    recommend(g, None, [], 10, coords=x)
    print(f"{'recommend(10) cold start (k-means on coords)':44s} {time.perf_counter() - t:9.3f}")

    if not args.skip_sklearn:
        from sklearn.semi_supervised import LabelSpreading

        yy = np.full(n, -1)
        yy[new] = y[new]
        t = time.perf_counter()
        ls = LabelSpreading(kernel="knn", n_neighbors=args.k).fit(x, yy)
        sk = time.perf_counter() - t
        sk_acc = float(np.mean(ls.transduction_[un] == y[un]))
        print(f"{'sklearn LabelSpreading(kernel=knn).fit':44s} {sk:9.3f}")
    print(f"\npeak RSS {peak_rss_mb():.0f} MB")
    print("\n| method | propagate warm (s) | recommend(10) (s) | "
          f"accuracy ({args.labels + 1} random labels) |"
          " speed-up vs sklearn fit |")
    print("| --- | --- | --- | --- | --- |")
    for method, (_cold, warm, rec, acc) in results.items():
        up = f"{sk / warm:.0f}x" if not args.skip_sklearn else "-"
        print(f"| {method} | {warm:.3f} | {rec:.3f} | {acc:.3f} | {up} |")
    if not args.skip_sklearn:
        print(f"| sklearn LabelSpreading knn | {sk:.3f} (fit) | - | {sk_acc:.3f} | 1x |")


if __name__ == "__main__":
    main()
