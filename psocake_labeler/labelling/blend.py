"""Use the labels, not only the graph: a classifier on the features, blended with propagation.

Graph propagation decides by how much edge weight links an event to each class's labels.
Where two classes touch on the k-NN graph (singles and multiples on coarse images) that is
a weak signal, yet a linear classifier on the same features separates them well once a few
dozen labels exist. :func:`blend` fits a multinomial logistic regression on the labelled
events' features (the manifold stores them) and combines its probabilities with the
propagation's as a weighted geometric mean, so that an event is sure only where the graph
and the classifier agree; the labelled events keep their label.

The classifier reads the features plus each hit's brightness, which the graph does not see,
and its own unweighted copy of the autocorrelation profile (inputs.py, ``classifier_inputs``).
It is calibrated on out-of-fold predictions of the labelled events (:func:`cv_calibration`):
a temperature, and a share of every probability spread evenly equal to its held-out error
rate, so that a classifier trained on a few labels per class speaks softly, one that
predicts its held-out labels well speaks up, and none is surer than its record far from its
labels.

Classes nobody labelled yet keep the propagation's probability (the classifier knows nothing
of them): they still lower confidence where they may live; a class the classifier rules out
caps it (honest.VETO). The fit is one L-BFGS solve on the labelled rows, then one product.
"""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np

from . import reuse
from .columns import (
    as_columns,
    as_rows,
    blocks,
    column_max,
    column_sum,
    column_top,
    set_user_rows,
)
from .honest import VETO, veto_block

#: Weight of the classifier's log-probabilities against the graph's (graph: 1 - weight).
CLASSIFIER_WEIGHT = 0.5
#: Inverse L2 strength of the logistic regression on standardised features.
C_REG = 1.0
#: Temperature of the blended log-probabilities (< 1 sharpens; the geometric mean of two
#: calibrated sources is under-confident where they agree).
TEMPERATURE = 0.7
#: Fewest labels before the classifier is used (the cold start alone is left to the graph).
MIN_LABELS = 20
#: Cross-validation of the classifier's calibration: folds, and at most this many labelled
#: rows (a stratified sample), which keeps it to a few milliseconds a click.
CV_FOLDS = 3
CV_ROWS = 300
#: Range of the classifier's fitted temperature, and of its smoothing (its out-of-fold
#: error rate; the floor: a few dozen held-out labels cannot show an error rate below it).
CV_TEMPERATURE = (0.5, 20.0)
SMOOTHING = (0.05, 0.5)
#: A session refits the calibration once its labels grew by this factor (or classes changed).
REFIT_GROWTH = 1.1


def classifier_probabilities(features: np.ndarray, rows: np.ndarray, classes: np.ndarray,
                             n_classes: int, c_reg: float = C_REG,
                             calibration: tuple[float, float] | None = None
                             ) -> np.ndarray | None:
    """(N, C) class probabilities of a logistic regression trained on the labelled rows;
    0 for classes without labels. None when fewer than two classes have labels.
    ``calibration``: see :func:`classifier_log_columns`."""
    got = classifier_log_columns(features, rows, classes, c_reg, calibration)
    if got is None:
        return None
    labelled, logp = got
    out = np.zeros((len(features), n_classes))
    for c, col in zip(labelled, logp):
        out[:, c] = np.exp(col)
    return out


