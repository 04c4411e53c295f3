"""Confidence the labels can back: held-out calibrations that only ever lower it (issue 13).

The propagation's and the blend's confidences are calibrated once, on simulated runs. On a
run where neither the graph nor the features can tell the classes apart (one detector half
dead: the graph links hits by what is left, background), the graph stays sure of whole
regions and is wrong on a fifth to a third of them. The user's labels show it: predicted
from the other labels (the assessment's held-out folds, quality.py), labels of confidence
0.6-0.9 are right about half the time there, while on the runs where the confidence holds
they are right as often as it says, or more.

:func:`fit_calibration` fits ``p(right) = sigmoid(a * logit(confidence) + b)`` to the held-out
labels (Platt scaling), with a Gaussian prior of width ``PRIOR_SD`` around ``a = 1, b = 0``
(the confidence as it is), so that a few dozen labels move it only when they disagree
clearly. :meth:`ConfidenceCalibration.cap` then shows ``min(confidence, p)``: never more
than the record supports, never more than the model says. Above the surest held-out
prediction the record says nothing, so the fit is not extrapolated there: ``p`` stays at
its value at that confidence (a graph 0.999 sure where no held-out label was more than 0.98
sure is shown as sure as the record at 0.98). The held-out labels are the
recommender's picks, the hardest events, so the record is pessimistic; taking the minimum
keeps the error on the cautious side and leaves an under-confident model alone.

:class:`HonestCalibration` holds two such fits, made by the assessment from the same folds:
one of the confidence shown (the blend's) and one of the graph's alone. The shown
confidence is then at most the first's cap, and at most the second's cap of the graph's
probability of the shown class plus what the classifier's agreement added to it: a graph
whose record is poor does not pass its sureness on through the blend. Only confidences
change: the predicted classes, the probabilities the recommender ranks by and hence the
accuracy stay as they were. The fits are a few Newton steps on the held-out labels; the
cap is a few passes over the events.

One thing the labels cannot show is a hit whose features saw little of it (its beam deep on
a dead half, or beyond the centre search): the recommender rarely picks those, and one
curve per run cannot single them out. The features measure it per hit (the manifold's
``reliability``), and :func:`reliability_cap` keeps those hits under a sure answer.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from . import reuse
from .columns import blocks, pick_rows

#: Width of the prior around the identity (slope 1, offset 0) in logit units.
PRIOR_SD = 0.5
#: Fewest held-out labels for a calibration (fewer: the confidence is shown as it is).
MIN_HELD = 10
#: Confidences are clipped into [EPS, 1 - EPS] before the logit.
EPS = 1e-6
#: A hit whose features saw less than ``RELIABLE`` of its rings (the manifold's
#: ``reliability``: the beam deep on a dead half, or beyond the centre search) is shown at
#: most ``UNRELIABLE_CONFIDENCE`` sure (:func:`reliability_cap`): its features, and its
#: graph neighbours, are those of what is left of it, so its neighbours' labels say
#: little about it (on the dead-half runs those hits were right 62-79% of the time while
#: the graph and the classifier were 0.9-0.99 sure; docs/propagation.md).
RELIABLE = 0.9
UNRELIABLE_CONFIDENCE = 0.8
#: The blend's veto (on the click, :func:`veto_block`): where the classifier gives the
#: predicted class under ``VETO`` times its smoothing's even share (it rules the class out as
#: firmly as its record allows), confidence is at most ``VETO_CONFIDENCE``: sources that
#: contradict each other make no sure answer, however sure the graph is.
VETO = 1.5
VETO_CONFIDENCE = 0.5


@dataclass(frozen=True)
class ConfidenceCalibration:
    """``p(right) = sigmoid(slope * logit(confidence) + offset)``, fitted on ``n_held``
    held-out labels of which ``n_right`` were predicted right, the surest with ``top``."""

    slope: float
    offset: float
    n_held: int
    n_right: int
    top: float

    def cap(self, confidence: np.ndarray) -> np.ndarray:
        """``min(confidence, p(right))`` per event, ``p`` held at ``p(top)`` above ``top``
        (float64, a new array); 0 stays 0."""
        c = np.asarray(confidence, dtype=np.float64)
        x = np.minimum(_logit(c), _logit(np.float64(self.top)))
        return np.minimum(c, _sigmoid(self.slope * x + self.offset))


def _logit(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, EPS, 1.0 - EPS)
    return np.log(c) - np.log1p(-c)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def fit_calibration(confidence: np.ndarray, right: np.ndarray, prior_sd: float = PRIOR_SD,
                    min_held: int = MIN_HELD) -> ConfidenceCalibration | None:
    """The maximum a posteriori Platt calibration of held-out predictions.

    Parameters
    ----------
    confidence : (M,) confidence of each held-out label's prediction (made without it).
    right : (M,) bool, whether that prediction was the user's label.
    prior_sd : width of the Gaussian prior around slope 1, offset 0.
    min_held : fewer held-out labels than this give None (nothing to learn from).

    Returns
    -------
    ConfidenceCalibration or None
    """
    x = _logit(np.asarray(confidence, dtype=np.float64).ravel())
    y = np.asarray(right, dtype=np.float64).ravel()
    if x.size < min_held:
        return None
    from scipy.optimize import minimize

    design = np.stack([x, np.ones_like(x)], axis=1)
    prior = np.array([1.0, 0.0])
    precision = 1.0 / prior_sd ** 2

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        # penalised log loss (convex) and its gradient
        z = design @ w
        value = np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * precision * np.sum((w - prior) ** 2)
        return float(value), design.T @ (_sigmoid(z) - y) + precision * (w - prior)

    w = minimize(loss, prior, jac=True, method="L-BFGS-B").x
    return ConfidenceCalibration(float(w[0]), float(w[1]), int(x.size), int(y.sum()),
                                 float(np.max(confidence)))


@dataclass(frozen=True)
class HonestCalibration:
    """The assessment's calibrations of the shown confidence (``shown``) and of the graph's
    alone (``graph``); either may be None (too few held-out labels)."""

    shown: ConfidenceCalibration | None
    graph: ConfidenceCalibration | None

    def cap(self, confidence: np.ndarray, graph_share: np.ndarray | None = None
            ) -> np.ndarray:
        """The confidence the record backs (float64, a new array: from the click's pool,
        reuse.py, inside a session's click). ``graph_share``: the graph's probability of each
        event's shown class (None: the graph's cap is left out).

        The caps are read from tables over ``KNOTS + 1`` even steps of confidence at the
        step below (float32, block by block: ~10 ms at 10^6 events where the logit and the
        sigmoid took 45), so they are never above the exact ones."""
        conf = np.asarray(confidence)
        shown = None if self.shown is None else _table(self.shown)
        share = None if self.graph is None or graph_share is None else np.asarray(graph_share)
        graph = None if share is None else _table(self.graph)
        out = reuse.empty(conf.shape[0], np.float64)
        for s in blocks(conf.shape[0]):
            c = conf[s].astype(np.float32)
            capped = c.copy()
            if shown is not None:
                np.minimum(capped, shown[_steps(c)], out=capped)
            if graph is not None:
                g = share[s].astype(np.float32)
                lift = np.maximum(c - g, np.float32(0.0))
                lift += graph[_steps(g)]
                np.minimum(capped, lift, out=capped)
            out[s] = capped
        return out


def calibration_text(calibration: HonestCalibration | None) -> str:
    """``calibration`` as one line of JSON ("" for None): what the label store keeps beside
    the confidences it capped (exact: floats round-trip through JSON)."""
    if calibration is None:
        return ""
    return json.dumps({k: None if c is None else dataclasses.asdict(c)
                       for k, c in (("shown", calibration.shown), ("graph", calibration.graph))})


def calibration_from_text(text: str) -> HonestCalibration | None:
    """:func:`calibration_text` read back; ValueError if ``text`` is not one."""
    if not text:
        return None
    try:
        d = json.loads(text)
        return HonestCalibration(*(None if d[k] is None else ConfidenceCalibration(**d[k])
                                   for k in ("shown", "graph")))
    except (TypeError, KeyError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a calibration ({exc})") from None


#: Steps of the caps' lookup tables (see :meth:`HonestCalibration.cap`).
KNOTS = 4096


def _table(cal: ConfidenceCalibration) -> np.ndarray:
    return cal.cap(np.linspace(0.0, 1.0, KNOTS + 1)).astype(np.float32)


def _steps(c: np.ndarray) -> np.ndarray:
    """Index of the table step at or below each confidence in [0, 1] (float32 c)."""
    i = (c * np.float32(KNOTS)).astype(np.int32)
    return np.clip(i, 0, KNOTS, out=i)


def honest_calibration(held_confidence: np.ndarray, held_right: np.ndarray,
                       graph_confidence: np.ndarray | None = None,
                       graph_right: np.ndarray | None = None) -> HonestCalibration:
    """:class:`HonestCalibration` from held-out predictions of the user's labels: the
    shown ones (``held_*``) and, if given, the graph's alone (``graph_*``)."""
    graph = None if graph_confidence is None else fit_calibration(graph_confidence,
                                                                  graph_right)
    return HonestCalibration(fit_calibration(held_confidence, held_right), graph)


