"""Can the labels be trusted? Held-out checks, a stopping signal and a label-review queue.

The user's own labels are the only truth we have, so they are used as a test set: the labels
are split into ``folds`` class-stratified parts and each part is predicted by a propagation
from the others (:func:`held_out`). From that come

* an **accuracy estimate** of the current predictions (:func:`estimate_accuracy`): the
  held-out labels tell how often a prediction of a given confidence is right; that rate,
  per confidence bin, is applied to the unlabelled events. The raw held-out accuracy would
  be far too pessimistic, because the recommender picks the hardest events to label
  (docs/propagation.md has the comparison with the simulator's truth);
* the **review queue** (:func:`review_queue`): user labels that the other labels confidently
  contradict, most confident first: likely slips of the key;
* the **stopping signal** (:class:`Quality`): how many events are confident, the estimate,
  per-class counts, and a warning while a class has no label.

All of it is a handful of warm-started propagations: about 0.1 s for 2000 events, a few
tenths of a second at 10^5 (fast enough after a click, or in a background thread).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import honest
from .blend import blend, propagate_and_blend
from .inputs import manifold_inputs
from .propagation import DEFAULT_METHOD, Propagation, propagate

#: Default minimum confidence of a propagated label that exports and counts trust. On the
#: simulated test runs, 99.8% of the events above it are right (docs/propagation.md).
CONFIDENT = 0.9

#: Held-out confidence at which a contradicted user label enters the review queue. Lower
#: than ``CONFIDENT``: a slip of the key among few labels is contradicted with 0.85-0.91 on
#: a simulated run, and the queue is sorted surest first anyway.
REVIEW_CONFIDENCE = 0.6

#: Accuracy at which the stopping signal says "enough" (the project's goal: 95% with under
#: 5% of the events labelled). The estimate runs low (docs/propagation.md), so this is safe.
TARGET_ACCURACY = 0.95

#: Folds of the held-out check; 5 keeps 80% of the labels in every re-propagation.
FOLDS = 5

# Confidence bins of the calibration: finer near 1, where most events are.
_EDGES = np.array([0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0])
# Weight of the propagation's own confidence in a bin, in held-out labels: with few labels
# per bin the estimate leans on the calibrated confidence, with many on the labels.
_PRIOR = 2.0


@dataclass
class HeldOut:
    """Predictions of user labels by propagations that did not see them.

    Attributes
    ----------
    rows : (M,) manifold rows of the held-out user labels.
    label : (M,) their user class index.
    predicted : (M,) class predicted without them.
    confidence : (M,) confidence of that prediction.
    graph_predicted, graph_confidence : (M,) the same from the graph alone, before the
        blend with the feature classifier (None if not made).
    """

    rows: np.ndarray
    label: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    graph_predicted: np.ndarray | None = None
    graph_confidence: np.ndarray | None = None

    @property
    def accuracy(self) -> float | None:
        """Share of held-out labels predicted right (None without held-out labels)."""
        return float(np.mean(self.predicted == self.label)) if len(self.rows) else None


def fold_of(classes: np.ndarray, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Fold number of each label, stratified by class; -1 for a class's only label.

    A class's only label is never held out: without it the class would have no label at
    all, and the check would test the absence of a class, not the labels.
    """
    classes = np.asarray(classes, dtype=np.int64)
    rng = np.random.default_rng(seed)
    out = np.full(classes.size, -1, dtype=np.int64)
    offset = 0
    for c in np.unique(classes):
        idx = np.flatnonzero(classes == c)
        if idx.size >= 2:
            # the offset spreads small classes over different folds
            out[rng.permutation(idx)] = (np.arange(idx.size) + offset) % folds
            offset += idx.size
    return out


