"""The filtered eigensolve of large graphs (embedding/filtered.py) against the plain eigsh."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh

from psocake_labeler.embedding.eigensolve import diffusion_eigs
from psocake_labeler.embedding.filtered import (
    chebyshev_operator,
    coarse_bound,
    locality_order,
    permute,
)
from psocake_labeler.embedding.kernel import kernel_graph, link_components
from psocake_labeler.neighbors import knn


@pytest.fixture(scope="module")
def three_sheets() -> sp.csr_matrix:
    """6000 events of three curved 2-D sheets in 12 features: three k-NN pieces, linked,
    so the top eigenvalues crowd at 1 as on bench_scale.py's experiment."""
    rng = np.random.default_rng(3)
    rows = []
    for c in range(3):
        z = rng.uniform(0, 2, (2000, 2))
        w, b = rng.normal(0, 1, (2, 12)), rng.uniform(0, 2 * np.pi, 12)
        rows.append(np.sin(z @ w + b) + 0.02 * rng.standard_normal((2000, 12)) + 0.7 * c)
    x = np.concatenate(rows).astype(np.float32)
    x = x[rng.permutation(len(x))]
    idx, dist = knn(x, 12)
    graph, pieces = link_components(kernel_graph(idx, dist, float(np.median(dist) ** 2)), x)
    assert pieces == 3
    return graph


def _symmetric(graph: sp.csr_matrix) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    q = np.asarray(graph.sum(axis=1)).ravel()
    kern = (sp.diags(1 / q) @ graph @ sp.diags(1 / q)).tocsr()
    deg = np.asarray(kern.sum(axis=1)).ravel()
    sym = (sp.diags(deg ** -0.5) @ kern @ sp.diags(deg ** -0.5)).tocsr()
    return kern, (sym + sym.T).tocsr() * 0.5, deg


def test_permute_is_rows_and_columns_in_the_order(three_sheets):
    order = locality_order(three_sheets)
    assert np.array_equal(np.sort(order), np.arange(three_sheets.shape[0]))
    expected = three_sheets[order][:, order].tocsr()
    assert (permute(three_sheets, order) != expected).nnz == 0
    # the order is a banded one: neighbours sit nearer each other than at random
    p = permute(three_sheets, order).tocoo()
    assert np.median(np.abs(p.row - p.col)) < 0.1 * three_sheets.shape[0]


def test_coarse_bound_is_below_the_kth_eigenvalue(three_sheets):
    kern, sym, deg = _symmetric(three_sheets)
    exact = np.sort(eigsh(sym, k=11, which="LA", tol=1e-12, v0=np.ones(sym.shape[0]))[0])
    mu, start = coarse_bound(kern, deg, 11)
    # Cauchy interlacing: the coarse 11th eigenvalue is at most the true 11th, and close
    assert mu <= exact[0] + 1e-12
    assert 1 - mu < 10 * (1 - exact[0])
    assert start.shape == (sym.shape[0],) and np.isfinite(start).all()


def _chebyshev(t: np.ndarray, degree: int) -> np.ndarray:
    inside = np.cos(degree * np.arccos(np.clip(t, -1, 1)))
    outside = np.cosh(degree * np.arccosh(np.maximum(np.abs(t), 1))) * np.sign(t) ** degree
    return np.where(np.abs(t) <= 1, inside, outside)


@pytest.mark.parametrize("parts", [1, 2])
def test_chebyshev_filter_keeps_the_eigenvectors(three_sheets, parts):
    kern, sym, deg = _symmetric(three_sheets)
    lam, vec = eigsh(sym, k=11, which="LA", tol=1e-13, v0=np.ones(sym.shape[0]))
    mu, start = coarse_bound(kern, deg, 11)
    lower = 1 - 2 * (1 - mu)
    with ThreadPoolExecutor(parts) as pool:
        op = chebyshev_operator(sym, lower, pool, parts, degree=7)
        # on an eigenvector the filter is T_7 of the mapped eigenvalue
        t = (lam - (lower - 1) / 2) / ((lower + 1) / 2)
        np.testing.assert_allclose(op.matmat(vec), vec * _chebyshev(t, 7), rtol=0, atol=1e-9)
        _, found = eigsh(op, k=11, which="LA", v0=start, tol=1e-10)
    vals = np.einsum("ij,ij->j", found, sym @ found)
    np.testing.assert_allclose(np.sort(vals), np.sort(lam), rtol=0, atol=1e-12)
    # the same subspace: each found vector lies in the span of the exact ones
    np.testing.assert_allclose(np.linalg.norm(vec.T @ found, axis=0), 1, atol=1e-8)


def test_filtered_diffusion_eigs_equal_the_plain_ones(three_sheets):
    plain_vals, plain_psi, plain_q = diffusion_eigs(three_sheets, 6, filtered=False)
    vals, psi, q = diffusion_eigs(three_sheets, 6, filtered=True)
    # The tolerance docs/embedding.md states: eigenvalues to 1e-12, coordinates to 1e-6
    # (psi has unit mean square; both solves stop at residuals of 1e-10).
    np.testing.assert_allclose(vals, plain_vals, rtol=0, atol=1e-12)
    np.testing.assert_allclose(psi, plain_psi, rtol=0, atol=1e-6)
    np.testing.assert_allclose(q, plain_q, rtol=1e-14)
