"""The diffusion-map eigenproblem: alpha normalisation, symmetric conjugate, eigsh.

Never dense, never shift-invert: the top eigenpairs of ``D^-1/2 K_alpha D^-1/2`` by
ARPACK's Lanczos (``eigsh(which="LA")``) or LOBPCG, from a fixed start vector.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh, lobpcg
from threadpoolctl import threadpool_limits

from .._parallel import available_cores, row_split_operator
from ..errors import InputError
from ..features.reduction import fix_signs
from ..progress import ProgressCallback, report
from .filtered import chebyshev_operator, coarse_bound, locality_order, permute
from .kernel import scale_symmetric, symmetric_conjugate

# From this many events the eigensolver's sparse products run on all cores, by row blocks.
_SPLIT_MATVEC = 5000
# From this many events the graph is put in locality order and ARPACK runs on a Chebyshev
# filter of it (embedding/filtered.py): at 10^5 events 2.5 s of CPU against 6, at 3 x 10^5
# 14.5 s against 41. Below, the plain solve is as fast and keeps its bits.
FILTER_FROM = 50000
# Largest residual |S v - lambda v| the filtered solve may return; else the plain one runs.
_FILTER_RESIDUAL = 1e-9


def _alpha_normalise(graph: sp.csr_matrix, alpha: float) -> tuple[sp.csr_matrix, np.ndarray]:
    """Kernel divided by ``q_i^alpha q_j^alpha``, ``q`` its row sums; also returns ``q``."""
    kern = graph.tocsr()
    q = np.asarray(kern.sum(axis=1)).ravel()
    if alpha:
        kern = scale_symmetric(kern, q ** -alpha)
    return kern, q


def diffusion_eigs(graph: sp.csr_matrix, n_components: int, alpha: float = 1.0,
                   solver: str = "eigsh", progress: Optional[ProgressCallback] = None,
                   maxiter: int = 1000, random_state: int = 0,
                   filtered: Optional[bool] = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top non-trivial eigenpairs of the diffusion (Markov) matrix of ``graph``.

    Returns ``(eigenvalues (m,), psi (N, m), q (N,))``: eigenvalues descending without the
    trivial 1, right eigenvectors normalised to unit mean square under the stationary
    measure with a fixed sign, and the kernel sums ``q`` used by alpha normalisation.
    ``random_state`` seeds the solver's start vector (the answer does not depend on it
    beyond the solver's tolerance). ``filtered`` forces (True) or forbids (False) the
    locality-ordered, Chebyshev-filtered eigsh; default: from :data:`FILTER_FROM` events.
    Both stop at residuals ``|S v - lambda v|`` of 1e-10 or less (eigenvalues to ~1e-14).
    Raises ``scipy.sparse.linalg.ArpackNoConvergence`` after ``maxiter`` restarts.
    """
    n = graph.shape[0]
    m = int(n_components)
    if not 1 <= m <= n - 2:
        raise InputError(f"n_components={m} needs 1 <= n_components <= events - 2 ({n - 2})")
    if solver not in ("eigsh", "lobpcg"):
        raise InputError(f"unknown eigensolver {solver!r}; use 'eigsh' or 'lobpcg'")
    v0 = np.random.default_rng(random_state).standard_normal(n)
    if filtered is None:
        filtered = n >= FILTER_FROM
    order = locality_order(graph) if filtered and solver == "eigsh" else None
    if order is not None:
        graph, v0 = permute(graph, order), v0[order]
    kern, q = _alpha_normalise(graph, alpha)
    deg = np.asarray(kern.sum(axis=1)).ravel()
    sym = symmetric_conjugate(kern, deg)
    report(progress, "eigensolve", 0, 1)
    # One BLAS thread: the solver's vector operations are too small to gain from threads,
    # and on a loaded machine OpenBLAS threads spin-waiting for a core made the same
    # eigensolve take 5 s instead of 0.9 s (20,000 events, k=64). It also makes the result
    # independent of the BLAS thread count.
    # The sparse products, most of the time, run by row blocks on every core instead.
    threads = available_cores() if n >= _SPLIT_MATVEC and solver == "eigsh" else 1
    with threadpool_limits(1), ThreadPoolExecutor(threads) as pool:
        vals, vecs = None, None
        if order is not None:
            vals, vecs = _filtered_eigsh(kern, deg, sym, m + 1, pool, threads, maxiter)
        if vals is None:
            vals, vecs = _solve(sym, deg, m + 1, solver, v0, pool, threads, maxiter,
                                random_state)
    report(progress, "eigensolve", 1, 1)
    if order is not None:
        inverse = np.empty_like(order)
        inverse[order] = np.arange(n)
        vecs, deg, q = vecs[inverse], deg[inverse], q[inverse]
    return _right_vectors(vals, vecs, deg, q)