def shown_confidence(prop, calibration: HonestCalibration | None,
                     rows: np.ndarray | None = None, reliability: np.ndarray | None = None
                     ) -> np.ndarray:
    """``prop.confidence`` as :class:`HonestCalibration` ``calibration`` backs it, or, with
    no calibration, at most :func:`few_labels_cap` of the ``rows`` labelled; then at most
    :func:`reliability_cap` of the manifold's ``reliability`` (None: no cap); user labels
    (``rows``) stay at 1. ``prop``: a blended Propagation (its state keeps the graph's
    probability of each predicted class, blend.py) or a graph one."""
    conf = np.asarray(prop.confidence, dtype=np.float64)
    if calibration is not None and (calibration.shown is not None or
                                    calibration.graph is not None):
        out = calibration.cap(conf, graph_share(prop))
    elif rows is not None and len(rows) < MIN_HELD:
        out = np.minimum(conf, few_labels_cap(len(rows)))
    else:
        out = conf
    out = reliability_cap(out, reliability, copy=out is conf)
    if out is conf:
        return conf       # as propagated: no copy (the click at 10^6 events)
    if rows is not None:
        out[np.asarray(rows, dtype=np.int64)] = 1.0
    return out


def reliability_cap(confidence: np.ndarray, reliability: np.ndarray | None,
                    copy: bool = True) -> np.ndarray:
    """``confidence`` at most ``UNRELIABLE_CONFIDENCE`` where ``reliability`` < ``RELIABLE``:
    the same array when nothing is capped, else a copy (``copy``) or itself, capped."""
    if reliability is None:
        return confidence
    weak = np.flatnonzero(np.asarray(reliability) < RELIABLE)
    if not weak.size:
        return confidence
    out = np.array(confidence, dtype=np.float64) if copy else confidence
    out[weak] = np.minimum(out[weak], UNRELIABLE_CONFIDENCE)
    return out


