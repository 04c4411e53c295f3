"""Run under mpiexec: build a manifold from a fixed array and save what rank 0 got.

Usage: embed_ranks.py OUT.npz [ring|gather] [narrow|wide|noise]

``wide`` lifts the data to 200 features, so that the k-NN screens them through a projection;
``noise`` is 200 features of noise, which nothing prunes (the k-NN's brute-force path).
"""
import sys

import numpy as np
from mpi4py import MPI

import psocake_labeler.neighbors.mpi as dist
from psocake_labeler import build_manifold


def data(width: str = "narrow") -> np.ndarray:
    """Three noisy clusters on a curve, with exact duplicate rows to exercise tie-breaking."""
    rng = np.random.default_rng(7)
    t = rng.uniform(0, 3, 601)
    x = np.c_[np.cos(t), np.sin(t), t, rng.normal(0, 0.05, (601, 5))]
    if width == "wide":
        x = np.tanh(x @ rng.normal(0, 1, (8, 200))) + rng.normal(0, 0.01, (601, 200))
    elif width == "noise":
        x = rng.normal(0, 1, (601, 200))
    x[100:110] = x[50]  # duplicates: equal distances everywhere
    return x.astype(np.float32)


def main() -> int:
    out, mode = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "gather")
    if mode == "ring":
        dist.GATHER_LIMIT = 0
    comm = MPI.COMM_WORLD
    m = build_manifold(data(*sys.argv[3:4]), n_components=6, knn=12,
                       comm=comm if comm.size > 1 else None)
    if comm.rank == 0:
        g = m.graph
        np.savez(out, data=g.data, indices=g.indices, indptr=g.indptr,
                 eigenvalues=m.eigenvalues, coords=m.coords, size=comm.size)
    else:
        assert m is None
    return 0


if __name__ == "__main__":
    sys.exit(main())