def _solve(sym: sp.csr_matrix, deg: np.ndarray, k: int, solver: str, v0: np.ndarray,
           pool: ThreadPoolExecutor, threads: int, maxiter: int, random_state: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """The plain solve of ``sym``'s top ``k`` eigenpairs."""
    n = sym.shape[0]
    if solver == "eigsh":
        op = row_split_operator(sym, pool, threads) if threads > 1 else sym
        # tol: residuals of 1e-10 leave the eigenvalues exact to ~1e-15 (Ritz values
        # converge quadratically) and save a quarter of the iterations of tol=0.
        return eigsh(op, k=k, which="LA", v0=v0, tol=1e-10,
                     ncv=min(n, max(2 * k + 1, 40)), maxiter=maxiter)
    x0 = np.random.default_rng(random_state).standard_normal((n, k))
    x0[:, 0] = np.sqrt(deg)
    return lobpcg(sym, x0, largest=True, tol=1e-9, maxiter=maxiter)


def _filtered_eigsh(kern: sp.csr_matrix, deg: np.ndarray, sym: sp.csr_matrix, k: int,
                    pool: ThreadPoolExecutor, threads: int, maxiter: int
                    ) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """eigsh on a Chebyshev filter of ``sym`` (embedding/filtered.py), or (None, None)
    when the coarse graph gives no useful bound or the answer misses the residual."""
    bound = coarse_bound(kern, deg, k)
    # Twice as far from 1 as the bound (a lower bound of the k-th eigenvalue): a filter
    # edge right under the wanted eigenvalues separates them poorly from the rest.
    lower = 1.0 - 2.0 * (1.0 - bound[0]) if bound is not None else -1.0
    if not -0.5 < lower < 1.0:
        return None, None
    op = chebyshev_operator(sym, lower, pool, threads)
    # ncv 30: each step is 10 products, and a smaller basis costs less to keep orthogonal
    # (3 x 10^5 events: 120 steps with 30, 125 with 24; 10^5: 79 with 30, 92 with 40).
    _, vecs = eigsh(op, k=k, which="LA", v0=bound[1], tol=1e-10,
                    ncv=min(sym.shape[0], max(2 * k + 1, 30)), maxiter=maxiter)
    product = sym @ vecs
    vals = np.einsum("ij,ij->j", vecs, product)
    resid = np.linalg.norm(product - vecs * vals, axis=0)
    if vals.min() <= lower or resid.max() > _FILTER_RESIDUAL:
        return None, None
    return vals, vecs


def _right_vectors(vals: np.ndarray, vecs: np.ndarray, deg: np.ndarray, q: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted eigenvalues without the trivial one, right eigenvectors with unit mean
    square under the stationary measure and fixed signs, and ``q``."""
    order = np.argsort(-vals, kind="stable")
    vals, vecs = vals[order], vecs[:, order]
    pi = deg / deg.sum()
    psi = vecs / np.sqrt(pi)[:, None]
    psi /= np.sqrt((pi[:, None] * psi ** 2).sum(axis=0))
    psi = fix_signs(psi.T).T
    return vals[1:], psi[:, 1:], q