def held_out(graph, rows, classes, n_classes: int, folds: int = FOLDS,
             method: str = DEFAULT_METHOD, warm_start: Propagation | None = None,
             seed: int = 0, features: np.ndarray | None = None,
             cancelled: Callable[[], bool] | None = None) -> HeldOut:
    """Predict every user label from the others (``folds``-fold, class-stratified).

    Parameters
    ----------
    graph : the manifold's sparse graph (``Manifold.graph``).
    rows, classes : the user-labelled rows and their class indices.
    n_classes : number of classes.
    folds : number of parts; each is predicted by one propagation of the rest.
    method : propagation method, as the session uses.
    warm_start : the current propagation of all labels, to start each solve near its answer.
    seed : fold assignment seed.
    features : the manifold's features: predictions blended with the feature classifier,
        as the session shows them (labelling/blend.py).
    cancelled : asked before each propagation; when it returns True,
        :class:`AssessmentCancelledError` is raised (the labels changed: the answer is stale).
    """
    rows = np.asarray(rows, dtype=np.int64)
    classes = np.asarray(classes, dtype=np.int64)
    fold = fold_of(classes, folds, seed)
    pred = np.full((2, rows.size), -1, dtype=np.int64)
    conf = np.zeros((2, rows.size))
    for f in range(folds):
        test = fold == f
        if not test.any():
            continue
        _check(cancelled)
        # propagate_and_blend's steps one by one (the graph's answer is kept too), in turn
        # (see its overlap); previous: the fold keeps the run's kernel map (rbf.py; made
        # from the features alone), not its calibration (chosen on more labels than the
        # fold has).
        g = propagate(graph, rows[~test], classes[~test], n_classes, method=method,
                      warm_start=warm_start)
        p = blend(g, features, rows[~test], classes[~test], n_classes, previous=warm_start)
        for k, got in enumerate((p, g)):
            pred[k, test] = got.predicted[rows[test]]
            conf[k, test] = got.confidence[rows[test]]
    used = fold >= 0
    return HeldOut(rows[used], classes[used], pred[0, used], conf[0, used], pred[1, used],
                   conf[1, used])


def estimate_accuracy(held: HeldOut, confidence: np.ndarray) -> float | None:
    """Expected share of right predictions among events of the given ``confidence``.

    Per confidence bin, the rate at which held-out labels of that confidence were predicted
    right (shrunk towards the bin's mean confidence by ``_PRIOR`` pseudo-labels) is applied
    to the events in the bin. None when there is nothing to estimate.
    """
    confidence = np.asarray(confidence, dtype=float)
    if not len(held.rows) or not confidence.size:
        return None
    nb = len(_EDGES) - 1
    b_held = np.clip(np.searchsorted(_EDGES, held.confidence, side="right") - 1, 0, nb - 1)
    b_ev = np.clip(np.searchsorted(_EDGES, confidence, side="right") - 1, 0, nb - 1)
    right = held.predicted == held.label
    total = 0.0
    for b in np.unique(b_ev):
        in_bin = b_ev == b
        sel = b_held == b
        rate = ((right[sel].sum() + _PRIOR * confidence[in_bin].mean())
                / (sel.sum() + _PRIOR))
        total += in_bin.sum() * rate
    return float(total / confidence.size)


@dataclass
class ReviewItem:
    """A user label the other labels confidently contradict."""

    row: int
    label: int          #: the user's class index
    suggested: int      #: the class the other labels predict
    confidence: float   #: confidence of that prediction


def review_queue(held: HeldOut, min_confidence: float = REVIEW_CONFIDENCE,
                 k: int | None = None) -> list[ReviewItem]:
    """User labels predicted otherwise with at least ``min_confidence``, surest first."""
    wrong = (held.predicted != held.label) & (held.confidence >= min_confidence)
    idx = np.flatnonzero(wrong)
    idx = idx[np.argsort(-held.confidence[idx], kind="stable")][:k]
    return [ReviewItem(int(held.rows[i]), int(held.label[i]), int(held.predicted[i]),
                       float(held.confidence[i])) for i in idx]


@dataclass
class ClassCount:
    """Events of one class: labelled by hand, and propagated with / without confidence."""

    name: str
    user: int
    confident: int
    unsure: int


