"""The top of a large diffusion spectrum: locality order, a coarse lower bound, a filter.

ARPACK on ``S = D^-1/2 K D^-1/2`` itself spends most of its time in its own
re-orthogonalisation (at 10^6 events ~1250 Lanczos steps, each reading a basis of 40
vectors of 8 MB) and in sparse products whose column reads jump over the whole vector.
Three changes, none of which moves the answer beyond the solver's tolerance:

- the rows and columns are put in reverse Cuthill-McKee order (the eigenvectors are
  permuted back), so that a row's neighbours are near it in memory;
- a coarse graph (events merged with their strongest neighbour, repeatedly) is the
  Rayleigh-Ritz projection of ``S`` on the piecewise-constant vectors, so by Cauchy
  interlacing its eigenvalues are lower bounds of ``S``'s: its ``m``-th, ``mu``, has at
  least ``m`` eigenvalues of ``S`` above it, and ``a = 1 - 2 (1 - mu)`` leaves them well
  above ``a``;
- ARPACK then runs on ``T_d((S - c) / e)``, the degree-``d`` Chebyshev polynomial that
  stays within [-1, 1] on ``[-1, a]`` and grows fastest above it. Its top eigenvectors are
  ``S``'s (the polynomial is increasing above ``a``); one ARPACK step now covers ``d``
  products, so its re-orthogonalisation is paid ``d`` times less often.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, reverse_cuthill_mckee
from scipy.sparse.linalg import LinearOperator, eigsh

from .._parallel import row_blocks
from .kernel import symmetric_conjugate

# Degree of the Chebyshev filter: 10 took the fewest CPU seconds at 10^5 and 3 x 10^5
# events (5 and 20 or more: more products for the same ARPACK steps).
DEGREE = 10
# Coarsening stops at this many coarse events (or when a level merges too little).
_COARSE_SIZE = 20000


def locality_order(graph: sp.csr_matrix) -> np.ndarray:
    """Reverse Cuthill-McKee order of a symmetric graph (a permutation of its rows)."""
    return reverse_cuthill_mckee(graph.tocsr(), symmetric_mode=True)


def permute(graph: sp.csr_matrix, order: np.ndarray) -> sp.csr_matrix:
    """``graph[order][:, order]`` with sorted indices."""
    rows = graph.tocsr()[order]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    out = sp.csr_matrix((rows.data, inverse[rows.indices], rows.indptr), shape=graph.shape)
    out.sort_indices()
    return out


def _merge_strongest(kern: sp.csr_matrix) -> np.ndarray:
    """Group labels: each row joined to its strongest off-diagonal neighbour."""
    n = kern.shape[0]
    counts = np.diff(kern.indptr)
    rows = np.repeat(np.arange(n), counts)
    data = np.where(kern.indices == rows, -np.inf, kern.data)
    best = np.arange(n)
    has = counts > 0
    top = np.full(n, -np.inf)
    top[has] = np.maximum.reduceat(data, kern.indptr[:-1][has])
    hit = np.flatnonzero((data == top[rows]) & np.isfinite(data))
    first_rows, first = np.unique(rows[hit], return_index=True)
    best[first_rows] = kern.indices[hit[first]]
    pointer = sp.csr_matrix((np.ones(n), (np.arange(n), best)), shape=(n, n))
    return connected_components(pointer, directed=False)[1]


def coarse_bound(kern: sp.csr_matrix, deg: np.ndarray, m: int
                 ) -> Optional[tuple[float, np.ndarray]]:
    """A lower bound of the ``m``-th eigenvalue of ``D^-1/2 K D^-1/2`` and a start vector.

    ``kern`` is the (alpha-normalised) kernel, ``deg`` its row sums. The coarse matrix is
    ``Kc = P^T K P`` for the aggregation ``P`` (rows merged with their strongest neighbour,
    level after level), ``Dc = P^T deg``: ``Dc^-1/2 Kc Dc^-1/2`` is ``S`` projected on the
    orthonormal columns ``D^1/2 P Dc^-1/2``, so its ``m``-th eigenvalue is at most ``S``'s.
    The start vector is the sum of the top ``m`` coarse eigenvectors taken back to the
    events. None when the graph does not coarsen below :data:`_COARSE_SIZE` events.
    """
    n = kern.shape[0]
    label = np.arange(n)
    coarse = kern.tocsr()
    while coarse.shape[0] > _COARSE_SIZE or len(label) == coarse.shape[0]:
        merged = _merge_strongest(coarse)
        size = int(merged.max()) + 1
        if size > 0.7 * coarse.shape[0]:
            return None
        c = coarse.tocoo()
        coarse = sp.csr_matrix((c.data, (merged[c.row], merged[c.col])), shape=(size, size))
        label = merged[label]
    nc = coarse.shape[0]
    if nc < m + 2:
        return None
    dc = np.bincount(label, weights=deg, minlength=nc)
    sym_c = symmetric_conjugate(coarse, dc)
    v0 = np.random.default_rng(0).standard_normal(nc)
    mu, y = eigsh(sym_c, k=m, which="LA", v0=v0, tol=1e-10, ncv=min(nc, max(2 * m + 3, 40)))
    start = np.sqrt(deg) * (y.sum(axis=1) / np.sqrt(dc))[label]
    return float(mu.min()), start


def chebyshev_operator(sym: sp.csr_matrix, lower: float, pool: ThreadPoolExecutor,
                       parts: int, degree: int = DEGREE) -> LinearOperator:
    """``T_degree((S - c) / e)`` with ``[c - e, c + e] = [-1, lower]``, by row blocks.

    Each block's rows of each step ``t2 = 2 (S - c) t1 / e - t0`` are computed by one
    thread from the whole previous vectors (scipy's sparse product releases the GIL);
    every element gets the same operations whatever the number of blocks, so the result
    does not depend on it.
    """
    n = sym.shape[0]
    centre, half = (lower - 1.0) / 2.0, (lower + 1.0) / 2.0
    # 2 (S - c) / e as one matrix: the shift rides in the product (one pass less per step).
    scaled = (sym * (2.0 / half) - sp.identity(n, format="csr") * (2.0 * centre / half))
    scaled = scaled.tocsr()
    scaled.sort_indices()
    blocks = row_blocks(scaled, parts)

    def step(t1: np.ndarray, t0: Optional[np.ndarray]) -> np.ndarray:
        def one(block: tuple) -> np.ndarray:
            a, b, rows = block
            part = rows @ t1
            if t0 is None:
                part *= 0.5
            else:
                part -= t0[a:b]
            return part
        if parts == 1:
            return one(blocks[0])
        return np.concatenate(list(pool.map(one, blocks)))

    def matvec(x: np.ndarray) -> np.ndarray:
        t0 = np.ravel(x).astype(np.float64)
        t1 = step(t0, None)
        for _ in range(degree - 1):
            t0, t1 = t1, step(t1, t0)
        return t1

    return LinearOperator((n, n), matvec=matvec, rmatvec=matvec, dtype=np.float64)
