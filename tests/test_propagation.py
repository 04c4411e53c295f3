"""Label propagation on real graphs: a simulated run's manifold and k-NN graphs of point clouds."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from graphs import knn_kernel
from sklearn.datasets import make_blobs, make_moons

from psocake_labeler.errors import ConvergenceWarning, InputError
from psocake_labeler.labelling import propagation
from psocake_labeler.labelling.propagation import METHODS, propagate


def per_class_rows(y: np.ndarray, per: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(y == c), per, replace=False)
                           for c in np.unique(y)])


@pytest.fixture(scope="module")
def moons():
    x, y = make_moons(600, noise=0.08, random_state=3)
    return knn_kernel(x), y


@pytest.mark.parametrize("method", METHODS)
def test_every_method_separates_two_moons(moons, method):
    g, y = moons
    rows = per_class_rows(y, 10)
    p = propagate(g, rows, y[rows], 2, method=method)
    unl = np.setdiff1d(np.arange(y.size), rows)
    assert np.mean(p.predicted[unl] == y[unl]) > 0.95
    assert p.scores.shape == (y.size, 2) and np.all(np.isfinite(p.scores))


def test_simulated_run_accuracy_and_calibration(spi_manifold):
    m, y = spi_manifold
    # 30 random labels (10 per class) of 300 events; measured 0.98-1.00 over six seeds.
    rows = per_class_rows(y, 10)
    p = propagate(m.graph, rows, y[rows], 3)
    unl = np.setdiff1d(np.arange(y.size), rows)
    assert np.mean(p.predicted[unl] == y[unl]) > 0.95
    sure = unl[p.confidence[unl] > 0.9]
    assert sure.size > 0.5 * unl.size
    assert np.mean(p.predicted[sure] == y[sure]) > 0.95


def test_labelled_rows_keep_their_label_with_confidence_one(spi_manifold):
    m, y = spi_manifold
    rows = per_class_rows(y, 3, seed=4)
    wrong = (y[rows] + 1) % 3          # a user label always wins, even against the graph
    p = propagate(m.graph, rows, wrong, 3)
    assert np.array_equal(p.predicted[rows], wrong)
    assert np.all(p.confidence[rows] == 1.0)
    assert np.all((p.confidence >= 0) & (p.confidence <= 1))
    assert np.allclose(p.probabilities.sum(axis=1), 1.0)


@pytest.mark.parametrize("method", METHODS)
def test_warm_start_matches_cold_start(spi_manifold, method):
    m, y = spi_manifold
    rows = per_class_rows(y, 4, seed=1)
    first = propagate(m.graph, rows[:-1], y[rows[:-1]], 3, method=method)
    warm = propagate(m.graph, rows, y[rows], 3, method=method, warm_start=first)
    cold = propagate(m.graph, rows, y[rows], 3, method=method)
    assert warm.state["solution"] is not first.state["solution"]
    assert np.mean(warm.predicted == cold.predicted) > 0.99
    assert np.max(np.abs(warm.confidence - cold.confidence)) < 0.1


def test_no_labels_predicts_nothing(moons):
    g, y = moons
    p = propagate(g, [], [], 2)
    assert np.all(p.predicted == -1) and np.all(p.confidence == 0)


@pytest.mark.parametrize("method", METHODS)
def test_unreachable_component_gets_low_confidence_not_nan(method):
    x, y = make_blobs([150, 150, 150], centers=[[0, 0], [0, 4], [60, 60]],
                      cluster_std=1.0, random_state=0)
    g = knn_kernel(x)
    rows = np.concatenate([np.flatnonzero(y == 0)[:3], np.flatnonzero(y == 1)[:3]])
    p = propagate(g, rows, y[rows], 3, method=method)
    far = y == 2
    assert np.all(np.isfinite(p.scores)) and np.all(np.isfinite(p.confidence))
    assert np.all(p.confidence[far] == 0.0)
    assert np.all((p.predicted >= 0) & (p.predicted < 2))
    near = ~far & ~np.isin(np.arange(y.size), rows)
    assert np.mean(p.predicted[near] == y[near]) > 0.95


def test_component_with_a_single_class_takes_that_class():
    x, y = make_blobs([100, 100], centers=[[0, 0], [50, 50]], cluster_std=1.0, random_state=1)
    g = knn_kernel(x)
    rows = np.array([np.flatnonzero(y == 0)[0], np.flatnonzero(y == 1)[0]])
    p = propagate(g, rows, y[rows], 2, method="poisson")
    assert np.array_equal(p.predicted, y)


def test_balance_lets_a_rarely_labelled_class_win_its_region():
    # Class 1 (a third of the events) gets 1 label against 12 of class 0.
    x, y = make_blobs([400, 200], centers=[[0, 0], [3.2, 0]], cluster_std=1.0, random_state=2)
    g = knn_kernel(x, 15)
    rows = np.concatenate([np.flatnonzero(y == 0)[:12], np.flatnonzero(y == 1)[:1]])
    unl = np.setdiff1d(np.arange(y.size), rows)
    acc = {}
    for bal in (True, False):
        p = propagate(g, rows, y[rows], 2, method="spreading", balance=bal)
        acc[bal] = np.mean(p.predicted[unl] == y[unl])
    assert acc[True] > acc[False] + 0.1


def test_large_graph_is_solved_sparsely():
    # 300,000 events: a dense N x N solve would need 720 GB.
    n = 300_000
    rng = np.random.default_rng(0)
    i = np.repeat(np.arange(n), 4)
    j = rng.integers(0, n, i.size)
    g = sp.csr_matrix((np.ones(i.size), (i, j)), shape=(n, n))
    g = (g + g.T).tocsr()
    g.setdiag(0)
    g.eliminate_zeros()
    rows = np.arange(0, 60, 2)
    p = propagate(g, rows, rows % 3, 3)
    assert p.predicted.shape == (n,) and np.all(np.isfinite(p.confidence))


def test_bad_input_raises_input_error(moons):
    g, y = moons
    with pytest.raises(InputError, match="out of range"):
        propagate(g, [0, 10_000], [0, 1], 2)
    with pytest.raises(InputError, match="method"):
        propagate(g, [0], [0], 2, method="magic")
    with pytest.raises(InputError, match="class"):
        propagate(g, [0], [5], 2)
    with pytest.raises(InputError, match="twice"):
        propagate(g, [0, 0], [0, 1], 2)


def test_two_labels_one_per_class(moons):
    g, y = moons
    rows = [int(np.flatnonzero(y == 0)[0]), int(np.flatnonzero(y == 1)[0])]
    p = propagate(g, rows, [0, 1], 2)
    # the labelled rows keep their labels, surely; every other row gets one of the two
    assert p.predicted[rows].tolist() == [0, 1] and p.confidence[rows].tolist() == [1, 1]
    assert set(np.unique(p.predicted)) == {0, 1}
    np.testing.assert_allclose(p.probabilities.sum(axis=1), 1.0, rtol=1e-6)  # float32
    assert np.all((p.confidence >= 0) & (p.confidence <= 1))


@pytest.mark.parametrize("method", METHODS)
def test_one_new_label_among_many_still_moves_a_warm_start(moons, method):
    # With 300 labels, one more changes the right-hand side by far less than the solver's
    # relative tolerance of the whole problem; the warm start must still follow it.
    g, y = moons
    rows = per_class_rows(y, 150, seed=2)
    new_row = np.setdiff1d(np.arange(y.size), rows)[0]
    prev = propagate(g, rows, y[rows], 2, method=method)
    rows2 = np.append(rows, new_row)
    cls2 = np.append(y[rows], 1 - y[new_row])      # a surprising label
    warm = propagate(g, rows2, cls2, 2, method=method, warm_start=prev)
    cold = propagate(g, rows2, cls2, 2, method=method)
    moved = np.linalg.norm(cold.state["solution"] - prev.state["solution"])
    off = np.linalg.norm(warm.state["solution"] - cold.state["solution"])
    assert moved > 0
    assert off < 0.2 * moved


def test_poisson_balances_sources_per_linked_piece():
    # Three classes in one piece, and a far cluster of class 2 (like a run's non-hits) joined
    # to it by one link of weight exp(-1), as kernel.link_components makes. Balanced over
    # the whole component, the far labels' net source flows through the link and its offset
    # took the main piece's class 2 away (0.73 accuracy); balanced per piece, 0.99.
    x, y = make_blobs([150, 150, 150, 150], centers=[[0, 0], [0, 5], [5, 0], [40, 0]],
                      cluster_std=1.0, random_state=0)
    y[y == 3] = 2
    far = x[:, 0] > 20
    g = knn_kernel(x).tolil()
    a = np.flatnonzero(~far)[np.argmax(x[~far, 0])]
    b = np.flatnonzero(far)[np.argmin(x[far, 0])]
    g[a, b] = g[b, a] = np.exp(-1.0)
    g = g.tocsr()
    rows = np.concatenate([np.flatnonzero((y == c) & ~far)[:2] for c in range(3)]
                          + [np.flatnonzero(far)[:20]])
    p = propagate(g, rows, y[rows], 3, method="poisson")
    unl = np.setdiff1d(np.arange(y.size), rows)
    assert np.mean(p.predicted[unl] == y[unl]) > 0.95
    near2 = unl[(y[unl] == 2) & ~far[unl]]
    assert np.mean(p.predicted[near2] == 2) > 0.9
    # A linked piece without labels only sees the constant its link carries: a guess with
    # confidence 0 (so the recommender asks there), never NaN; spreading still reaches it.
    for method in ("poisson", "harmonic"):
        p = propagate(g, rows[:6], y[rows[:6]], 3, method=method)
        assert np.all(p.confidence[far] == 0.0) and np.all(p.predicted[far] >= 0)
        assert np.all(p.confidence[~far] > 0.0)
    p = propagate(g, rows[:6], y[rows[:6]], 3, method="spreading")
    assert np.all(p.confidence[far] > 0.0)


@pytest.mark.parametrize("method", ["spreading", "harmonic"])
def test_one_labelled_class_does_not_make_everything_sure(spi_manifold, method):
    """Two Single labels on a run that is 70% other classes: the events far from them must
    not be "Single with confidence 1"; confidence is the probability of the predicted class."""
    m, y = spi_manifold
    rows = np.flatnonzero(y == 0)[:2]
    p = propagate(m.graph, rows, y[rows], 3, method=method)
    sure = p.confidence > 0.9
    assert np.mean(sure) < 0.35          # Singles are 30% of the run; it was 95% before
    assert np.mean(p.predicted[sure] == y[sure]) > 0.9
    # rows with confidence 0 are the "cannot tell" ones (unreached, unlabelled linked pieces)
    known = (p.confidence > 0) & ~np.isin(np.arange(y.size), rows)
    picked = p.probabilities[np.arange(y.size), p.predicted]
    assert np.allclose(p.confidence[known], picked[known])


def chain(n: int) -> sp.csr_matrix:
    """k-NN kernel of ``n`` points along a line: Poisson's system there is as badly
    conditioned as a graph gets (condition ~ n^2; CG needs ~n iterations)."""
    rng = np.random.default_rng(0)
    return knn_kernel(np.c_[np.arange(n) + 0.3 * rng.random(n), 0.3 * rng.random(n)], 4)


def test_cg_that_stops_at_maxiter_warns_and_still_predicts():
    import warnings

    n = 4000                            # CG's 1,000 iterations reach ~1,000 rows per label
    truth = (np.arange(n) >= n // 2).astype(int)
    with pytest.warns(ConvergenceWarning, match=r"maxiter=1000 with 2 of 2 column"):
        p = propagate(chain(n), [0, n - 1], [0, 1], 2, method="poisson")
    assert np.all(np.isfinite(p.scores)) and np.all(np.isfinite(p.confidence))
    assert p.predicted[0] == 0 and p.predicted[-1] == 1 and p.confidence[[0, -1]].tolist() == [1, 1]
    near = np.r_[0:500, n - 500:n]      # well inside what CG reached: right
    assert np.array_equal(p.predicted[near], truth[near])
    assert np.mean(p.predicted == truth) > 0.8
    # a chain CG can solve within its limit: silent, and every event right
    n = 1500
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        p = propagate(chain(n), [0, n - 1], [0, 1], 2, method="poisson")
    assert np.array_equal(p.predicted, (np.arange(n) >= n // 2).astype(int))


@pytest.mark.parametrize("method", ["harmonic", "spreading"])
def test_a_cold_solve_reaches_the_whole_chain(method):
    # A 1% residual is met ~100 hops from the two labels; CG must go on until every event
    # connected to a label has a value (before: 0.75 / 0.56 right here, the rest "cannot tell").
    import warnings

    n = 1000
    truth = (np.arange(n) >= n // 2).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        p = propagate(chain(n), [0, n - 1], [0, 1], 2, method=method)
    assert np.mean(p.predicted == truth) > 0.97
    assert np.all(p.predicted[p.confidence > 0.9] == truth[p.confidence > 0.9])


def test_a_chain_beyond_reach_of_maxiter_warns():
    n = 6000                            # 1,000 iterations reach ~2,000 rows from each end
    with pytest.warns(ConvergenceWarning, match=r"before reaching \d+ event"):
        propagate(chain(n), [0, n - 1], [0, 1], 2, method="harmonic")



def test_spreading_keeps_a_labelled_linked_piece_to_its_own_labels(small_spi_run, monkeypatch):
    # A run's non-hits are a piece of the graph of their own, linked to their nearest hit (a
    # Multiple) by one edge. With two non-hits labelled Water/Unknown and that Multiple
    # labelled too, spreading called every other non-hit Multiple through the link (class-
    # mass normalisation scales up the class with few labels; the default benchmark run at
    # 20 labels: 100 of 150 non-hits). Links between pieces that both hold labels are cut.
    import psocake_labeler as pl
    from psocake_labeler.embedding.kernel import LINK_WEIGHT
    from psocake_labeler.simulate import read_truth

    # Without the autocorrelation profile in the graph: on 64 px images (half the default
    # working size) its 40 lags reach across the image and outweigh the polar features
    # (docs/features.md), so the solve is less settled than on the default working size.
    m = pl.build_manifold(pl.open_run(small_spi_run.path), n_components=10, knn=15,
                          autocorr=0.0)
    truth = read_truth(small_spi_run.truth_path)
    y, nonhit = np.asarray(truth.labels), np.asarray(truth.params["photons"]) == 0
    g = m.graph.tocoo()
    link = np.isclose(g.data, LINK_WEIGHT, rtol=1e-9, atol=0.0) & nonhit[g.row] & ~nonhit[g.col]
    far = np.unique(g.col[link])
    assert far.size == 1 and np.all(y[nonhit] == 2)
    hits = np.concatenate([far] + [np.flatnonzero((y == c) & ~nonhit)[:n]
                                   for c, n in ((0, 5), (1, 3), (2, 10))])
    rows = np.unique(np.concatenate([hits, np.flatnonzero(nonhit)[:2]]))
    rest = np.setdiff1d(np.flatnonzero(nonhit), rows)
    others = np.setdiff1d(np.flatnonzero(~nonhit), rows)
    cold = propagate(m.graph, rows, y[rows], 3)
    assert np.mean(cold.predicted[rest] == 2) > 0.95
    assert np.mean(cold.predicted[others] == y[others]) > 0.9
    # The same labels reached by clicks: before the first non-hit label the piece is not cut
    # off (it takes its link's answer); the click that labels it changes the operator, and
    # the warm start must not keep the product it had.
    prev = propagate(m.graph, np.unique(hits), y[np.unique(hits)], 3)
    assert prev.state["cut"] is None or len(prev.state["cut"]) < len(cold.state["cut"])
    warm = propagate(m.graph, rows, y[rows], 3, warm_start=prev)
    assert np.mean(warm.predicted[rest] == 2) > 0.95
    # Each solve stops at TOL, so warm and cold may err on opposite sides of the answer
    # (0.03 each way here): the warm one is checked against a tight solve.
    monkeypatch.setattr(propagation, "TOL", 1e-7)
    tight = propagate(m.graph, rows, y[rows], 3)
    assert np.abs(np.asarray(warm.probabilities) - np.asarray(tight.probabilities)).max() < 0.05