def classifier_log_columns(features: np.ndarray, rows: np.ndarray, classes: np.ndarray,
                           c_reg: float = C_REG,
                           calibration: tuple[float, float] | None = None
                           ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(labelled classes (C',), log-probabilities (C', N) float32)`` of the logistic
    regression on the labelled rows' features, or None (fewer than two classes or
    ``MIN_LABELS`` labels). Class columns (columns.py): one float32 product over all
    events, log-softmax per class column.

    ``calibration`` = (temperature, smoothing) (None: :func:`cv_calibration`): the logits
    are divided by the temperature, and a share ``smoothing`` of each event's probability
    is spread evenly over the labelled classes. (1, 0) gives the plain regression.
    """
    from .products import one_blas_thread

    present = np.unique(classes)
    if present.size < 2 or rows.size < MIN_LABELS:
        return None
    xl = np.asarray(features[rows], dtype=np.float64)
    coef, intercept, fitted = _fit(xl, classes, c_reg)
    t, smooth = cv_calibration(xl, classes, c_reg) if calibration is None else calibration
    # One BLAS thread: the product is memory-bound, and on a busy machine threads waiting
    # for a core took 145 ms, not 31. (N, d) @ (d, C) products (30 ms where the (C, d) @
    # (d, N) product took 43 at 10^6 x 40), block by block (columns.blocks) with the
    # log-softmax of each block while it is in cache.
    features = np.asarray(features, dtype=np.float32)
    w = (coef / t).astype(np.float32).T
    b = (intercept / t).astype(np.float32)[:, None]
    z = np.empty((len(fitted), len(features)), dtype=np.float32)
    with one_blas_thread():
        for s in blocks(len(features)):
            z[:, s] = (features[s] @ w).T
            _log_softmax(z[:, s], b, smooth)
    return fitted, z


def _log_softmax(z: np.ndarray, intercept: np.ndarray, smooth: float) -> None:
    """Logits ``z`` (C', B) plus ``intercept`` to log-probabilities, in place, a share
    ``smooth`` of each event's probability spread evenly (see
    :func:`classifier_log_columns`)."""
    z += intercept
    z -= column_max(z)
    z -= np.log(column_sum(np.exp(z)))
    if smooth > 0:
        np.exp(z, out=z)
        z *= np.float32(1.0 - smooth)
        z += np.float32(smooth / len(z))
        np.log(z, out=z)


def _fit(x: np.ndarray, classes: np.ndarray, c_reg: float):
    """Logistic regression on standardised ``x``: (coef (C, d), intercept (C,), classes)
    acting on unstandardised rows."""
    from sklearn.linear_model import LogisticRegression

    from .products import one_blas_thread

    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-6 * (np.abs(x).max() + 1e-12)
    clf = LogisticRegression(C=c_reg, class_weight="balanced", max_iter=500)
    with one_blas_thread():
        clf.fit((x - mean) / std, classes)
    # The standardisation folded into the weights: one float32 (N, d) x (d, C) product over
    # all events, no standardised copy of the features.
    coef = clf.coef_ / std
    intercept = clf.intercept_ - coef @ mean
    if coef.shape[0] == 1:   # two classes: scikit-learn keeps one row for the second class
        coef = np.vstack([-coef, coef]) / 2.0
        intercept = np.array([-intercept[0], intercept[0]]) / 2.0
    return coef, intercept, clf.classes_


def cv_calibration(x: np.ndarray, classes: np.ndarray, c_reg: float = C_REG,
                   folds: int = CV_FOLDS, max_rows: int = CV_ROWS) -> tuple[float, float]:
    """(temperature, smoothing) of the classifier from out-of-fold predictions of the
    labelled rows ``x`` (stratified folds over at most ``max_rows`` of them).

    The temperature minimises the out-of-fold log loss (range ``CV_TEMPERATURE``); the
    smoothing is the out-of-fold error rate (range ``SMOOTHING``): a classifier wrong on a
    fifth of its held-out labels keeps a fifth of every probability spread evenly, so that
    far from its labels, where a linear model's logits grow without bound, it is never
    surer than its record. (1, 0.5) when no fold can be predicted (a class with one label
    is left out: no fold can learn it).
    """
    from scipy.optimize import minimize_scalar

    z, y = _out_of_fold(x, np.asarray(classes), c_reg, folds, max_rows)
    if not len(y):
        return 1.0, SMOOTHING[1]
    lo, hi = CV_TEMPERATURE

    def loss(log_t: float) -> float:
        zt = z / np.exp(log_t)
        zt -= zt.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(zt).sum(axis=1)) - zt[np.arange(len(y)), y]))

    res = minimize_scalar(loss, bounds=(np.log(lo), np.log(hi)), method="bounded")
    error = float(np.mean(np.argmax(z, axis=1) != y))
    return float(np.exp(res.x)), float(np.clip(error, *SMOOTHING))


def _out_of_fold(x: np.ndarray, classes: np.ndarray, c_reg: float, folds: int,
                 max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold logits (n, K) over the K classes of the sample, and the true columns."""
    rng = np.random.default_rng(0)
    keep = rng.permutation(len(classes))[:max_rows]
    fold = np.full(len(classes), -1, dtype=np.int64)
    for c in np.unique(classes[keep]):
        members = keep[classes[keep] == c]
        fold[members] = rng.permutation(members.size) % folds
    known = np.unique(classes[keep])
    logits, truth = [np.zeros((0, known.size))], [np.zeros(0, dtype=np.int64)]
    for k in range(folds):
        train, test = (fold >= 0) & (fold != k), fold == k
        if np.unique(classes[train]).size < 2:
            continue
        coef, intercept, fitted = _fit(x[train], classes[train], c_reg)
        test &= np.isin(classes, fitted)
        # A class no training row of this fold holds gets no probability.
        z = np.full((np.count_nonzero(test), known.size), -np.inf)
        z[:, np.searchsorted(known, fitted)] = x[test] @ coef.T + intercept
        logits.append(z)
        truth.append(np.searchsorted(known, classes[test]))
    return np.vstack(logits), np.concatenate(truth)


