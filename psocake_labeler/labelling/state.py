"""``LabelData``: the state of a labelling session, as a label file holds it.

Independent of any manifold object and of any file format: the session works on it, the
label store reads and writes it, merge and exports consume it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .classes import ClassList
from .log import ActionLog


@dataclass
class LabelData:
    """Everything a label file holds, independent of any manifold object.

    ``log.labels`` holds class *ids*; :meth:`user_index` converts them to positions in
    ``classes``. ``predicted`` is -1 where nothing was propagated.
    """

    classes: ClassList
    log: ActionLog
    events: np.ndarray
    events_hash: str = ""
    class_history: dict[int, str] = field(default_factory=dict)
    predicted: np.ndarray | None = None
    confidence: np.ndarray | None = None
    scores: np.ndarray | None = None
    propagated_at: int = -1      # number of actions in the log when propagated
    method: str = ""
    auto_propagate: bool = False

    def __post_init__(self) -> None:
        n = len(self.events)
        if self.predicted is None:
            self.predicted = np.full(n, -1, dtype=np.int64)
        if self.confidence is None:
            self.confidence = np.zeros(n, dtype=np.float64)
        if self.scores is None:
            self.scores = np.zeros((n, len(self.classes)), dtype=np.float64)
        for cid, name in zip(self.classes.ids, self.classes.names):
            self.class_history[cid] = name

    def user_index(self) -> np.ndarray:
        """(N,) class position of each row's user label, -1 when unlabelled."""
        lut = {cid: i for i, cid in enumerate(self.classes.ids)}
        out = np.full(len(self.events), -1, dtype=np.int64)
        for cid, i in lut.items():
            out[self.log.labels == cid] = i
        return out

    def final(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Label index, source ("user", "propagated" or "") and confidence of every row.

        A user label always wins over a prediction for its own event (confidence 1).
        """
        user = self.user_index()
        label = np.where(user >= 0, user, self.predicted).astype(np.int64)
        source = np.where(user >= 0, "user", np.where(self.predicted >= 0, "propagated", ""))
        conf = np.where(user >= 0, 1.0, np.where(self.predicted >= 0, self.confidence, 0.0))
        return label, source.astype(object), conf.astype(np.float64)
