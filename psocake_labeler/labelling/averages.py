"""Average pattern of each class: the mean image of its confidently labelled events.

A wrong class shows at a glance in its mean (rings of a water droplet in the Singles' mean,
a speckle pattern in the Waters'). Images are read from the run files in chunks of sorted
hit indices, so memory is one chunk plus one sum per class, whatever the run size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..progress import ProgressCallback, report
from .quality import CONFIDENT

#: Most events averaged per class: the mean is stable long before, and 10^5 images would
#: take minutes to read.
MAX_PER_CLASS = 1000
_CHUNK = 128


@dataclass
class ClassAverages:
    """Per class: the mean image (None when no image could be read) and events averaged."""

    images: list[np.ndarray | None]
    counts: np.ndarray      #: (C,) events averaged
    members: np.ndarray     #: (C,) confident members (averaged or not)


def _open_run(source: str):
    from ..errors import LabelerError
    from ..io import open_run

    try:
        return open_run(source)
    except LabelerError:
        return None   # moved or unreadable run file: its events are left out of the mean


def pick_members(label: np.ndarray, confidence: np.ndarray, k: int,
                 min_confidence: float = CONFIDENT,
                 max_count: int = MAX_PER_CLASS) -> tuple[np.ndarray, int]:
    """Rows of class ``k`` at least ``min_confidence`` sure, evenly thinned to ``max_count``.

    Returns ``(rows, number of members before thinning)``.
    """
    rows = np.flatnonzero((np.asarray(label) == k) & (np.asarray(confidence) >= min_confidence))
    if rows.size > max_count:
        return rows[np.linspace(0, rows.size - 1, max_count).astype(np.int64)], rows.size
    return rows, rows.size


def class_averages(events: np.ndarray, label: np.ndarray, confidence: np.ndarray,
                   n_classes: int, min_confidence: float = CONFIDENT,
                   run_of: Callable[[str], object] | None = None,
                   max_per_class: int = MAX_PER_CLASS,
                   progress: ProgressCallback | None = None) -> ClassAverages:
    """Mean image of the confident members of every class.

    Parameters
    ----------
    events : the manifold's event table (``source``, ``run``, ``event`` per row).
    label, confidence : (N,) final class index (user label, else predicted) and confidence.
    n_classes : number of classes.
    min_confidence : members must be at least this confident (user labels are 1).
    run_of : ``source -> Run`` (or None when unreadable); default opens the file. The GUI
        passes its own, which looks for moved files beside the manifold.
    max_per_class : events averaged per class at most.
    progress : ``progress(stage, done, total)`` after every chunk.
    """
    run_of = run_of or _open_run
    runs: dict[str, tuple[object, dict[int, int]] | None] = {}
    plan, members = [], np.zeros(n_classes, dtype=np.int64)
    for k in range(n_classes):
        rows, members[k] = pick_members(label, confidence, k, min_confidence, max_per_class)
        plan.append(rows)
    total = int(sum(r.size for r in plan))
    sums: list[np.ndarray | None] = [None] * n_classes
    counts = np.zeros(n_classes, dtype=np.int64)
    done = 0
    for k, rows in enumerate(plan):
        for source in np.unique(events["source"][rows]) if rows.size else []:
            sel = rows[events["source"][rows] == source]
            index = _hit_index(runs, run_of, str(source), events["event"][sel])
            done += sel.size
            if index is None:
                continue
            run = runs[str(source)][0]
            for a in range(0, index.size, _CHUNK):
                img = run.images(np.sort(index[a:a + _CHUNK])).astype(np.float64)
                if sums[k] is None:
                    sums[k] = np.zeros(img.shape[1:])
                if img.shape[1:] != sums[k].shape:
                    break   # a run of another detector shape cannot join this mean
                sums[k] += np.nan_to_num(img, nan=0.0, posinf=0.0, neginf=0.0).sum(axis=0)
                counts[k] += img.shape[0]
                report(progress, "class averages", min(done, total), total)
    report(progress, "class averages", total, total)
    images = [s / c if s is not None and c else None for s, c in zip(sums, counts)]
    return ClassAverages(images, counts, members)


def _hit_index(runs: dict, run_of, source: str, wanted: np.ndarray) -> np.ndarray | None:
    """Hit indices of ``wanted`` events in ``source`` (opened once), None if unreadable."""
    if source not in runs:
        run = run_of(source)
        ok = run is not None and getattr(run, "has_images", False)
        runs[source] = (run, {int(e): i for i, e in enumerate(np.asarray(run.events))}) \
            if ok else None
    if runs[source] is None:
        return None
    where = runs[source][1]
    index = np.array([where[int(e)] for e in wanted if int(e) in where], dtype=np.int64)
    return index if index.size else None


def session_averages(session, min_confidence: float = CONFIDENT,
                     run_of: Callable[[str], object] | None = None,
                     max_per_class: int = MAX_PER_CLASS,
                     progress: ProgressCallback | None = None) -> ClassAverages:
    """:func:`class_averages` of a session's final labels (user label, else predicted)."""
    label, _source, conf = session.to_data().final()
    return class_averages(session.events, label, conf, len(session.classes), min_confidence,
                          run_of, max_per_class, progress)
