"""PCA across MPI ranks: each rank sums its rows, one allreduce, the same answer everywhere.

Small feature vectors (D <= ``COV_MAX_DIM``) use the exact covariance, accumulated in
float64 as sum(x) and X^T X block by block. Larger ones (e.g. the plain image) use a
randomized subspace iteration whose only pass over the data is ``X^T (X Q)``, also summed
across ranks, so no rank ever holds a D x D matrix or another rank's rows.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

COV_MAX_DIM = 2048
# Eigenproblems up to this size are solved on one BLAS thread.
SMALL_DIM = 1024

BlockSource = Callable[[], Iterable[np.ndarray]]


def allreduce(value, comm):
    """Sum ``value`` (array or number) over the ranks of ``comm``; identity without one."""
    if comm is None or comm.Get_size() == 1:
        return value
    return comm.allreduce(value)


def fix_signs(components: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of each row positive (first on ties).

    Eigenvectors and principal axes have no sign of their own; this one makes the output
    reproducible across runs, rank counts and BLAS builds.
    """
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1
    return components * signs[:, None]


class Moments:
    """Running count, sum and X^T X of feature rows (float64)."""

    def __init__(self, dim: int, gram: bool = True) -> None:
        self.n = 0
        self.sum = np.zeros(dim)
        self.sq = np.zeros(dim)
        self.gram = np.zeros((dim, dim)) if gram else None

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        self.n += len(x)
        self.sum += x.sum(axis=0)
        self.sq += (x * x).sum(axis=0)
        if self.gram is not None:
            self.gram += x.T @ x

    def reduce(self, comm) -> Moments:
        """Sum over ranks in place; returns self."""
        self.n = int(allreduce(self.n, comm))
        self.sum = allreduce(self.sum, comm)
        self.sq = allreduce(self.sq, comm)
        if self.gram is not None:
            self.gram = allreduce(self.gram, comm)
        return self

    def mean_scale(self, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
        """Mean and per-feature scale (std, or ones when not standardising)."""
        n = max(self.n, 1)
        mean = self.sum / n
        if not standardize:
            return mean, np.ones_like(mean)
        var = np.maximum(self.sq / n - mean ** 2, 0.0)
        std = np.sqrt(var)
        # Constant features are left unscaled rather than blown up.
        floor = 1e-6 * (std.max() if std.size and std.max() > 0 else 1.0)
        return mean, np.where(std > floor, std, 1.0)


def pca_from_moments(mom: Moments, n_components: int,
                     standardize: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact PCA from rank-summed moments.

    Returns ``(mean, scale, components (k, D), explained_variance (k,))``; a feature row x
    maps to ``((x - mean) / scale) @ components.T``.
    """
    mean, scale = mom.mean_scale(standardize)
    n = max(mom.n, 1)
    cov = (mom.gram / n - np.outer(mean, mean)) / np.outer(scale, scale)
    dim = cov.shape[0]
    # Only the top k eigenpairs: much cheaper than the full decomposition for k << D. A
    # small one runs faster on one BLAS thread than on threads that fight MPI ranks for cores.
    with threadpool_limits(1 if dim <= SMALL_DIM else None, user_api="blas"):
        vals, vecs = scipy.linalg.eigh((cov + cov.T) / 2,
                                       subset_by_index=[dim - n_components, dim - 1])
    order = np.argsort(vals)[::-1]
    comps = fix_signs(vecs[:, order].T)
    return mean, scale, comps, np.maximum(vals[order], 0.0)


def randomized_pca(blocks: BlockSource, mom: Moments, n_components: int, standardize: bool,
                   comm=None, n_iter: int = 3, oversample: int = 10, seed: int = 0,
                   on_pass: Callable[[], None] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Randomized subspace iteration on the covariance, one pass over the rows per step.

    ``blocks()`` yields this rank's feature blocks afresh on each call; ``mom`` holds the
    rank-summed count, sum and squares (no gram). The random start is seeded identically
    on every rank, so all ranks follow the same iteration.
    """
    mean, scale = mom.mean_scale(standardize)
    dim = mean.size
    n = max(mom.n, 1)
    width = min(dim, n_components + oversample)
    q = np.random.default_rng(seed).standard_normal((dim, width))

    def cov_times(q: np.ndarray) -> np.ndarray:
        qs = q / scale[:, None]
        acc = np.zeros_like(q)
        for x in blocks():
            acc += np.asarray(x, dtype=np.float64).T @ (np.asarray(x, dtype=np.float64) @ qs)
        acc = allreduce(acc, comm)
        if on_pass is not None:
            on_pass()
        # (X - 1 mean^T)^T (X - 1 mean^T) = X^T X - n mean mean^T, then the scaling.
        acc = (acc / n - np.outer(mean, mean @ qs)) / scale[:, None]
        return acc

    for _ in range(n_iter):
        q, _ = np.linalg.qr(cov_times(q))
    cq = cov_times(q)
    small = q.T @ cq
    vals, vecs = np.linalg.eigh((small + small.T) / 2)
    order = np.argsort(vals)[::-1][:n_components]
    comps = fix_signs((q @ vecs[:, order]).T)
    return mean, scale, comps, np.maximum(vals[order], 0.0)
