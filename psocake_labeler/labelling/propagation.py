"""Graph label propagation: spreading, harmonic (Laplace) and Poisson learning.

``propagate(graph, rows, classes, n_classes)`` spreads a few user labels over the manifold's
sparse kernel graph and returns per-class scores, the predicted class and a calibrated
confidence for every event. Solvers live in :mod:`propagation_solvers`; all are sparse
preconditioned CG, warm-started from ``warm_start.state``.

Confidence is the largest calibrated class probability (see ``_probabilities``), with a
per-method temperature ``T`` chosen on simulated runs so that events with confidence > 0.9
are right well over 95% of the time (docs/propagation.md has the measurement). Events that
no label can reach (another connected component) get confidence 0, never NaN; so do, for
Poisson and harmonic, events of a linked piece without labels (see ``poisson_groups``).
Spreading leaves out the links between pieces that both hold labels (links.py says why).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from . import reuse
from .columns import (
    as_columns,
    as_rows,
    blocks,
    column_argmax,
    column_max,
    column_sum,
    column_sums,
    median,
    pick_rows,
    set_user_rows,
)
from .links import same_cut, spreading_cut
from .solvers import (
    GraphInfo,
    graph_info,
    harmonic_solve,
    poisson_groups,
    poisson_solve,
    poisson_sources,
    spreading_solve,
)
from .state import check_graph, check_rows

METHODS = ("spreading", "poisson", "harmonic")

#: Chosen by measurement on simulated runs (docs/propagation.md): spreading uses the
#: normalised graph and stays accurate when kernel degrees span many decades.
DEFAULT_METHOD = "spreading"

#: Softmax temperatures of the normalised scores, per method (calibrated on simulated runs).
TEMPERATURE = {"spreading": 0.5, "poisson": 0.1, "harmonic": 1.0}

#: Pseudo-mass added to every class before the probabilities, relative to the median
#: winning mass (see ``_probabilities``; calibrated with ``TEMPERATURE``).
PSEUDO_MASS = {"spreading": 0.03, "harmonic": 0.03}

#: Label spreading's clamping factor (Zhou et al. use 0.99).
SPREADING_ALPHA = 0.99

#: Relative residual at which CG stops. Class decisions at 1e-2 match those at 1e-4 on
#: our benchmarks (docs/propagation.md) and a warm start then needs only a few iterations.
TOL = 1e-2


@dataclass
class Propagation:
    """Result of :func:`propagate`.

    Attributes
    ----------
    scores : (N, C) float64, per-class scores (higher = more that class); class-scaled.
    predicted : (N,) int64, argmax class, the user's class on labelled rows, -1 if no labels.
    confidence : (N,) float64 in [0, 1]; 1 on labelled rows, 0 where no label reaches.
    probabilities : (N, C), the calibrated class probabilities behind ``confidence``;
        float32 class columns seen as rows when every class may reach every event (the
        common case), float64 otherwise; each row adds up to 1 (float32: within 1e-6).
    state : opaque dict for ``warm_start`` (solution, right-hand side, graph info, method).
    labelled_classes : (C,) bool, which classes have at least one label (None: all).
    """

    scores: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray
    state: dict[str, Any] = field(default_factory=dict, repr=False)
    labelled_classes: np.ndarray | None = None


def _check(graph: sp.spmatrix, rows: np.ndarray, classes: np.ndarray, n_classes: int,
           method: str) -> sp.csr_matrix:
    if method not in METHODS:
        raise InputError(f"unknown propagation method {method!r}; use one of {', '.join(METHODS)}")
    graph = check_graph(graph, "propagation")
    if rows.shape != classes.shape:
        raise InputError(f"{rows.size} labelled rows but {classes.size} classes were given")
    check_rows(rows, graph.shape[0])
    if classes.size and (classes.min() < 0 or classes.max() >= n_classes):
        raise InputError(f"label class out of range 0..{n_classes - 1}")
    if np.unique(rows).size != rows.size:
        raise InputError("a row is labelled twice; pass each labelled row once")
    return graph


def balance_scales(classes: np.ndarray, n_classes: int, balance: bool) -> np.ndarray:
    """Per-class multipliers of Poisson's unit-mass solutions.

    Unbalanced, class ``j`` weighs ``n_j / m``, its share of the labels (Calder et al.'s plain
    source ``y - ybar``). Balanced, every labelled class injects the same mass, so a class
    the user labelled less often (e.g. Multiple next to Water/Unknown) is not swamped.
    """
    counts = np.bincount(classes, minlength=n_classes).astype(float)
    if balance:
        return (counts > 0).astype(float)
    return counts / max(counts.sum(), 1.0)


def _normalised(scores: np.ndarray, reached: np.ndarray) -> np.ndarray:
    """Scale-free scores: divided by the mean absolute score of the reached rows."""
    scale = np.mean(np.abs(scores[reached])) if reached.any() else 1.0
    return scores / (scale if scale > 0 else 1.0)


def _probabilities(method: str, scores: np.ndarray, reached: np.ndarray,
                   allowed: np.ndarray | None, t: float, absent: np.ndarray | None = None
                   ) -> np.ndarray:
    """Calibrated class probabilities.

    Harmonic and spreading scores are non-negative class masses (for harmonic, the chance
    that a random walk from the event first meets a label of that class). A pseudo-mass
    ``PSEUDO_MASS[method]`` times the typical winning mass is added to every class, so that
    events where little mass arrives (far from every label) are pulled towards uniform
    instead of being decided by ratios of tiny numbers; then ``p ~ mass ** (1 / T)``.
    Poisson scores are signed potentials; they go through a softmax of the scale-free
    scores over ``T``. Classes in ``absent`` (no label anywhere) get the typical mass
    (Poisson: the mean potential, 0) everywhere. ``allowed`` (N, C) says which classes an
    event may get; None: all of them (then masses take the float32 path, ``_mass_power``).
    """
    if absent is None:
        absent = np.zeros(scores.shape[1], dtype=bool)
    if allowed is None and method != "poisson":
        prob = _mass_power(method, scores, reached, t, absent)
        if prob is not None:
            return prob
    if allowed is None:
        allowed = np.ones(scores.shape, dtype=bool)
    if method == "poisson":
        z = _normalised(scores, reached)
        z[:, absent] = 0.0
        z = np.where(allowed, z / t, -np.inf)
        return _softmax(z)
    mass = np.clip(np.asarray(scores, dtype=np.float64), 0.0, None)
    typical = float(np.median(mass[reached].max(axis=1))) if reached.any() else 0.0
    mass[:, absent] = typical
    mass = mass + PSEUDO_MASS[method] * typical + 1e-300
    z = np.where(allowed, np.log(mass) / t, -np.inf)
    z[~allowed.any(axis=1)] = 0.0
    return _softmax(z)


def _mass_power(method: str, scores: np.ndarray, reached: np.ndarray, t: float,
                absent: np.ndarray) -> np.ndarray | None:
    """``p ~ (mass + pseudo) ** (1 / T)`` of ``_probabilities`` with every class allowed, in
    float32 class columns (columns.py): no log or exp, ~10 passes over N x C instead of ~20
    float64 ones. None when float32 would under- or overflow (very small ``T``) or no mass
    arrives; the float64 log-domain path then answers."""
    n = len(scores)
    cols = reuse.empty((scores.shape[1], n), np.float32)
    top = reuse.empty(n, np.float32)
    for s in blocks(n):   # block by block (columns.blocks): each read once from memory
        cols[:, s] = as_columns(scores[s])
        np.maximum(column_max(cols[:, s]), 0.0, out=top[s])
    typical = (median(top) if reached.all() else median(top[reached])) if reached.any() \
        else 0.0
    if not np.isfinite(typical) or typical <= 0.0:
        return None
    power, pseudo = 1.0 / t, PSEUDO_MASS[method]
    # Masses relative to the typical one lie in [pseudo, top / typical + pseudo].
    span = np.log10([pseudo, float(top.max()) / typical + pseudo]) * power
    if span[0] < -30 or span[1] > 30:
        return None
    # float32 throughout: each event's probabilities add up to 1 within ~1e-7, far inside
    # the solver's tolerance; no (N, C) float64 array is made (columns.py).
    for s in blocks(n):
        _mass_power_block(cols[:, s], np.float32(1.0 / typical), absent, pseudo, power)
    return as_rows(cols)


def _mass_power_block(cols: np.ndarray, scale: np.float32, absent: np.ndarray,
                      pseudo: float, power: float) -> None:
    """One block of :func:`_mass_power`'s probabilities from its class columns, in place."""
    cols *= scale
    np.maximum(cols, 0.0, out=cols)
    cols[absent] = 1.0
    cols += np.float32(pseudo)
    if power == 2.0:
        np.square(cols, out=cols)
    elif power != 1.0:
        np.power(cols, np.float32(power), out=cols)
    cols *= np.float32(1.0) / np.maximum(column_sum(cols), np.float32(1e-37))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def propagate(graph: sp.spmatrix, labelled_rows, labelled_classes, n_classes: int,
              method: str = DEFAULT_METHOD, balance: bool = True,
              warm_start: Propagation | None = None, temperature: float | None = None,
              update_warm_start: bool = False) -> Propagation:
    """Spread user labels over the manifold graph.

    Parameters
    ----------
    graph : (N, N) sparse symmetric kernel weights, zero diagonal (``Manifold.graph``).
    labelled_rows, labelled_classes : equal-length int sequences: row index and class index.
    n_classes : number of classes C.
    method : ``"spreading"`` (default, Zhou et al.; best on simulated runs), ``"poisson"``
        (Calder et al.) or ``"harmonic"`` (Zhu et al.); see docs/propagation.md.
    balance : do not let a class win by its number of labels: class mass normalisation
        (spreading), equal source mass per class (Poisson); no effect on harmonic.
    warm_start : a previous :class:`Propagation` on the same graph; its solution starts CG.
    temperature : override the calibrated softmax temperature.
    update_warm_start : the solver may change ``warm_start``'s solution in place instead of
        copying it (a caller that drops ``warm_start`` for the result, as a session does:
        two (N, C) copies less a click; the answer is the same).

    Returns
    -------
    Propagation
    """
    rows = np.asarray(labelled_rows, dtype=np.int64).ravel()
    classes = np.asarray(labelled_classes, dtype=np.int64).ravel()
    graph = _check(graph, rows, classes, n_classes, method)
    n = graph.shape[0]
    info, x0, ax0, b0, before = _warm_start(graph, warm_start, method, n_classes)
    state: dict[str, Any] = {"info": info, "method": method, "solution": None}
    if rows.size == 0:
        return Propagation(np.zeros((n, n_classes)), np.full(n, -1, dtype=np.int64),
                           np.zeros(n), np.full((n, n_classes), 1.0 / max(n_classes, 1)), state)
    reached = (reuse.full(n, True, bool) if info.n_components == 1
               else np.isin(info.component, np.unique(info.component[rows])))
    if method == "spreading":
        state["cut"] = _cut(info, rows)
        if warm_start is not None and not same_cut(state["cut"], warm_start.state.get("cut")):
            ax0 = None   # x0 solved another operator: its kept product does not hold
    scores, part, weak = _solve(graph, info, rows, classes, n_classes, method, balance,
                                reached, state, (x0, ax0, b0, before, update_warm_start))
    t = TEMPERATURE[method] if temperature is None else float(temperature)
    return _finish(scores, rows, classes, n_classes, method, t, reached, part, weak, state)


