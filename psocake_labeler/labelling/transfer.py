"""Carry a label file's whole log onto another manifold (an extended one, or a rebuilt one).

Rows are matched by event: ``(source, run, event)``, else ``(run, event)`` when the run files
were moved between building the two manifolds. Entries of events the new manifold lacks are
left out of the carried log (the original label file keeps them); every user, time and
undo step of the others survives.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from .log import Action, ActionLog
from .state import LabelData


def event_rows(old_events: np.ndarray, new_events: np.ndarray) -> np.ndarray:
    """Row in ``new_events`` of every row of ``old_events``; -1 where it is missing."""
    full: dict[tuple, int] = {}
    short: dict[tuple, int] = {}
    for i in range(len(new_events) - 1, -1, -1):    # first occurrence wins
        run, event = int(new_events["run"][i]), int(new_events["event"][i])
        full[(str(new_events["source"][i]), run, event)] = i
        short[(run, event)] = i
    out = np.full(len(old_events), -1, dtype=np.int64)
    for i in range(len(old_events)):
        run, event = int(old_events["run"][i]), int(old_events["event"][i])
        out[i] = full.get((str(old_events["source"][i]), run, event),
                          short.get((run, event), -1))
    return out


def remap_log(log: ActionLog, mapping: np.ndarray, n_rows: int) -> ActionLog:
    """The log with every row ``r`` renamed ``mapping[r]``; entries mapped to -1 dropped."""
    acts = []
    for a in log.actions:
        rows = mapping[a.rows]
        keep = rows >= 0
        acts.append(Action(a.id, a.kind, a.user, a.time, rows[keep], a.class_ids[keep].copy(),
                           a.prev_ids[keep].copy(), a.ref, a.detail))
    return ActionLog(n_rows, acts)


def carried_data(data: LabelData, manifold) -> tuple[LabelData, int]:
    """``data``'s classes and log on ``manifold``'s rows, and the user labels left behind.

    InputError when none of the labelled events is on the manifold (it is another run's).
    """
    mapping = event_rows(data.events, manifold.events)
    labelled = data.log.labelled_rows()
    missing = int(np.sum(mapping[labelled] < 0))
    if len(labelled) and missing == len(labelled):
        raise InputError(f"none of the {len(labelled)} labelled events is on this manifold "
                         f"({len(manifold.events)} events): the labels belong to other runs")
    new = LabelData(data.classes.copy(), remap_log(data.log, mapping, len(manifold.events)),
                    np.asarray(manifold.events), manifold.events_hash(),
                    class_history=dict(data.class_history), method=data.method,
                    auto_propagate=data.auto_propagate)
    return new, missing