def propagate_and_blend(graph, features: np.ndarray | None, rows, classes, n_classes: int,
                        previous=None, overlap: bool = False, **options):
    """:func:`~.propagation.propagate` (``options`` passed on), then :func:`blend`: the
    predictions a :class:`~.session.LabelSession` shows. ``previous``: the last result in
    this session (its classifier calibration, see :func:`blend`).

    With ``overlap`` (the session's click) the classifier half (:func:`classifier_part`),
    which does not need the graph's answer, runs on the other core while the graph is
    solved (``products.side_job``; at 10^6 events its fit and product take about as long
    as a click's graph solve), one BLAS thread per thread of the click, lifted when both
    are done (``products.one_blas_thread``). Without it both halves run here, one after the
    other: the quality estimate runs on a worker thread beside the session's, and must
    neither queue on the click's one side worker nor set the process-wide BLAS limit
    while a click holds it.
    """
    from .products import one_blas_thread, side_job
    from .propagation import propagate

    rows = np.asarray(rows, dtype=np.int64).ravel()
    classes = np.asarray(classes, dtype=np.int64).ravel()
    if not overlap:
        prop = propagate(graph, rows, classes, n_classes, **options)
        return blend(prop, features, rows, classes, n_classes, previous=previous)
    with one_blas_thread():
        job = side_job(classifier_part, features, rows, classes, n_classes, previous)
        try:
            prop = propagate(graph, rows, classes, n_classes, **options)
        finally:
            classifier = job.result()
    return blend(prop, features, rows, classes, n_classes, previous=previous,
                 classifier=classifier)


def classifier_memory(prop):
    """What :func:`blend` reads of ``previous`` (calibration, kernel map), out of the blended
    Propagation ``prop`` (None: None), holding none of its (N,) click buffers (reuse.py)."""
    kept = getattr(prop, "state", {}).get("classifier_calibration")
    return None if kept is None else SimpleNamespace(state={"classifier_calibration": kept})


def _calibration(previous, features: np.ndarray, rows: np.ndarray, classes: np.ndarray,
                 present: np.ndarray) -> tuple:
    """The classifier's inputs and calibration: the ones ``previous`` (the last blended
    Propagation) used while the labels grew by under ``REFIT_GROWTH`` with the same
    classes, else a new :func:`cv_calibration` on ``features`` or, once the labels support
    it, on their kernel map (rbf.py; made once, then kept). Returns (n labels, classes
    key, (temperature, smoothing), kernel map or None)."""
    from .rbf import kernel_applies, kernel_map

    key = present.tobytes()
    kept = getattr(previous, "state", {}).get("classifier_calibration") \
        if previous is not None else None
    use_kernel = kernel_applies(rows.size, len(features))
    old = kept[3] if kept is not None and kept[3] is not None \
        and len(kept[3]) == len(features) else None
    # kept while the labels grew little, with the same classes and the same inputs (a
    # linear calibration is not kept past the click from which the kernel map applies)
    if kept is not None and kept[1] == key and kept[0] <= rows.size < kept[0] * REFIT_GROWTH \
            and (old is not None if use_kernel else kept[3] is None):
        return kept
    ext = None
    if use_kernel:
        ext = old if old is not None else kernel_map(features)
    x = features if ext is None else ext
    return rows.size, key, cv_calibration(np.asarray(x[rows], dtype=np.float64), classes), ext


def classifier_part(features: np.ndarray | None, rows, classes, n_classes: int,
                    previous=None) -> tuple | None:
    """The classifier half of :func:`blend`, which does not need the propagation (a session
    runs it on the other core while the graph is solved): ``(calibration kept, labelled
    classes, log-probability columns)``, or None when :func:`blend` leaves the propagation
    as it is (no features, fewer than two classes or ``MIN_LABELS`` labels). The classifier
    reads ``features``, or their kernel map once :func:`_calibration` made one."""
    rows = np.asarray(rows, dtype=np.int64).ravel()
    classes = np.asarray(classes, dtype=np.int64).ravel()
    if features is None or np.unique(classes).size < 2 or rows.size < MIN_LABELS:
        return None
    kept = _calibration(previous, features, rows, classes,
                        np.bincount(classes, minlength=n_classes) > 0)
    inputs = features if kept[3] is None else kept[3]
    labelled, log_c = classifier_log_columns(inputs, rows, classes, calibration=kept[2])
    return kept, labelled, log_c