@dataclass
class Quality:
    """The stopping signal of a labelling session, and its review queue.

    Attributes
    ----------
    n_events, n_user : events, and events labelled by hand.
    n_confident : events whose final label is trusted (user labels included).
    min_confidence : the threshold of ``n_confident``.
    accuracy : estimated share of right predictions among the events not labelled by hand
        (None while a class has no label, or before two labels of a class exist).
    n_held_out : user labels behind the estimate.
    classes : per-class :class:`ClassCount`.
    unlabelled_classes : names of classes without a single user label.
    review : :class:`ReviewItem` list, surest contradiction first.
    calibration : the held-out calibration of the confidence (honest.py); ``n_confident``
        and the per-class counts use the confidence it backs. None without held-out labels.
    """

    n_events: int
    n_user: int
    n_confident: int
    min_confidence: float
    accuracy: float | None
    n_held_out: int
    classes: list[ClassCount] = field(default_factory=list)
    unlabelled_classes: list[str] = field(default_factory=list)
    review: list[ReviewItem] = field(default_factory=list)
    calibration: honest.HonestCalibration | None = None

    def warnings(self) -> list[str]:
        """Sentences a user must read before trusting the predictions."""
        out = []
        if self.unlabelled_classes:
            names = ", ".join(repr(n) for n in self.unlabelled_classes)
            out.append(f"no event is labelled {names} yet: predictions cannot tell "
                       f"{'that class' if len(self.unlabelled_classes) == 1 else 'those classes'}"
                       f" apart; label some before exporting")
        if self.review:
            out.append(f"{len(self.review)} of your labels disagree with confident "
                       f"predictions from the others: review them")
        return out

    def summary(self) -> str:
        """One line: confident events and the accuracy estimate."""
        text = (f"{self.n_confident} of {self.n_events} events confident "
                f"(>= {self.min_confidence:g}, {self.n_user} labelled by hand)")
        if self.unlabelled_classes:
            return text + "; accuracy not estimated while a class has no label"
        if self.accuracy is None:
            return text + "; accuracy not estimated yet (needs 2 labels of a class)"
        return (text + f"; estimated accuracy of the predictions {self.accuracy:.1%} "
                f"(from {self.n_held_out} held-out labels)")

    def can_stop(self, target: float = TARGET_ACCURACY) -> bool:
        """True when labelling more is unlikely to pay: every class labelled and the
        (conservative) accuracy estimate at least ``target``. Labels to review do not
        block it (a right label on a class border may stay listed); the verdict names them."""
        return (not self.unlabelled_classes and self.accuracy is not None
                and self.accuracy >= target)

    def verdict(self, target: float = TARGET_ACCURACY) -> str:
        """One line: stop, or keep labelling and why."""
        if self.can_stop(target):
            check = (f" once you have checked the {len(self.review)} labels to review"
                     if self.review else "")
            return (f"enough labels for {target:.0%}{check}: the estimate is "
                    f"{self.accuracy:.1%}; label the unsure events only if you need them")
        why = ("a class has no label" if self.unlabelled_classes else
               "no estimate yet" if self.accuracy is None else
               f"estimated accuracy {self.accuracy:.1%} < {target:.0%}")
        return f"keep labelling ({why}): the recommended events teach the most"

    def lines(self) -> list[str]:
        """Summary, one line per class, warnings, verdict (for the CLI and the dock)."""
        out = [self.summary()]
        for c in self.classes:
            out.append(f"  {c.name}: {c.user} by hand, {c.confident} propagated with "
                       f"confidence, {c.unsure} unsure")
        return out + [f"warning: {w}" for w in self.warnings()] + [self.verdict()]


