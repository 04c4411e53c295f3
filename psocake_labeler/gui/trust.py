"""How far to trust the labels, in the dock: the stopping signal and the review queue.

A mixin of :class:`~psocake_labeler.gui.dock.LabelManifoldDock`. The assessment
(:func:`~psocake_labeler.labelling.quality.assess_session`: held-out checks of your labels,
an accuracy estimate, the labels the others contradict) takes six propagations, so it runs
on the dock's other worker on a copy of the labels once they have been still for a while,
and labelling never waits for it:

* the quiet wait is ``ASSESS_DELAY_MS``, or ``ASSESS_QUIET_FACTOR`` times the last
  assessment's duration when that is longer (at 10^6 events an assessment takes seconds of
  CPU; started 1.5 s after each label it ran beside the next clicks and made each of them
  several times slower on two cores);
* the wait restarts at every key that labels and whenever it ends while the session thread
  is still busy with a click;
* a label given while one runs makes it stale: it stops before its next propagation
  (``cancelled``) and the next quiet moment starts it again. Only a change of the labels
  does (the label log grew, or the method changed): a redraw or a propagation that changes
  no label leaves it running.

Its held-out calibration (labelling/honest.py) goes to the session, which shows every
confidence capped by it from then on, and the dock redraws them as it lands (the session
tells its listeners; predictions do not change). That redraw, and any other that changes
no label, starts no new assessment: the labels it would assess are those assessed.
"""
from __future__ import annotations

import html
import time

from pyqtgraph.Qt import QtCore

ASSESS_DELAY_MS = 1500
#: The quiet wait before an assessment, in durations of the last one.
ASSESS_QUIET_FACTOR = 2.0
#: Longest quiet wait (ms).
ASSESS_MAX_DELAY_MS = 60000


class _Frozen:
    """What ``assess_session`` reads of a session, copied on the session thread: the user
    labels as an index and the method (a deep copy of the whole state copied the event
    table, the log and 40 MB of predictions at 10^6 events, on the thread clicks wait for).
    """

    def __init__(self, session):
        from ..labelling.blend import classifier_memory

        data = session.to_data()
        self.user, self.method = data.user_index(), data.method
        self.key = labels_key(session)
        self.manifold = session.manifold
        self.classes = list(session.classes)
        # its classifier's inputs and calibration only: the Propagation itself would keep
        # the click's buffers from being reused while the assessment runs (reuse.py)
        self.last_propagation = classifier_memory(session.last_propagation)

    def to_data(self):
        return self

    def user_index(self):
        return self.user


class DockTrust:
    """Stopping signal and review queue of the Label Manifold dock."""

    def init_trust(self) -> None:
        self.quality = None
        self.review_items: dict[int, object] = {}    # row -> ReviewItem
        self._assessing = False
        self._assess_again = False
        self._after_assess: list = []
        self._assess_stale = [False]      # the running assessment's cancel flag
        self._assess_key = None           # labels_key() of the labels it assesses
        self._quality_key = None          # labels_key() of the labels self.quality assessed
        self._assess_seconds = 0.0        # how long the last assessment took
        self._assess_timer = QtCore.QTimer(self)
        self._assess_timer.setSingleShot(True)
        self._assess_timer.setInterval(ASSESS_DELAY_MS)
        self._assess_timer.timeout.connect(self.assess)

    def assess_delay_ms(self) -> int:
        """The quiet wait before the next assessment (see the module docstring)."""
        wait = ASSESS_QUIET_FACTOR * 1000.0 * self._assess_seconds
        return int(min(max(ASSESS_DELAY_MS, wait), ASSESS_MAX_DELAY_MS))

    def schedule_assess(self) -> None:
        """Assess again once the labels have been still for a moment; an assessment running
        now is stale and stops if the labels changed since it took them.

        Before it has taken them (key None) nothing is stale: the session thread takes them
        after every change queued before it, and the redraw of a change queued after it
        comes after the key is set (both in the session thread's order)."""
        if self.session is not None and len(self.session.labelled_rows()):
            now, key = labels_key(self.session), self._assess_key
            if key is not None and key != now:
                self._assess_stale[0] = True
            if now != self._quality_key:
                self._assess_timer.start(self.assess_delay_ms())

    def assess(self, then=None) -> None:
        """Work out the stopping signal and review queue in the background; ``then()`` in
        the GUI thread when done."""
        if then is not None:
            self._after_assess.append(then)
        if self.session is None:
            return
        if self.session_runner.busy and not self._after_assess:
            # a click is being labelled and propagated: wait for quiet again
            self._assess_timer.start(self.assess_delay_ms())
            return
        if self._assessing:
            self._assess_again = True
            return
        self._assessing = True
        session = self.session
        stale = self._assess_stale = [False]
        self._assess_key = None     # until the labels are taken on the session thread

        def run(frozen):
            if stale is self._assess_stale:
                self._assess_key = frozen.key
            from ..labelling.quality import AssessmentCancelledError, assess_session

            started = time.perf_counter()

            def work(progress):
                try:
                    q = assess_session(frozen, cancelled=lambda: stale[0])
                except AssessmentCancelledError:
                    # it took at least this long: the next waits longer, not 1.5 s again
                    self._assess_seconds = max(self._assess_seconds,
                                               time.perf_counter() - started)
                    raise
                self._assess_seconds = time.perf_counter() - started
                return q

            self.runner.start(work, lambda q: self._assessed(session, q, key=frozen.key),
                              lambda exc: self._assessed(session, None, exc))

        self._call(_Frozen, run)

    def _assessed(self, session, quality, error=None, key=None) -> None:
        from ..labelling.quality import AssessmentCancelledError

        self._assessing = False
        if isinstance(error, AssessmentCancelledError):
            # the labels moved on: the timer starts it again once they are still, unless
            # someone waits for the answer (the review queue)
            if self._after_assess or self._assess_again:
                self._assess_again = False
                self.assess()
            return
        if error is not None:
            self.show_error(f"could not assess the labels: {error}")
        elif session is self.session:
            self.quality, self._quality_key = quality, key
            # its held-out calibration caps the confidences shown (the session's listener
            # redraws them)
            if quality.calibration != session.calibration:
                self._call(lambda s: s.calibrate(quality.calibration))
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


def labels_key(session) -> tuple:
    """What an assessment depends on, as an exact test: the session, the length of its
    label log (every label, undo, class edit appends to it) and the method."""
    return id(session), len(session.log.actions), session.to_data().method


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
