"""Diffusion map: Laplace-Beltrami spectrum of a non-uniformly sampled circle, the graph."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import psocake_labeler as pl
from psocake_labeler.embedding.kernel import choose_epsilon
from psocake_labeler.errors import InputError


def circle(n: int, jitter_seed: int = 0) -> np.ndarray:
    """Unit circle sampled with density 1 + 0.8 sin(theta): 9:1 between densest and sparsest.

    Inverse-CDF of a jittered grid: the density is exact and no random gaps appear, so the
    test measures the density correction, not sampling noise.
    """
    t = np.linspace(0, 2 * np.pi, 20001)
    pdf = 1 + 0.8 * np.sin(t)
    cdf = np.concatenate([[0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(t))])
    u = (np.arange(n) + np.random.default_rng(jitter_seed).uniform(0, 1, n)) / n
    theta = np.interp(u, cdf / cdf[-1], t)
    return np.c_[np.cos(theta), np.sin(theta)]


def log_ratios(m) -> np.ndarray:
    r = -np.log(m.eigenvalues)
    return r / r[0]


def test_circle_alpha1_gives_laplace_beltrami_ratios():
    m = pl.build_manifold(circle(1500), n_components=4, knn=128, alpha=1.0)
    np.testing.assert_allclose(log_ratios(m), [1, 1, 4, 4], rtol=0.05)


def test_circle_alpha0_keeps_the_density():
    # Control: without the density correction the same data is far from 1, 1, 4, 4.
    m = pl.build_manifold(circle(1500), n_components=4, knn=128, alpha=0.0)
    assert log_ratios(m)[1] > 1.5


def test_graph_coords_and_eigenvalues():
    x = np.random.default_rng(3).standard_normal((400, 6))
    m = pl.build_manifold(x, n_components=5, knn=10)
    g = m.graph
    assert isinstance(g, sp.csr_matrix) and g.shape == (400, 400)
    assert abs(g - g.T).max() == 0
    assert np.all(g.diagonal() == 0)
    assert np.all(g.data > 0) and np.all(g.data <= 1)
    # Every event keeps at least its k neighbours after symmetrisation.
    assert np.diff(g.indptr).min() >= 10
    assert m.coords.shape == (400, 5) and m.coords.dtype == np.float64
    assert np.all(np.diff(m.eigenvalues) <= 0) and np.all(m.eigenvalues < 1)
    assert m.events["source"][0] == "array" and m.events["run"][0] == -1
    assert m.events["event"].tolist() == list(range(400))
    assert m.params["knn"] == 10 and m.params["alpha"] == 1.0 and m.params["epsilon"] > 0
    assert m.params["graph_components"] == 1
    assert m.features.dtype == np.float32 and m.features.shape == (400, 6)


def test_coords_are_eigenvectors_of_the_markov_matrix():
    x = np.random.default_rng(4).standard_normal((300, 3))
    m = pl.build_manifold(x, n_components=3, knn=12)
    k = m.graph / np.outer(m.density, m.density)  # alpha = 1
    p = sp.diags(1 / np.asarray(k.sum(axis=1)).ravel()) @ k
    psi = m.coords / m.eigenvalues
    np.testing.assert_allclose(p @ psi, m.coords, atol=1e-8)


def test_epsilon_choices():
    d2 = np.random.default_rng(0).uniform(0.5, 2.0, (100, 8)) ** 2
    assert choose_epsilon(d2, 0.3) == 0.3
    assert choose_epsilon(d2, "median") == pytest.approx(np.median(d2))
    assert choose_epsilon(d2, "auto") >= choose_epsilon(d2, "bgh")
    with pytest.raises(InputError, match="unknown epsilon"):
        choose_epsilon(d2, "silverman")
    with pytest.raises(InputError, match="positive"):
        choose_epsilon(d2, -1.0)


def test_build_manifold_from_a_run(small_spi_run):
    m = pl.build_manifold(small_spi_run.path, n_components=4, knn=10)
    assert len(m) == 300 and m.transform is not None
    assert set(m.events["run"].tolist()) == {93}
    assert m.params["feature_params"]["representation"] == m.transform.representation


def test_lobpcg_agrees_with_eigsh():
    x = np.random.default_rng(3).standard_normal((500, 6))
    a = pl.build_manifold(x, n_components=4, knn=10)
    b = pl.build_manifold(x, n_components=4, knn=10, solver="lobpcg")
    np.testing.assert_allclose(b.eigenvalues, a.eigenvalues, rtol=1e-6)
    np.testing.assert_allclose(np.abs(b.coords), np.abs(a.coords), atol=1e-5)


def test_bad_sizes_are_input_errors():
    x = np.random.default_rng(0).standard_normal((12, 3))
    with pytest.raises(InputError, match="knn=12"):
        pl.build_manifold(x, n_components=2, knn=12)
    with pytest.raises(InputError, match="n_components=11"):
        pl.build_manifold(x, n_components=11, knn=5)
    with pytest.raises(InputError, match="2-D"):
        pl.build_manifold(np.zeros(5), knn=2)


def test_outliers_and_separate_clusters_stay_on_the_axes():
    # A bulk, a separate cluster (its own k-NN component), a tight far trio and a lone far
    # event. A global bandwidth alone gives the far events kernel weights ~1e-300 and NaN or
    # huge coordinates; the nearest-neighbour floor and the component links keep them sane.
    rng = np.random.default_rng(5)
    x = np.vstack([rng.normal(0, 1, (400, 5)), rng.normal(0, 1, (100, 5)) + [12, 0, 0, 0, 0],
                   rng.normal(0, 0.1, (3, 5)) + [0, 30, 0, 0, 0], [[0, 0, 40, 0, 0]]])
    m = pl.build_manifold(x, n_components=4, knn=10)
    assert m.params["knn_graph_components"] == 3 and m.params["component_links"] == 2
    assert m.params["graph_components"] == 1
    assert np.asarray(m.graph.sum(axis=1)).min() >= np.exp(-4)
    assert np.all(np.isfinite(m.coords)) and np.all(m.eigenvalues < 1 - 1e-9)
    # The trio (0.6% of events, 30 sigma away) may own a coordinate, but at a few times the
    # bulk's spread, not 1e13 or NaN.
    ratio = np.abs(m.coords).max(axis=0) / np.percentile(np.abs(m.coords), 99, axis=0)
    assert ratio.max() < 8
    # The separate cluster is the first coordinate's far end, not mixed into the bulk.
    side = np.sign(m.coords[400:500, 0])
    assert abs(side.sum()) == 100 and np.sign(np.median(m.coords[:400, 0])) == -side[0]


def test_simulated_run_is_connected_with_no_vanishing_degrees(small_spi_run):
    # The nonhits of a simulated run form their own k-NN component and some hits sit far
    # from everything (degrees were 1e-48 with a global bandwidth alone).
    m = pl.build_manifold(small_spi_run.path, n_components=4, knn=10)
    assert m.params["graph_components"] == 1
    assert np.asarray(m.graph.sum(axis=1)).min() >= np.exp(-4)
    ratio = np.abs(m.coords).max(axis=0) / np.percentile(np.abs(m.coords), 99, axis=0)
    assert ratio.max() < 3
    assert m.floor is not None and m.floor.shape == (len(m),)


def test_threaded_eigsh_at_5000_events_gives_the_single_thread_answer():
    # From 5,000 events eigsh's sparse products run by row blocks on every core this thread
    # may use; with one core allowed (the scheduler's affinity, what available_cores reads)
    # the same graph is solved on one thread. Each row's product is the same sum either
    # way, so the answers must agree to the bit.
    import os

    from psocake_labeler._parallel import available_cores
    from psocake_labeler.embedding.eigensolve import diffusion_eigs
    from psocake_labeler.embedding.kernel import kernel_graph
    from psocake_labeler.neighbors import knn

    if available_cores() < 2 or not hasattr(os, "sched_setaffinity"):
        pytest.skip("one core: the threaded path is not taken")
    rng = np.random.default_rng(0)
    t = rng.random(6000) * 2 * np.pi
    # an ellipse: no eigenvalue pairs as on a circle, so eigsh converges fast
    pts = np.c_[3 * np.cos(t), np.sin(t), 0.1 * rng.standard_normal(len(t))]
    idx, dist = knn(pts, 12)
    graph = kernel_graph(idx, dist, float(np.median(dist[:, -1]) ** 2))
    threaded = diffusion_eigs(graph, 4)
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        assert available_cores() == 1
        single = diffusion_eigs(graph, 4)
    finally:
        os.sched_setaffinity(0, cores)
    np.testing.assert_array_equal(threaded[0], single[0])
    np.testing.assert_array_equal(threaded[1], single[1])
    assert threaded[0][0] < 1 and np.all(np.diff(threaded[0]) < 0)


def segments(n_segments: int = 25, length: int = 20, gap: float = 4.0) -> np.ndarray:
    """Points 1 apart along a line, in segments ``gap`` apart: with epsilon 1 each gap is
    crossed by weights ~exp(-16) only, so the top eigenvalues crowd within 1e-5 of 1."""
    pos = np.concatenate([np.arange(length) + i * (length - 1 + gap)
                          for i in range(n_segments)])
    jitter = np.random.default_rng(0).random((len(pos), 2)) * 0.1
    return np.c_[pos, np.zeros(len(pos))] + jitter


def test_eigsh_that_does_not_converge_widens_the_kernel():
    # ARPACK stops at maxiter on the narrow kernel; the build retries with epsilon x 4,
    # which converges, and records it.
    x = segments()
    m = pl.build_manifold(x, n_components=2, knn=4, epsilon=1.0)
    assert m.params["epsilon_widened"] == 1 and m.params["epsilon"] == 4.0
    # the same manifold as asking for the wider kernel at once
    direct = pl.build_manifold(x, n_components=2, knn=4, epsilon=4.0)
    assert direct.params["epsilon_widened"] == 0
    np.testing.assert_allclose(m.eigenvalues, direct.eigenvalues, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.coords, direct.coords, rtol=0, atol=1e-6)
    # and a usable one: the first coordinate is monotone along the line (rank correlation)
    def ranks(v):
        return np.argsort(np.argsort(v))

    assert abs(np.corrcoef(ranks(m.coords[:, 0]), ranks(x[:, 0]))[0, 1]) > 0.999


def test_diffusion_map_estimator_follows_sklearn_conventions():
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    from psocake_labeler.embedding import DiffusionMap

    pts = circle(400)
    est = DiffusionMap(n_components=3, n_neighbors=12, random_state=1)
    with pytest.raises(NotFittedError):
        est.transform(pts[:5])
    coords = est.fit_transform(pts)
    # the same answer as the convenient front, and the parameters kept as given
    m = pl.build_manifold(pts, n_components=3, knn=12, random_state=1)
    assert np.allclose(coords, m.coords) and np.allclose(est.eigenvalues_, m.eigenvalues)
    assert clone(est).get_params() == est.get_params() and not hasattr(clone(est), "manifold_")
    # new points land where their nearest training points are
    new = est.transform(pts[:20] * 1.0001)
    assert new.shape == (20, 3) and np.allclose(new, coords[:20], atol=0.05)
    with pytest.raises(InputError, match="n_neighbors must be a positive integer"):
        DiffusionMap(n_neighbors=0).fit(pts)   # validated in fit, not in __init__
    restored = DiffusionMap.from_manifold(m)
    assert restored.n_neighbors == 12 and restored.epsilon_ == m.params["epsilon"]