def _blend_block(graph: np.ndarray, log_c: np.ndarray, labelled: np.ndarray,
                 present: np.ndarray, weight: float, cols: np.ndarray, predicted: np.ndarray,
                 confidence: np.ndarray, veto: float, share_g: np.ndarray) -> None:
    """:func:`blend` of one block of events: ``graph`` (B, C) the graph's probabilities,
    ``log_c`` (C', B) the classifier's log-probabilities of the ``labelled`` classes (changed
    in place); into ``cols`` (C, B), ``predicted``, ``confidence`` and ``share_g`` (B,; with
    ``veto``, see honest.veto_block)."""
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
    log_c *= np.float32(weight / TEMPERATURE)
    z += log_c
    predicted[:], top = column_top(z, labelled)
    z -= top
    np.exp(z, out=z)
    # Each event's probabilities add up to 1 - (mass of unlabelled classes) within ~1e-7:
    # the mass the graph gives to classes nobody labelled stays theirs.
    share = np.float32(1.0) / column_sum(z)
    if not present.all():
        share *= (1.0 - graph[:, ~present].sum(axis=1, dtype=np.float64)).astype(np.float32)
    for c in np.flatnonzero(~present):
        cols[c] = graph[:, c]
    for c, col in zip(labelled, z):
        np.multiply(col, share, out=cols[c])
    # The predicted class's probability: its exp(0) = 1 times the share, exactly.
    np.minimum(share, 1.0, out=confidence)
    veto_block(graph, log_c, labelled, predicted, veto, share_g, confidence)


def blend(prop, features: np.ndarray | None, rows, classes, n_classes: int,
          weight: float = CLASSIFIER_WEIGHT, previous=None, classifier: tuple | None = None):
    """The propagation ``prop`` with its probabilities blended with a feature classifier's.

    ``previous``: the last result of ``blend`` in this session; its classifier calibration
    is reused while the labels grew by under ``REFIT_GROWTH`` (a click costs one fit).
    ``classifier``: :func:`classifier_part` of the same arguments, if already computed.

    Returns a new Propagation (same scores and solver state) whose ``probabilities``,
    ``predicted`` and ``confidence`` combine both; ``prop`` itself when there are no
    features or too few labels.
    """
    rows = np.asarray(rows, dtype=np.int64).ravel()
    classes = np.asarray(classes, dtype=np.int64).ravel()
    if features is None or len(features) != len(prop.predicted):
        return prop
    if classifier is None:
        classifier = classifier_part(features, rows, classes, n_classes, previous)
    if classifier is None:
        return prop
    kept, labelled, log_c = classifier
    veto = np.float32(np.log(VETO * kept[2][1] / len(labelled)) * weight / TEMPERATURE)
    present = np.zeros(n_classes, dtype=bool)
    present[labelled] = True
    graph = np.asarray(prop.probabilities)   # float32 class columns (columns.as_rows) or not
    n = len(graph)
    # float32 class columns out (no (N, C) float64 array), made block by block: the dozen
    # per-event steps then read each block from cache, not 12 MB passes from memory.
    cols = reuse.empty((n_classes, n), np.float32)
    predicted = reuse.empty(n, np.int64)
    confidence = reuse.empty(n, np.float64)
    share_g = reuse.empty(n, np.float32)   # the graph's, of each predicted class: honest.py
    for s in blocks(n):
        _blend_block(graph[s], log_c[:, s], labelled, present, weight, cols[:, s],
                     predicted[s], confidence[s], veto, share_g[s])
    prob = as_rows(cols)
    # Events no label reaches on the graph stay unknown: the classifier alone is a guess.
    unreached = np.less_equal(prop.confidence, 0.0, out=reuse.empty(n, bool))
    if unreached.any():
        prob[unreached] = graph[unreached]
        predicted[unreached] = np.asarray(prop.predicted)[unreached]
        confidence[unreached] = 0.0
    predicted[rows] = classes
    confidence[rows] = 1.0
    set_user_rows(prob, rows, classes)
    return replace(prop, probabilities=prob, predicted=predicted, confidence=confidence,
                   state=dict(prop.state, classifier_calibration=kept, graph_share=share_g))
