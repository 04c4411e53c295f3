"""What a session change touched, for listeners that redraw only that."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Change:
    """One change of a :class:`~psocake_labeler.labelling.session.LabelSession`.

    Attributes
    ----------
    kind : str
        The action kind (``label``, ``unlabel``, ``import``, ``merge``, ``undo``, ``redo``,
        ``classes``, ``note``), ``propagate``, ``calibrate`` (the confidences shown are
        capped anew, :meth:`~.session.LabelSession.calibrate`), ``colour``, or ``refresh``
        (actions other writers appended to the store were read).
    rows : ndarray of int
        Rows whose user label changed (empty when none did).
    predictions : bool
        Predictions and confidences were recomputed: any row's colour may have changed.
    classes : bool
        The class list, names or colours changed.
    """

    kind: str
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    predictions: bool = False
    classes: bool = False
