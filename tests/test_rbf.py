"""The blend's classifier reads a kernel map of its inputs once the labels support it."""
from __future__ import annotations

import numpy as np
from graphs import knn_kernel

from psocake_labeler.labelling import rbf as kernel
from psocake_labeler.labelling.blend import blend, classifier_part
from psocake_labeler.labelling.propagation import propagate


def _rings(n=2000, seed=0):
    """Two classes no line separates: an inner disc and a ring around it, in 2 of 6 columns."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    r = np.where(y == 0, rng.uniform(0.0, 1.0, n), rng.uniform(1.6, 2.6, n))
    t = rng.uniform(0, 2 * np.pi, n)
    x = np.column_stack([r * np.cos(t), r * np.sin(t), rng.normal(size=(n, 4)) * 0.3])
    return x.astype(np.float32), y


def _right(part, rows, y):
    _, labelled, log_c = part
    un = np.setdiff1d(np.arange(y.size), rows)
    return np.mean(labelled[np.argmax(log_c[:, un], axis=0)] == y[un])


def test_the_classifier_uses_a_kernel_once_the_labels_support_it():
    x, y = _rings()
    rows = np.random.default_rng(1).choice(y.size, kernel.MIN_LABELS + 50, replace=False)
    part = classifier_part(x, rows, y[rows], 2)
    assert part[0][3] is not None and part[0][3].shape == (y.size, 6 + kernel.LANDMARKS)
    assert _right(part, rows, y) > 0.95
    # With fewer labels the linear model stays, and it cannot tell a disc from a ring.
    few = rows[:kernel.MIN_LABELS - 1]
    linear = classifier_part(x, few, y[few], 2)
    assert linear[0][3] is None and _right(linear, few, y) < 0.75


def test_the_map_is_made_once_and_large_runs_keep_the_linear_model(monkeypatch):
    x, y = _rings(seed=2)
    rng = np.random.default_rng(3)
    rows = rng.choice(y.size, 2 * kernel.MIN_LABELS, replace=False)
    first = rows[:kernel.MIN_LABELS]
    prop = blend(propagate(knn_kernel(x), first, y[first], 2), x, first, y[first], 2)
    kept_map = prop.state["classifier_calibration"][3]
    assert kept_map is not None
    # Labels grew past the refit: a new calibration, on the same map.
    again = classifier_part(x, rows, y[rows], 2, previous=prop)
    assert again[0][0] == rows.size and again[0][3] is kept_map
    monkeypatch.setattr(kernel, "MAX_EVENTS", y.size - 1)
    assert classifier_part(x, rows, y[rows], 2)[0][3] is None


def test_the_kernel_map_comes_on_the_click_that_reaches_min_labels():
    """A linear calibration kept from just below MIN_LABELS labels is not reused once the
    kernel map applies (it was, for up to REFIT_GROWTH more labels)."""
    x, y = _rings(seed=4)
    rows = np.random.default_rng(5).choice(y.size, kernel.MIN_LABELS, replace=False)
    below = rows[:-3]
    prop = blend(propagate(knn_kernel(x), below, y[below], 2), x, below, y[below], 2)
    assert prop.state["classifier_calibration"][3] is None
    part = classifier_part(x, rows, y[rows], 2, previous=prop)
    assert part[0][3] is not None and _right(part, rows, y) > 0.95
