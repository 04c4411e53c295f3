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

# From this many events the eigensolver's sparse products run on all cores, by row blocks.
_SPLIT_MATVEC = 5000


def _alpha_normalise(graph: sp.csr_matrix, alpha: float) -> tuple[sp.csr_matrix, np.ndarray]:
    """Kernel with self-weight 1, divided by ``q_i^alpha q_j^alpha``; also returns ``q``."""
    kern = graph.tocsr()
    q = np.asarray(kern.sum(axis=1)).ravel()
    if alpha:
        scale = sp.diags(q ** -alpha)
        kern = (scale @ kern @ scale).tocsr()
    return kern, q


def diffusion_eigs(graph: sp.csr_matrix, n_components: int, alpha: float = 1.0,
                   solver: str = "eigsh", progress: Optional[ProgressCallback] = None,
                   maxiter: int = 1000, random_state: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top non-trivial eigenpairs of the diffusion (Markov) matrix of ``graph``.

    Returns ``(eigenvalues (m,), psi (N, m), q (N,))``: eigenvalues descending without the
    trivial 1, right eigenvectors normalised to unit mean square under the stationary
    measure with a fixed sign, and the kernel sums ``q`` used by alpha normalisation.
    ``random_state`` seeds the solver's start vector (the answer does not depend on it
    beyond the solver's tolerance). Raises ``scipy.sparse.linalg.ArpackNoConvergence`` after
    ``maxiter`` restarts.
    """
    n = graph.shape[0]
    m = int(n_components)
    if not 1 <= m <= n - 2:
        raise InputError(f"n_components={m} needs 1 <= n_components <= events - 2 ({n - 2})")
    kern, q = _alpha_normalise(graph, alpha)
    deg = np.asarray(kern.sum(axis=1)).ravel()
    inv_sqrt = sp.diags(deg ** -0.5)
    sym = (inv_sqrt @ kern @ inv_sqrt).tocsr()
    sym = ((sym + sym.T) * 0.5).tocsr()  # exact symmetry for the Lanczos solver
    report(progress, "eigensolve", 0, 1)
    v0 = np.random.default_rng(random_state).standard_normal(n)
    if solver not in ("eigsh", "lobpcg"):
        raise InputError(f"unknown eigensolver {solver!r}; use 'eigsh' or 'lobpcg'")
    # One BLAS thread: the solver's vector operations are too small to gain from threads,
    # and on a loaded machine OpenBLAS threads spin-waiting for a core made the same
    # eigensolve take 5 s instead of 0.9 s (20,000 events, k=64). It also makes the result
    # independent of the BLAS thread count.
    # The sparse products, most of the time, run by row blocks on every core instead.
    threads = available_cores() if n >= _SPLIT_MATVEC and solver == "eigsh" else 1
    with threadpool_limits(1), ThreadPoolExecutor(threads) as pool:
        if threads > 1:
            sym = row_split_operator(sym, pool, threads)
        if solver == "eigsh":
            # tol: residuals of 1e-10 leave the eigenvalues exact to ~1e-15 (Ritz values
            # converge quadratically) and save a quarter of the iterations of tol=0.
            vals, vecs = eigsh(sym, k=m + 1, which="LA", v0=v0, tol=1e-10,
                               ncv=min(n, max(2 * m + 3, 40)), maxiter=maxiter)
        else:
            x0 = np.random.default_rng(random_state).standard_normal((n, m + 1))
            x0[:, 0] = np.sqrt(deg)
            vals, vecs = lobpcg(sym, x0, largest=True, tol=1e-9, maxiter=maxiter)
    report(progress, "eigensolve", 1, 1)
    order = np.argsort(-vals, kind="stable")
    vals, vecs = vals[order], vecs[:, order]
    pi = deg / deg.sum()
    psi = vecs / np.sqrt(pi)[:, None]
    psi /= np.sqrt((pi[:, None] * psi ** 2).sum(axis=0))
    psi = fix_signs(psi.T).T
    return vals[1:], psi[:, 1:], q