def assess(graph, user: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
           class_names: list[str], method: str = DEFAULT_METHOD,
           min_confidence: float = CONFIDENT, warm_start: Propagation | None = None,
           folds: int = FOLDS, features: np.ndarray | None = None,
           cancelled: Callable[[], bool] | None = None,
           reliability: np.ndarray | None = None) -> Quality:
    """The :class:`Quality` of a propagation.

    Parameters
    ----------
    graph : the manifold's graph.
    user : (N,) user class index per row, -1 where unlabelled.
    predicted, confidence : (N,) the current propagation (user labels included).
    class_names : the classes in order.
    method, warm_start : as the session propagates (warm start: its last Propagation).
    min_confidence : threshold of a trusted propagated label.
    folds : parts of the held-out check.
    cancelled : see :func:`held_out`; ``reliability``: the manifold's (honest.py).

    Trust (``n_confident``, the per-class counts) is counted on the confidence the held-out
    labels back (honest.py; with ``warm_start`` the graph's record is applied too); the
    accuracy estimate reads the confidence as given, since its held-out rates are its own
    calibration.
    """
    user = np.asarray(user, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    confidence = np.asarray(confidence, dtype=float)
    rows = np.flatnonzero(user >= 0)
    n_classes = len(class_names)
    held = held_out(graph, rows, user[rows], n_classes, folds, method, warm_start,
                    features=features, cancelled=cancelled)
    calibration = calibrate(held)
    share = honest.graph_share(warm_start) if warm_start is not None \
        and len(warm_start.confidence) == len(confidence) else None
    trusted = honest.reliability_cap(confidence if calibration is None else
                                     calibration.cap(confidence, share), reliability)
    free = user < 0
    sure = free & (predicted >= 0) & (trusted >= min_confidence)
    unsure = free & (predicted >= 0) & ~sure
    counts = [ClassCount(name, int(np.sum(user == k)), int(np.sum(sure & (predicted == k))),
                         int(np.sum(unsure & (predicted == k))))
              for k, name in enumerate(class_names)]
    missing = [c.name for c in counts if c.user == 0]
    # no estimate while a class has no label: no held-out label could show its events missed
    accuracy = None if missing else estimate_accuracy(held, confidence[free & (predicted >= 0)])
    return Quality(
        n_events=len(user), n_user=len(rows), n_confident=len(rows) + int(sure.sum()),
        min_confidence=float(min_confidence),
        accuracy=accuracy,
        n_held_out=len(held.rows), classes=counts,
        unlabelled_classes=missing,
        review=review_queue(held), calibration=calibration)


def assessed_confidence(graph, features, prop: Propagation, rows, classes, n_classes: int,
                        reliability: np.ndarray | None = None) -> np.ndarray:
    """The confidence of ``prop`` capped by the calibrations of its labels' held-out folds
    (:func:`held_out`, :func:`calibrate`) and by the manifold's ``reliability``: what a
    session shows once assessed."""
    held = held_out(graph, rows, classes, n_classes, features=features, warm_start=prop)
    return honest.shown_confidence(prop, calibrate(held), rows, reliability)


def calibrate(held: HeldOut) -> honest.HonestCalibration | None:
    """The :class:`~.honest.HonestCalibration` of the held-out predictions ``held``; None
    when too few labels were held out for either fit."""
    graph_right = None if held.graph_predicted is None else held.graph_predicted == held.label
    cal = honest.honest_calibration(held.confidence, held.predicted == held.label,
                                    held.graph_confidence, graph_right)
    return None if cal.shown is None and cal.graph is None else cal


def assess_session(session, min_confidence: float = CONFIDENT, folds: int = FOLDS,
                   cancelled: Callable[[], bool] | None = None) -> Quality:
    """:func:`assess` of a :class:`~psocake_labeler.labelling.session.LabelSession`.

    Propagates the session's user labels afresh (its own method), so that the answer does
    not depend on whether the session's predictions are up to date; the session is not
    changed. Its last propagation is passed on as ``previous``: the classifier keeps the
    session's inputs (the kernel map, rbf.py, made once per session) and, while the labels
    grew little, its calibration (blend.py). ``cancelled``: see :func:`held_out` (asked
    before each of the propagations).
    """
    data = session.to_data()
    user = data.user_index()
    rows = np.flatnonzero(user >= 0)
    method = data.method or DEFAULT_METHOD
    graph = session.manifold.graph
    # From the manifold, not the session: the dock hands over a frozen copy of its state.
    features = manifold_inputs(session.manifold)
    _check(cancelled)
    prop = propagate_and_blend(graph, features, rows, user[rows], len(session.classes),
                               previous=getattr(session, "last_propagation", None),
                               method=method)
    return assess(graph, user, prop.predicted, prop.confidence, session.classes, method,
                  min_confidence, prop, folds, features=features, cancelled=cancelled,
                  reliability=getattr(session.manifold, "reliability", None))


def propagate_assessed(session, method: str | None = None,
                       min_confidence: float = CONFIDENT) -> Quality:
    """Propagate ``session``'s labels (``method``: its own when None), assess them
    (:func:`assess_session`) and show its confidences capped by the assessment's
    calibration (honest.py): the confidence ``propagate`` saves and ``export --manifold``
    exports. Returns the assessment."""
    with session.predictions_deferred():    # the store takes only the capped ones
        session.propagate(method)
        q = assess_session(session, min_confidence)
        session.calibrate(q.calibration)
    return q


class AssessmentCancelledError(Exception):
    """Raised by the assessment when its ``cancelled`` callback says the labels moved on."""


def _check(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise AssessmentCancelledError("the labels changed during the assessment")