def _warm_start(graph: sp.csr_matrix, warm: Propagation | None, method: str, n_classes: int):
    """Graph facts and the last solution (x0, A x0, rhs) from ``warm`` when they still fit."""
    n = graph.shape[0]
    if warm is not None and warm.state.get("info") is not None:
        old: GraphInfo = warm.state["info"]
        if old.matches(graph):
            sol = warm.state["solution"]
            if warm.state.get("method") == method and sol is not None \
                    and sol.shape == (n, n_classes):
                state = warm.state
                return old, sol, state.get("product"), state.get("rhs"), state.get("rows")
            return old, None, None, None, None
    return graph_info(graph), None, None, None, None


def _cut(info: GraphInfo, rows: np.ndarray) -> np.ndarray | None:
    """The links spreading leaves out for labels on ``rows`` (links.py says why)."""
    if info.link_ends is None or not len(info.link_ends):
        return None
    return spreading_cut(info.link_ends, poisson_groups(info, rows)[0])


def _solve(graph, info: GraphInfo, rows, classes, n_classes: int, method: str, balance: bool,
           reached: np.ndarray, state: dict, start: tuple):
    """Class scores by ``method``; also the graph parts classes live in and weak rows."""
    x0, ax0, b0, before, in_place = start   # before: the rows labelled when x0 was solved
    n = graph.shape[0]
    onehot = np.zeros((rows.size, n_classes))
    onehot[np.arange(rows.size), classes] = 1.0
    # Where a class can get probability: only in the parts of the graph holding its labels.
    part = info.component
    weak = np.zeros(n, dtype=bool)
    if method == "poisson":
        part, counted = poisson_groups(info, rows)
        b = poisson_sources(part, rows, classes, n_classes)
        u = poisson_solve(graph, info, b, x0, TOL, b0, part, counted)
        weak = reached & ~counted
        state["rhs"], state["solution"] = b, u
        return u * balance_scales(classes, n_classes, balance), part, weak
    if method == "harmonic":
        scores, state["rhs"] = harmonic_solve(graph, info, rows, onehot, x0, TOL, b0)
        state["solution"] = scores
        return scores, part, reached & ~poisson_groups(info, rows)[1]
    y = reuse.zeros((n, n_classes))
    y[rows] = onehot
    nonzero = None if before is None else np.union1d(before, rows)
    f, state["product"] = spreading_solve(graph, info, y, SPREADING_ALPHA, x0, TOL, ax0, b0,
                                          nonzero, reached, in_place, state["cut"])
    state["rhs"], state["solution"], state["rows"] = y, f, rows
    if not balance:
        return f, part, weak
    # Class mass normalisation (Zhu et al. 2003): a class does not win by having more
    # labels; each class's total score is made equal before the argmax.
    # Per column: numpy's sum over the long axis of an (N, 3) array took 18 ms at 10^6
    # events, three column sums 3 ms.
    mass = column_sums(f, None if reached.all() else reached) \
        / max(int(np.count_nonzero(reached)), 1)
    # float64 scores (float32 would round masses below ~1e-38, far from every label on a
    # long chain, to ties); the probabilities from them are float32 class columns.
    scale = 1.0 / (np.where(mass > 0, mass, 1.0) * n_classes)
    return np.multiply(f, scale, out=reuse.empty(f.shape, f.dtype)), part, weak


