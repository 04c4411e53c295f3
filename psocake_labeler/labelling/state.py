"""``LabelData``: the state of a labelling session, as a label file holds it.

Independent of any manifold object and of any file format: the session works on it, the
label store reads and writes it, merge and exports consume it. The rules every layer applies
to labels are here too, once: a user label wins over a prediction for its own event, and
labelled rows must be rows of the graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
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
    #: the honest.HonestCalibration ``confidence`` is capped by (None: as propagated)
    calibration: object | None = None

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
        rows = np.flatnonzero(user >= 0)
        label, conf = user_labels_win(self.predicted, self.confidence, rows, user[rows])
        conf[label < 0] = 0.0
        source = np.where(user >= 0, "user", np.where(self.predicted >= 0, "propagated", ""))
        return label, source.astype(object), conf


def user_labels_win(predicted: np.ndarray, confidence: np.ndarray, rows: np.ndarray,
                    classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predictions with every user label put back: the user's word is final for their event.

    ``rows`` are the labelled rows, ``classes`` their user class indices. Returns new
    ``(predicted int64, confidence float64)``; labelled rows get their label, confidence 1.
    """
    # copies written on the labelled rows only (a dock redraw at 10^6 events: no (N,) masks)
    label = np.array(predicted, dtype=np.int64)
    conf = np.array(confidence, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    label[rows], conf[rows] = np.asarray(classes, dtype=np.int64), 1.0
    return label, conf


def check_graph(graph, who: str) -> sp.csr_matrix:
    """The manifold graph as CSR; InputError naming ``who`` when it is not square sparse."""
    if not sp.issparse(graph) or graph.shape[0] != graph.shape[1]:
        raise InputError(f"{who} needs the manifold's square sparse graph (Manifold.graph)")
    return graph if sp.isspmatrix_csr(graph) else graph.tocsr()


def check_rows(rows: np.ndarray, n: int) -> None:
    """InputError unless every labelled row is one of the graph's ``n`` rows."""
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise InputError(f"labelled row out of range 0..{n - 1}; labels belong to another "
                         "manifold?")
