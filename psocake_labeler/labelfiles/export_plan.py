"""What an export will write, checked before anything is written.

An export never gives an event a class the propagation is not confident of: a propagated
label below ``min_confidence`` (default :data:`~psocake_labeler.labelling.quality.CONFIDENT`)
is exported as *unsure* (no class; source ``unsure``). And while a class has no user label
at all, propagated labels cannot tell that class from the others (with only Singles
labelled, every event is nearest to a Single), so an export that uses predictions is
refused (:class:`UnlabelledClassError`) unless forced. :func:`plan_export` gives the counts
the command line prints and the GUI's export dialog shows before writing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..labelling.quality import CONFIDENT
from ..labelling.state import LabelData

#: Formats that write the events of one class (``class_name``).
CLASS_FORMATS = ("cxi", "blacklist")
#: Class exported when none is named.
DEFAULT_EXPORT_CLASS = "Single"


class UnlabelledClassError(InputError):
    """An export would use predictions while a class has no user label (pass force)."""


def trusted_final(data: LabelData, min_confidence: float = CONFIDENT
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Final label, source and confidence per row, keeping only trusted predictions.

    Like ``LabelData.final()``, except that a propagated label under ``min_confidence``
    becomes label -1 with source ``"unsure"`` (its confidence is kept).
    """
    check_min_confidence(min_confidence)
    label, source, conf = data.final()
    unsure = (source == "propagated") & (conf < min_confidence)
    label = np.where(unsure, -1, label)
    source = np.where(unsure, "unsure", source).astype(object)
    return label, source, conf


def check_min_confidence(value: float) -> None:
    """InputError unless ``value`` is a confidence threshold in [0, 1]."""
    if not 0.0 <= float(value) <= 1.0:
        raise InputError(f"minimum confidence must be between 0 and 1, got {value}")


@dataclass
class ExportPlan:
    """Counts of an export, for the user to read before it is written.

    Attributes
    ----------
    fmt, class_name, min_confidence : what was asked (class_name only for cxi/blacklist).
    n_events : events in the label file.
    n_user : events labelled by hand.
    n_confident : events with a propagated label of at least ``min_confidence``.
    n_unsure : events with a propagated label below it (exported without a class).
    per_class : final trusted events per class name.
    unsure_per_class : events predicted as each class, but below ``min_confidence``.
    unlabelled_classes : classes with no user label.
    uses_predictions : True when propagated labels enter the export.
    """

    fmt: str
    class_name: str | None
    min_confidence: float
    n_events: int
    n_user: int
    n_confident: int
    n_unsure: int
    per_class: dict[str, int] = field(default_factory=dict)
    unsure_per_class: dict[str, int] = field(default_factory=dict)
    unlabelled_classes: list[str] = field(default_factory=list)
    uses_predictions: bool = False

    @property
    def n_selected(self) -> int:
        """Events a one-class export keeps (all events for the tables)."""
        if self.class_name is None:
            return self.n_events
        return self.per_class.get(self.class_name, 0)

    @property
    def blocked(self) -> bool:
        """True when the export needs ``force``: predictions while a class has no label."""
        return self.uses_predictions and bool(self.unlabelled_classes)

    def problem(self) -> str:
        """What is wrong with the predictions ('' when nothing blocks the export)."""
        if not self.blocked:
            return ""
        names = ", ".join(repr(n) for n in self.unlabelled_classes)
        one = len(self.unlabelled_classes) == 1
        return (f"no event is labelled {names}, so the propagated labels cannot tell "
                f"{'that class' if one else 'those classes'} from the others")

    def warning(self) -> str:
        """Why the export is refused without force, and what to do ('' when it is not)."""
        if not self.blocked:
            return ""
        one = len(self.unlabelled_classes) == 1
        return (f"{self.problem()}; label some events of {'it' if one else 'each'} first, or "
                f"force the export (--force)")

    def summary(self) -> str:
        """The counts in one line."""
        head = (f"{self.n_user} labelled by hand, {self.n_confident} propagated with "
                f"confidence >= {self.min_confidence:g}, {self.n_unsure} unsure (no class), "
                f"{self.n_events - self.n_user - self.n_confident - self.n_unsure} "
                f"without a label")
        if self.class_name is not None:
            text = f"{self.n_selected} of {self.n_events} events are {self.class_name} ({head})"
            more = self.unsure_per_class.get(self.class_name, 0)
            if more:
                # the threshold trades completeness for purity: say what it leaves out
                text += (f"; {more} more are predicted {self.class_name} with confidence "
                         f"< {self.min_confidence:g} (lower --min-confidence to include them)")
            return text
        per = ", ".join(f"{k} {v}" for k, v in self.per_class.items())
        return f"{self.n_events} events ({head}); per class: {per}"


def plan_export(data: LabelData, fmt: str, class_name: str | None = None,
                min_confidence: float = CONFIDENT) -> ExportPlan:
    """Counts and checks of exporting ``data`` as ``fmt`` (nothing is written).

    ``class_name`` (cxi, blacklist; default Single) may be given in any case; the plan
    holds the class's own spelling. ClassNameError names the classes when it is unknown.
    """
    label, source, _conf = trusted_final(data, min_confidence)
    unsure = source == "unsure"
    names = data.classes.names
    if fmt in CLASS_FORMATS:
        class_name = names[data.classes.find(class_name or DEFAULT_EXPORT_CLASS)]
    else:
        class_name = None
    user = data.user_index()
    return ExportPlan(
        fmt=fmt, class_name=class_name, min_confidence=float(min_confidence),
        n_events=len(label), n_user=int(np.sum(source == "user")),
        n_confident=int(np.sum(source == "propagated")),
        n_unsure=int(unsure.sum()),
        per_class={n: int(np.sum(label == k)) for k, n in enumerate(names)},
        unsure_per_class={n: int(np.sum(unsure & (data.predicted == k)))
                          for k, n in enumerate(names)},
        unlabelled_classes=[n for k, n in enumerate(names) if not np.any(user == k)],
        uses_predictions=bool(np.any((data.predicted >= 0) & (user < 0))))


def require_plan(plan: ExportPlan, force: bool = False) -> None:
    """Raise :class:`UnlabelledClassError` when ``plan`` is blocked and not forced."""
    if plan.blocked and not force:
        raise UnlabelledClassError(plan.warning())
