"""The click's local spreading update gives the full solve's answer, within its tolerance."""
from __future__ import annotations

import numpy as np
import pytest
from graphs import knn_kernel
from sklearn.datasets import make_blobs

from psocake_labeler.labelling.local import local_update
from psocake_labeler.labelling.propagation import SPREADING_ALPHA, TOL, propagate
from psocake_labeler.labelling.solvers import block_pcg


@pytest.fixture(scope="module")
def cloud():
    """20,000 events in three 3-D blobs, 300 random labels, then one more (a surprise)."""
    x, y = make_blobs([6000, 6000, 8000], n_features=3, cluster_std=[1.0, 1.2, 1.5],
                      center_box=(-3, 3), random_state=7)
    g = knn_kernel(x, 10)
    rows = np.random.default_rng(0).choice(len(y), 301, replace=False)
    classes = y[rows].copy()
    classes[-1] = (classes[-1] + 1) % 3
    return g, y, rows, classes, x.astype(np.float32)


def test_one_more_label_is_solved_near_it_and_meets_the_full_criterion(cloud, monkeypatch):
    from psocake_labeler.labelling import local

    # Smaller first balls than at 10^6 events, so that a ball is visibly not the graph here.
    monkeypatch.setattr(local, "FIRST_HOPS", 6)
    monkeypatch.setattr(local, "MORE_HOPS", 4)
    g, _, rows, classes, _ = cloud
    prev = propagate(g, rows[:-1], classes[:-1], 3)
    info = prev.state["info"]
    y = np.zeros((g.shape[0], 3))
    y[rows, classes] = 1.0
    got = local_update(info.normalised, SPREADING_ALPHA, y, prev.state["solution"],
                       prev.state["product"], prev.state["rhs"], TOL)
    assert got is not None
    x, ax, done = got
    assert done
    touched = np.flatnonzero(np.any(x != prev.state["solution"], axis=1))
    assert rows[-1] in touched and len(touched) < 0.5 * g.shape[0]  # a ball, not the graph
    # The full solve's own criterion, checked with a plain float64 product.
    s = info.normalised
    residual = np.linalg.norm(y - (x - SPREADING_ALPHA * (s @ x)), axis=0)
    assert np.all(residual <= TOL * np.linalg.norm(y, axis=0))
    np.testing.assert_allclose(ax, x - SPREADING_ALPHA * (s @ x), atol=1e-5)


def test_a_warm_start_is_changed_only_when_given_away(cloud):
    g, _, rows, classes, _ = cloud
    prev = propagate(g, rows[:-1], classes[:-1], 3)
    kept = prev.state["solution"].copy(), prev.state["product"].copy()
    copied = propagate(g, rows, classes, 3, warm_start=prev)
    # the held-out check starts five propagations from one warm start: it stays as it was
    np.testing.assert_array_equal(prev.state["solution"], kept[0])
    np.testing.assert_array_equal(prev.state["product"], kept[1])
    # a session gives its last result away (no copies): the same answer
    given = propagate(g, rows, classes, 3, warm_start=prev, update_warm_start=True)
    np.testing.assert_array_equal(given.scores, copied.scores)
    np.testing.assert_array_equal(given.predicted, copied.predicted)
    np.testing.assert_array_equal(given.confidence, copied.confidence)


def test_warm_click_equals_a_tight_full_solve(cloud):
    g, _, rows, classes, _ = cloud
    prev = propagate(g, rows[:-1], classes[:-1], 3)
    warm = propagate(g, rows, classes, 3, warm_start=prev)
    info = prev.state["info"]
    y = np.zeros((g.shape[0], 3))
    y[rows, classes] = 1.0
    s = info.normalised
    tight, _, _ = block_pcg(lambda f: f - SPREADING_ALPHA * (s @ f), y, None,
                            np.ones(g.shape[0]), tol=1e-10)
    cold = propagate(g, rows, classes, 3)
    # Both stop at the same relative residual (TOL); the fast answer is as close to the
    # exact solution as the full solve is, and makes the same decisions.
    err_warm = np.linalg.norm(warm.state["solution"] - tight)
    err_cold = np.linalg.norm(cold.state["solution"] - tight)
    assert err_warm <= 2 * err_cold
    mass = tight.mean(axis=0)
    tight_pred = np.argmax(tight / mass, axis=1)
    tight_pred[rows] = classes
    agree_warm = np.mean(warm.predicted == tight_pred)
    agree_cold = np.mean(cold.predicted == tight_pred)
    assert agree_warm >= agree_cold - 0.002 and agree_warm > 0.99
    assert warm.predicted[rows[-1]] == classes[-1]
    # What the user sees: the warm click's probabilities are those of the full solve, to
    # the solver's tolerance (measured: at most 0.010 apart here, mean 4e-5).
    assert np.abs(warm.probabilities - cold.probabilities).max() < 0.03
    assert np.mean(warm.predicted == cold.predicted) > 0.999


def test_recommend_from_the_best_few_thousand_picks_what_the_full_sort_picks(cloud,
                                                                             monkeypatch):
    from psocake_labeler.labelling import recommend as rec

    g, _, rows, classes, _ = cloud
    p = propagate(g, rows, classes, 3)
    fast = rec.recommend(g, p, rows, 10)
    monkeypatch.setattr(rec, "HEAD_MIN", 10 ** 9)  # every candidate ranked: the full sort
    full = rec.recommend(g, p, rows, 10)
    np.testing.assert_array_equal(fast, full)
    assert len(set(fast.tolist()) & set(rows.tolist())) == 0


def test_the_blended_click_is_the_cold_full_answer(cloud):
    """What a session shows after a click (graph solve + classifier blend, blend.py) equals
    the cold full solve's, to the solver's tolerance: the classifier is refitted on every
    click from the same labels, so only the graph solve differs (both meet TOL). Both keep
    the calibration of ``prev`` (a session refits it only once its labels grew by 10%,
    blend.REFIT_GROWTH), so the classifier is the same."""
    from psocake_labeler.labelling.blend import blend

    g, _, rows, classes, x = cloud
    prev = blend(propagate(g, rows[:-1], classes[:-1], 3), x, rows[:-1], classes[:-1], 3)
    warm = blend(propagate(g, rows, classes, 3, warm_start=prev), x, rows, classes, 3,
                 previous=prev)
    cold = blend(propagate(g, rows, classes, 3), x, rows, classes, 3, previous=prev)
    assert warm is not prev and warm.probabilities.dtype == np.float32
    diff = np.abs(warm.probabilities - cold.probabilities)
    assert diff.max() < 0.03 and diff.mean() < 1e-3
    assert np.mean(warm.predicted == cold.predicted) > 0.999
    np.testing.assert_allclose(np.abs(warm.confidence - cold.confidence).max(), 0.0,
                               atol=0.03)
    assert warm.predicted[rows[-1]] == classes[-1] and warm.confidence[rows[-1]] == 1.0
