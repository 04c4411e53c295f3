"""How far to trust the labels, in the dock: the stopping signal and the review queue.

A mixin of :class:`~psocake_labeler.gui.dock.LabelManifoldDock`. The assessment
(:func:`~psocake_labeler.labelling.quality.assess_session`: held-out checks of your labels,
an accuracy estimate, the labels the others contradict) takes several propagations, so it
runs on the dock's other worker on a copy of the labels, a moment after the last change;
labelling never waits for it.
"""
from __future__ import annotations

import copy
import html

from pyqtgraph.Qt import QtCore

ASSESS_DELAY_MS = 1500


class _Frozen:
    """What ``assess_session`` reads of a session, copied on the session thread."""

    def __init__(self, session):
        self._data = copy.deepcopy(session.to_data())
        self.manifold = session.manifold
        self.classes = list(session.classes)

    def to_data(self):
        return self._data


class DockTrust:
    """Stopping signal and review queue of the Label Manifold dock."""

    def init_trust(self) -> None:
        self.quality = None
        self.review_items: dict[int, object] = {}    # row -> ReviewItem
        self._assessing = False
        self._assess_again = False
        self._after_assess: list = []
        self._assess_timer = QtCore.QTimer(self)
        self._assess_timer.setSingleShot(True)
        self._assess_timer.setInterval(ASSESS_DELAY_MS)
        self._assess_timer.timeout.connect(self.assess)

    def schedule_assess(self) -> None:
        """Assess again once the labels have been still for a moment."""
        if self.session is not None and len(self.session.labelled_rows()):
            self._assess_timer.start()

    def assess(self, then=None) -> None:
        """Work out the stopping signal and review queue in the background; ``then()`` in
        the GUI thread when done."""
        if then is not None:
            self._after_assess.append(then)
        if self.session is None:
            return
        if self._assessing:
            self._assess_again = True
            return
        self._assessing = True
        session = self.session

        def run(frozen):
            from ..labelling.quality import assess_session

            self.runner.start(lambda progress: assess_session(frozen),
                              lambda q: self._assessed(session, q),
                              lambda exc: self._assessed(session, None, exc))

        self._call(_Frozen, run)

    def _assessed(self, session, quality, error=None) -> None:
        self._assessing = False
        if error is not None:
            self.show_error(f"could not assess the labels: {error}")
        elif session is self.session:
            self.quality = quality
            self.review_items = {item.row: item for item in quality.review}
            self.controls.set_quality(quality_html(quality), quality_tooltip(quality))
            self.grid.refresh()
        if self._assess_again:
            self._assess_again = False
            self.assess()
            return
        callbacks, self._after_assess = self._after_assess, []
        for cb in callbacks:
            cb()

    def show_review(self) -> None:
        """The review queue in the grid, surest contradiction first, the first current."""
        def ready():
            rows = [item.row for item in (self.quality.review if self.quality else [])]
            self.show_batch(rows, "Review (your labels the others contradict)")
            if rows:
                self.show_row(rows[0])
            else:
                self.controls.status.setText("review: no label of yours is contradicted by "
                                             "confident predictions")

        self.assess(then=ready)

    def review_note(self, row: int) -> str | None:
        """"X 0.93", what the others say of a row in the review queue, else None."""
        item = self.review_items.get(int(row))
        if item is None or not 0 <= item.suggested < len(self.session.classes):
            return None
        return f"{self.session.classes[item.suggested]} {item.confidence:.2f}"


def quality_html(q) -> str:
    """The stopping signal in one line (confident events, accuracy estimate, a red warning
    mark); the full sentences are the label's tooltip (:func:`quality_tooltip`)."""
    text = f"{q.n_confident}/{q.n_events} confident (≥ {q.min_confidence:g})"
    if q.accuracy is not None:
        text += f" · estimated accuracy {q.accuracy:.1%} ({q.n_held_out} held-out labels)"
    else:
        text += " · accuracy not estimated yet"
    warn = []
    if q.unlabelled_classes:
        warn.append("no label: " + ", ".join(q.unlabelled_classes))
    if q.review:
        warn.append(f"{len(q.review)} to review (V)")
    if warn:
        text += " · <span style='color:#ff6060'>⚠ " + html.escape("; ".join(warn)) + "</span>"
    return text


def quality_tooltip(q) -> str:
    """Every line of the assessment: summary, per class, warnings."""
    return "\n".join(q.lines())