def _allowed(part: np.ndarray, rows: np.ndarray, classes: np.ndarray, n_classes: int,
             reached: np.ndarray, present: np.ndarray) -> np.ndarray | None:
    """(N, C) which classes each event may get: a class with no label in its connected
    component (Poisson: its group of pieces) cannot reach it. None when that is every
    labelled class for every event (one graph part, or all parts hold every class): the
    common case at scale, where no (N, C) mask is made."""
    in_part = np.zeros((int(part.max()) + 1, n_classes), dtype=bool)
    in_part[part[rows], classes] = True
    if (in_part[np.unique(part[rows])] == present).all():
        return None
    allowed = in_part[part]
    allowed[~reached] = present
    return allowed


def _finish(scores, rows, classes, n_classes: int, method: str, t: float, reached, part,
            weak, state: dict) -> Propagation:
    """Probabilities, predicted class and confidence from the scores."""
    present = np.bincount(classes, minlength=n_classes) > 0
    allowed = _allowed(part, rows, classes, n_classes, reached, present)
    # A class nobody has labelled yet is still a possible answer anywhere: it enters the
    # probabilities as if it had the typical mass everywhere, so that labelling one class
    # does not make every event that class with confidence 1; only events clearly closer to
    # a label than typical are sure. No effect once every class has a label.
    prob = _probabilities(method, scores, reached, None if allowed is None
                          else allowed | ~present, t, absent=~present)
    uniform = present / present.sum()
    everywhere = reached.all()
    if not everywhere:
        prob[~reached] = uniform
    if allowed is None:
        predicted = column_argmax(scores, np.flatnonzero(present))
    else:
        predicted = np.argmax(np.where(allowed, scores, -np.inf), axis=1).astype(np.int64)
    # the probability of the class we predict (not of an unlabelled class that may be likelier)
    confidence = np.minimum(pick_rows(prob, predicted), 1.0,
                            out=reuse.empty(len(predicted), np.float64))
    if not everywhere:
        # Unreachable rows: keep the most common labelled class as a guess, but say we
        # don't know.
        predicted[~reached] = int(np.argmax(np.bincount(classes, minlength=n_classes)))
        confidence[~reached] = 0.0
    # Poisson and harmonic scores are constant on a linked piece without labels (a random
    # walk leaves it only through its one link): the class at the link's far end is a guess,
    # not knowledge, so those rows are as uncertain as unreachable ones (the recommender
    # then asks there).
    if weak.any():
        prob[weak] = uniform
        confidence[weak] = 0.0
    # The user's labels win for their own events (state.user_labels_win, in place here).
    predicted[rows] = classes
    confidence[rows] = 1.0
    set_user_rows(prob, rows, classes)
    return Propagation(scores, predicted, confidence, prob, state, labelled_classes=present)
