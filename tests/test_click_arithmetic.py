"""The click's fast arithmetic gives what the plain formulas give: class columns, the float32
probabilities, the blocked nearest-label distances and the sampled exploration."""
from __future__ import annotations

import numpy as np
from graphs import knn_kernel
from scipy.spatial import cKDTree

from psocake_labeler.labelling import explore as ex
from psocake_labeler.labelling.columns import (
    BLOCK,
    as_columns,
    column_argmax,
    column_max,
    column_sum,
    column_top,
    median,
    pick,
    to_rows,
    top_two_margin,
)
from psocake_labeler.labelling.propagation import PSEUDO_MASS, propagate


def test_class_columns_agree_with_numpy_along_the_last_axis():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, (500, 4)).astype(float)      # many ties
    cols = as_columns(a, 0.5)
    assert cols.dtype == np.float32 and cols.shape == (4, 500)
    np.testing.assert_array_equal(to_rows(cols), a * 0.5)
    np.testing.assert_array_equal(column_max(cols), (a * 0.5).max(axis=1))
    np.testing.assert_array_equal(column_sum(cols), (a * 0.5).sum(axis=1))
    np.testing.assert_array_equal(column_argmax(a), np.argmax(a, axis=1))
    among = np.array([1, 3])
    np.testing.assert_array_equal(column_argmax(a, among), among[np.argmax(a[:, among], 1)])
    idx = column_argmax(a)
    np.testing.assert_array_equal(pick(cols, idx), (a * 0.5)[np.arange(500), idx])
    top2 = np.sort(a, axis=1)[:, -2:]
    np.testing.assert_array_equal(top_two_margin(cols), 0.5 * (top2[:, 1] - top2[:, 0]))


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal(c, 1.0, (300, 3)) for c in (0.0, 2.5, 5.0)])
    return x, np.repeat([0, 1, 2], 300)


def test_column_top_over_several_blocks_is_numpy_argmax_and_max():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, (2 * BLOCK + 123, 4)).astype(np.float32)   # ties, 3 blocks
    labels = np.array([5, 6, 7, 8])
    which, top = column_top(a.T, labels)
    np.testing.assert_array_equal(which, labels[np.argmax(a, axis=1)])   # first on ties
    np.testing.assert_array_equal(top, a.max(axis=1))
    np.testing.assert_array_equal(column_argmax(a.astype(np.float64), np.array([1, 3])),
                                  np.array([1, 3])[np.argmax(a[:, [1, 3]], axis=1)])


def test_median_is_numpy_median_also_when_it_partitions_only_a_bracket():
    rng = np.random.default_rng(2)
    for x in (rng.exponential(size=200_001).astype(np.float32),     # the bracketed path
              np.repeat(rng.random(7), 30_000),                      # many ties, even length
              np.sort(rng.random(150_000))[::-1],                    # sorted: a biased sample
              np.r_[np.full(120_000, np.nan), rng.random(100_000)],  # the median is NaN
              rng.random(9)):
        np.testing.assert_equal(median(x), np.median(x))   # NaN equals NaN here


def test_float32_probabilities_are_the_documented_formula():
    x, y = _blobs()
    g = knn_kernel(x, 10)
    for rows in (np.arange(0, 900, 37), np.arange(0, 600, 29)):   # all classes; one absent
        for method, t in (("spreading", 0.5), ("harmonic", 1.0), ("spreading", 0.8)):
            p = propagate(g, rows, y[rows], 3, method=method, temperature=t)
            present = np.bincount(y[rows], minlength=3) > 0
            mass = np.clip(p.scores, 0.0, None)
            typical = np.median(mass.max(axis=1))
            mass[:, ~present] = typical
            want = (mass + PSEUDO_MASS[method] * typical) ** (1.0 / t)
            want /= want.sum(axis=1, keepdims=True)
            want[rows] = np.eye(3)[y[rows]]
            np.testing.assert_allclose(p.probabilities, want, rtol=2e-6, atol=1e-7)
            np.testing.assert_allclose(p.probabilities.sum(axis=1), 1.0, atol=1e-6)
    # A temperature so small that float32 powers would overflow: the float64 path answers.
    p = propagate(g, rows, y[rows], 3, temperature=0.01)
    assert np.all(np.isfinite(p.probabilities))
    np.testing.assert_allclose(p.probabilities.sum(axis=1), 1.0, atol=1e-9)


def test_nearest_distance_equals_a_kd_tree():
    rng = np.random.default_rng(1)
    pts, others = rng.normal(size=(3000, 10)), rng.normal(size=(70, 10))
    want, _ = cKDTree(others).query(pts, k=1)
    np.testing.assert_allclose(ex.nearest_distance(pts, others, block=16), want, atol=1e-9)
    assert np.all(np.isinf(ex.nearest_distance(pts, others[:0])))


def test_sampled_exploration_still_finds_the_cluster_no_label_reaches(monkeypatch):
    rng = np.random.default_rng(2)
    centres = np.array([[0, 0], [6, 0], [0, 6]], dtype=float)
    x = np.vstack([c + rng.normal(size=(2000, 2)) for c in centres])
    unseen = np.arange(4000, 6000)
    labelled = np.concatenate([np.arange(0, 20), np.arange(2000, 2020)])
    deg = np.asarray(knn_kernel(x, 8).sum(axis=1)).ravel()
    free = np.setdiff1d(np.arange(len(x)), labelled)
    monkeypatch.setattr(ex, "SAMPLE", 500)          # 500 of 5960 candidates looked at
    picks = ex.explore(x, labelled, free, deg, 3)
    assert np.isin(picks, unseen).all() and np.unique(picks).size == 3
    # Another number of labels draws another sample; the same one the same sample.
    again = ex.explore(x, labelled, free, deg, 3)
    np.testing.assert_array_equal(picks, again)


def test_one_blas_thread_around_a_side_job_is_lifted_after_both():
    """The click's classifier runs on a side thread while the graph is solved; the click
    holds one BLAS thread around both, and the side thread's own limit puts back that one
    thread, not the original limits, when it leaves first."""
    from threadpoolctl import threadpool_info

    from psocake_labeler.labelling.products import one_blas_thread, side_job

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    def inner():
        with one_blas_thread():
            return blas_threads()

    before = blas_threads()
    with one_blas_thread():
        assert side_job(inner).result(10) == [1] * len(before)
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before


def test_a_session_click_shows_propagate_then_blend(spi_manifold):
    """The session runs the classifier beside the graph solve; what it shows is exactly
    ``blend(propagate(...))`` of its labels."""
    from psocake_labeler.labelling.blend import blend
    from psocake_labeler.labelling.session import LabelSession

    m, y = spi_manifold
    rows = np.concatenate([np.flatnonzero(y == c)[:10] for c in range(3)])
    s = LabelSession(m)
    for c in range(3):
        s.label(rows[y[rows] == c], s.classes[c])
    s.propagate()
    lab = np.sort(rows)
    want = blend(propagate(m.graph, lab, y[lab], 3), s.classifier_inputs(), lab, y[lab], 3)
    np.testing.assert_array_equal(s.predicted, want.predicted)
    np.testing.assert_allclose(s.confidence, want.confidence, atol=1e-6)