def few_labels_cap(n: int) -> float:
    """The most confidence ``n`` (< ``MIN_HELD``) labels back: ``(n + 1) / (n + 2)``,
    Laplace's rule of succession for n checks that all came out right. Below ``MIN_HELD``
    labels no held-out calibration exists, and a graph given one label per class is sure
    of nearly every event however hard the run is; so nothing is shown above 0.8 at 3
    labels, 0.9 at 8."""
    return (n + 1) / (n + 2)


def graph_share(prop) -> np.ndarray:
    """(N,) the graph's probability of each event's predicted class in ``prop``: kept by
    the blend (state ``graph_share``); a graph Propagation's is its confidence."""
    share = prop.state.get("graph_share") if prop.state else None
    return np.asarray(prop.confidence if share is None else share)


def veto_block(graph: np.ndarray, log_c: np.ndarray, labelled: np.ndarray,
               predicted: np.ndarray, threshold: np.float32, share: np.ndarray,
               confidence: np.ndarray) -> None:
    """The veto on one block of blend.py's events: ``share`` (B,) gets the graph's
    probability (``graph`` (B, C)) of each ``predicted`` class, and ``confidence`` is at most
    ``VETO_CONFIDENCE`` where the classifier's log-probability of it (``log_c`` (C', B) over
    ``labelled``, scaled as the blend scales it) is under ``threshold``."""
    share[:] = pick_rows(graph, predicted)
    mine = np.take_along_axis(log_c, np.searchsorted(labelled, predicted)[None], axis=0)[0]
    vetoed = mine < threshold
    confidence[vetoed] = np.minimum(confidence[vetoed], VETO_CONFIDENCE)
