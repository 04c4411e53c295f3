"""Use the labels, not only the graph: a classifier on the features, blended with propagation.

Graph propagation decides by how much edge weight links an event to each class's labels.
Where two classes touch on the k-NN graph (singles and multiples on coarse images) that is
a weak signal, yet a linear classifier on the same features separates them well once a few
dozen labels exist. :func:`blend` fits a multinomial logistic regression on the labelled
events' features (the manifold stores them) and combines its probabilities with the
propagation's as a weighted geometric mean, so that an event is sure only where the graph
and the classifier agree; the labelled events keep their label.

Classes nobody labelled yet keep the probability the propagation gave them (the classifier
knows nothing about them), so they still lower confidence where they may live. The fit is
one L-BFGS solve on the labelled rows (milliseconds for hundreds of labels) and one matrix
product over all events: well inside the per-click budget at 10^5 events.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .columns import as_columns, column_argmax, column_max, column_sum

#: Weight of the classifier's log-probabilities against the graph's (graph: 1 - weight).
CLASSIFIER_WEIGHT = 0.5
#: Inverse L2 strength of the logistic regression on standardised features.
C_REG = 0.1
#: Temperature of the blended log-probabilities (< 1 sharpens; the geometric mean of two
#: calibrated sources is under-confident where they agree).
TEMPERATURE = 0.7
#: Fewest labels before the classifier is used (the cold start alone is left to the graph).
MIN_LABELS = 20


def classifier_probabilities(features: np.ndarray, rows: np.ndarray, classes: np.ndarray,
                             n_classes: int, c_reg: float = C_REG) -> np.ndarray | None:
    """(N, C) class probabilities of a logistic regression trained on the labelled rows;
    0 for classes without labels. None when fewer than two classes have labels."""
    got = classifier_log_columns(features, rows, classes, c_reg)
    if got is None:
        return None
    labelled, logp = got
    out = np.zeros((len(features), n_classes))
    for c, col in zip(labelled, logp):
        out[:, c] = np.exp(col)
    return out


def classifier_log_columns(features: np.ndarray, rows: np.ndarray, classes: np.ndarray,
                           c_reg: float = C_REG) -> tuple[np.ndarray, np.ndarray] | None:
    """``(labelled classes (C',), log-probabilities (C', N) float32)`` of the logistic
    regression on the labelled rows' features, or None (fewer than two classes or
    ``MIN_LABELS`` labels). Class columns (columns.py): one float32 product over all
    events, log-softmax per class column."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    present = np.unique(classes)
    if present.size < 2 or rows.size < MIN_LABELS:
        return None
    xl = np.asarray(features[rows], dtype=np.float64)
    mean = xl.mean(axis=0)
    std = xl.std(axis=0) + 1e-6 * (np.abs(xl).max() + 1e-12)
    clf = LogisticRegression(C=c_reg, class_weight="balanced", max_iter=500)
    # The standardisation folded into the weights: one float32 (N, d) x (d, C) product over
    # all events, no standardised copy of the features. One BLAS thread: the product is
    # memory-bound, and on a busy machine threads waiting for a core took 145 ms, not 31.
    with threadpool_limits(1):
        clf.fit((xl - mean) / std, classes)
        coef = clf.coef_ / std
        intercept = clf.intercept_ - coef @ mean
        if coef.shape[0] == 1:   # two classes: scikit-learn keeps one row for the second
            coef = np.vstack([-coef, coef]) / 2.0
            intercept = np.array([-intercept[0], intercept[0]]) / 2.0
        z = coef.astype(np.float32) @ np.asarray(features, dtype=np.float32).T
    z += intercept.astype(np.float32)[:, None]
    top = column_max(z)
    z -= top
    total = column_sum(np.exp(z))
    z -= np.log(total)
    return clf.classes_, z


def propagate_and_blend(graph, features: np.ndarray | None, rows, classes, n_classes: int,
                        **options):
    """:func:`~.propagation.propagate` (``options`` passed on), then :func:`blend`: the
    predictions a :class:`~.session.LabelSession` shows."""
    from .propagation import propagate

    prop = propagate(graph, rows, classes, n_classes, **options)
    return blend(prop, features, rows, classes, n_classes)


def blend(prop, features: np.ndarray | None, rows, classes, n_classes: int,
          weight: float = CLASSIFIER_WEIGHT):
    """The propagation ``prop`` with its probabilities blended with a feature classifier's.

    Returns a new Propagation (same scores and solver state) whose ``probabilities``,
    ``predicted`` and ``confidence`` combine both; ``prop`` itself when there are no
    features or too few labels.
    """
    rows = np.asarray(rows, dtype=np.int64).ravel()
    classes = np.asarray(classes, dtype=np.int64).ravel()
    if features is None or len(features) != len(prop.predicted):
        return prop
    got = classifier_log_columns(features, rows, classes)
    if got is None:
        return prop
    labelled, log_c = got
    present = np.zeros(n_classes, dtype=bool)
    present[labelled] = True
    graph = np.asarray(prop.probabilities, dtype=np.float64)
    # Mass the graph gives to classes nobody labelled stays theirs.
    absent_mass = graph[:, ~present].sum(axis=1)
    # The weighted geometric mean in the log domain, per class column (columns.py):
    # z = ((1 - w) log g + w log c) / T, with g the graph's probabilities renormalised over
    # the labelled classes and c the classifier's, clipped at 1e-12.
    z = as_columns(graph, which=labelled)
    g_total = np.maximum(column_sum(z), 1e-30)
    z /= g_total
    np.maximum(z, np.float32(1e-38), out=z)
    np.log(z, out=z)
    z *= np.float32((1.0 - weight) / TEMPERATURE)
    np.maximum(log_c, np.float32(np.log(1e-12)), out=log_c)
    z += np.float32(weight / TEMPERATURE) * log_c
    best = column_argmax(z.T)
    z -= column_max(z)
    np.exp(z, out=z)
    total = z[0].astype(np.float64)
    for c in range(1, len(z)):
        total += z[c]
    share = (1.0 - absent_mass) / total
    prob = graph.copy()
    for c, col in zip(labelled, z):
        np.multiply(col, share, out=prob[:, c])
    # Events no label reaches on the graph stay unknown: the classifier alone is a guess.
    unreached = np.asarray(prop.confidence) <= 0.0
    predicted = labelled[best].astype(np.int64)
    if unreached.any():
        prob[unreached] = graph[unreached]
        predicted[unreached] = np.asarray(prop.predicted)[unreached]
    confidence = prob.reshape(-1)[np.arange(len(prob)) * n_classes + predicted]
    confidence[unreached] = 0.0
    predicted[rows] = classes
    confidence[rows] = 1.0
    prob[rows] = 0.0
    prob[rows, classes] = 1.0
    return replace(prop, probabilities=prob, predicted=predicted, confidence=confidence)
