"""The feature classifier blended with propagation, label noise, and exploration picks."""
from __future__ import annotations

import numpy as np
from graphs import knn_kernel

from psocake_labeler.labelling.blend import MIN_LABELS, blend
from psocake_labeler.labelling.explore import explore
from psocake_labeler.labelling.propagation import propagate
from psocake_labeler.labelling.recommend import recommend


def _labels(y, per_class, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False)
                           for c in np.unique(y)])


def test_blend_uses_the_labels_and_keeps_the_users_word(spi_manifold):
    m, y = spi_manifold
    rows = _labels(y, 8)
    graph = propagate(m.graph, rows, y[rows], 3)
    both = blend(graph, m.features, rows, y[rows], 3)
    un = np.setdiff1d(np.arange(y.size), rows)
    acc_graph = np.mean(graph.predicted[un] == y[un])
    acc_both = np.mean(both.predicted[un] == y[un])
    assert acc_both >= acc_graph - 0.01 and acc_both > 0.9
    np.testing.assert_array_equal(both.predicted[rows], y[rows])
    assert np.all(both.confidence[rows] == 1.0)
    assert np.all((both.confidence >= 0) & (both.confidence <= 1))
    np.testing.assert_allclose(both.probabilities.sum(axis=1), 1.0, atol=1e-6)  # float32
    hi = both.confidence > 0.9
    assert hi.sum() > 50 and np.mean(both.predicted[hi] == y[hi]) >= 0.97
    # Too few labels (the cold start): the graph alone decides.
    few = rows[:MIN_LABELS - 1]
    p = propagate(m.graph, few, y[few], 3)
    assert blend(p, m.features, few, y[few], 3) is p


def test_a_class_nobody_labelled_keeps_its_share_of_doubt(spi_manifold):
    m, y = spi_manifold
    rows = np.concatenate([np.flatnonzero(y == c)[:12] for c in (0, 2)])   # no Multiple
    graph = propagate(m.graph, rows, y[rows], 3)
    both = blend(graph, m.features, rows, y[rows], 3)
    np.testing.assert_allclose(both.probabilities[:, 1], graph.probabilities[:, 1])
    multiples = np.setdiff1d(np.flatnonzero(y == 1), rows)
    # Events of the unlabelled class are not called sure.
    assert np.mean(both.confidence[multiples] > 0.9) < 0.2


def test_one_wrong_early_label_does_not_flip_a_region(spi_manifold):
    m, y = spi_manifold
    rows = _labels(y, 10, seed=3)
    wrong = y[rows].copy()
    wrong[0] = (wrong[0] + 1) % 3            # one mistaken answer among the first 30
    good = blend(propagate(m.graph, rows, y[rows], 3), m.features, rows, y[rows], 3)
    bad = blend(propagate(m.graph, rows, wrong, 3), m.features, rows, wrong, 3)
    flipped = np.setdiff1d(np.flatnonzero(good.predicted != bad.predicted), rows[:1])
    assert flipped.size <= 0.03 * y.size


def test_exploration_picks_the_cluster_no_label_reaches():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 0], [0, 6], [40, 40]], dtype=float)
    x = np.vstack([c + rng.normal(size=(60, 2)) for c in centres[:3]] +
                  [centres[3] + rng.normal(size=(3, 2))])        # three blobs + 3 outliers
    unseen = np.arange(120, 180)                                  # blob 3: never labelled
    labelled = np.concatenate([np.arange(0, 5), np.arange(60, 65)])
    deg = np.asarray(knn_kernel(x, 8).sum(axis=1)).ravel()
    free = np.setdiff1d(np.arange(x.shape[0]), labelled)
    picks = explore(x, labelled, free, deg, 2)
    # Far from every label and dense: the unseen blob, not the three far outliers.
    assert np.isin(picks, unseen).all()
    g = knn_kernel(x, 8)
    prop = propagate(g, labelled, (labelled >= 60).astype(int), 3)
    batch = recommend(g, prop, labelled, 10, coords=x)
    assert np.isin(batch, unseen).any() and not np.isin(batch, labelled).any()
    assert np.unique(batch).size == 10


def test_classifier_probabilities_equal_scikit_learns(spi_manifold):
    from sklearn.linear_model import LogisticRegression

    from psocake_labeler.labelling.blend import C_REG, classifier_probabilities

    m, y = spi_manifold
    for labels in (y, (y > 0).astype(int)):          # three classes, and two
        rows = _labels(labels, 12, seed=1)
        x = m.features[rows].astype(np.float64)
        mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6 * (np.abs(x).max() + 1e-12)
        ref = LogisticRegression(C=C_REG, class_weight="balanced", max_iter=500).fit(
            (x - mean) / std, labels[rows]).predict_proba((m.features - mean) / std)
        got = classifier_probabilities(m.features, rows, labels[rows], labels.max() + 1,
                                       calibration=(1.0, 0.0))
        np.testing.assert_allclose(got, ref, atol=1e-5)


def test_exploration_measures_distance_in_the_features_when_given():
    # The diffusion coordinates stretch the sparse tail of a large class far from every
    # label and keep a rare class that touches another on the graph close to it (explore.py);
    # the features show the rare class apart. Here the graph and coords say exactly that.
    rng = np.random.default_rng(1)
    big, other, rare = (rng.normal(size=(400, 2)), rng.normal(size=(200, 2)) + [8, 0],
                        rng.normal(size=(30, 2)) + [0, 8])
    features = np.vstack([big, other, rare])
    coords = features.copy()
    coords[600:] = other[:30] + 0.1                   # the rare class sits on the other
    coords[:10] -= [30.0, 0.0]                        # a far tail of the big class
    g = knn_kernel(coords, 8)
    labelled = np.array([20, 21, 22, 400, 401, 402])
    prop = propagate(g, labelled, (labelled >= 400).astype(int), 2)
    rare_rows = np.arange(600, 630)
    by_features = recommend(g, prop, labelled, 10, coords=coords, features=features)
    by_coords = recommend(g, prop, labelled, 10, coords=coords)
    assert np.isin(by_features, rare_rows).any()
    assert not np.isin(by_coords, rare_rows).any()


def test_classifier_memory_stands_in_for_the_last_result(spi_manifold):
    from psocake_labeler.labelling.blend import classifier_memory

    m, y = spi_manifold
    rows = _labels(y, 15)
    first = blend(propagate(m.graph, rows, y[rows], 3), m.features, rows, y[rows], 3)
    more = np.concatenate([rows, _labels(y, 1, seed=5)])     # grew by under REFIT_GROWTH
    graph = propagate(m.graph, more, y[more], 3)
    kept = blend(graph, m.features, more, y[more], 3, previous=first)
    memo = blend(graph, m.features, more, y[more], 3, previous=classifier_memory(first))
    fresh = blend(graph, m.features, more, y[more], 3)
    np.testing.assert_array_equal(memo.probabilities, kept.probabilities)
    assert not np.array_equal(fresh.probabilities, kept.probabilities)   # it was reused
    assert classifier_memory(None) is None and classifier_memory(graph) is None
