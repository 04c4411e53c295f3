"""Event tables: one row per hit, naming where it came from as (source, run, event).

The table is a numpy structured array so that it can be stored in HDF5 as it is, compared
row by row, and hashed. ``source`` is the file the hit was read from (a path string).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from ..errors import LayoutError

# Variable-length UTF-8 strings for ``source``: paths have no useful maximum length, and
# h5py stores ``object`` strings with this dtype without conversion.
SOURCE_DTYPE = np.dtype("O")
EVENT_DTYPE = np.dtype([("source", SOURCE_DTYPE), ("run", np.int32), ("event", np.int64)])


def make_event_table(source: str | Sequence[str], run: int | Sequence[int],
                     events: Iterable[int]) -> np.ndarray:
    """Build an event table.

    Parameters
    ----------
    source : str or sequence of str
        File of every hit (one string for all, or one per hit).
    run : int or sequence of int
        Run number (one for all, or one per hit).
    events : iterable of int
        Event numbers of the hits.

    Returns
    -------
    numpy.ndarray
        Structured array of dtype :data:`EVENT_DTYPE`, one row per event.
    """
    ev = np.asarray(list(events) if not isinstance(events, np.ndarray) else events,
                    dtype=np.int64).reshape(-1)
    table = np.empty(len(ev), dtype=EVENT_DTYPE)
    table["event"] = ev
    table["run"] = np.broadcast_to(np.asarray(run, dtype=np.int32), ev.shape)
    if isinstance(source, (str, bytes)):
        table["source"] = [str(source)] * len(ev)
    else:
        src = [str(s) for s in source]
        if len(src) != len(ev):
            raise ValueError(f"{len(src)} sources for {len(ev)} events")
        table["source"] = src
    return table


def concat_event_tables(tables: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate event tables in order (an empty list gives an empty table)."""
    if not tables:
        return np.empty(0, dtype=EVENT_DTYPE)
    return np.concatenate([np.asarray(t, dtype=EVENT_DTYPE) for t in tables])


def event_table_to_h5(table: np.ndarray) -> np.ndarray:
    """Return ``table`` with ``source`` as an h5py UTF-8 string field, ready to store."""
    import h5py

    dtype = np.dtype([("source", h5py.string_dtype("utf-8")), ("run", np.int32),
                      ("event", np.int64)])
    return np.asarray(table, dtype=EVENT_DTYPE).astype(dtype)


def event_table_from_h5(data: np.ndarray) -> np.ndarray:
    """Read back a table stored by :func:`event_table_to_h5` (bytes become str)."""
    table = np.empty(len(data), dtype=EVENT_DTYPE)
    table["source"] = [s.decode("utf-8") if isinstance(s, bytes) else str(s)
                       for s in data["source"]]
    table["run"] = data["run"]
    table["event"] = data["event"]
    return table


def source_codes(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(names, index)``: the distinct sources, sorted, and each row's index into them, as
    ``np.unique(sources, return_inverse=True)`` gives them, without sorting 10^6 strings
    (a table names a handful of files: 0.9 s at 10^6 rows by np.unique, 0.1 s here)."""
    src = table["source"]
    names = sorted({str(s) for s in src})
    if len(names) <= 1:
        index = np.zeros(len(src), dtype=np.intp)
    else:
        lookup = {n: i for i, n in enumerate(names)}
        index = np.fromiter((lookup[str(s)] for s in src), dtype=np.intp, count=len(src))
    return np.asarray(names, dtype=str), index


def event_keys(table: np.ndarray) -> list[tuple[str, int, int]]:
    """Rows as plain ``(source, run, event)`` tuples (for dictionaries and sets)."""
    return [(str(s), int(r), int(e)) for s, r, e in zip(table["source"], table["run"],
                                                          table["event"])]


# Event numbers index the events of one run: a run at 120 Hz for a year has 3.8e9, so
# anything from 2^32 up is damage, and would make per-run arrays (Psocake's labels.h5
# export) impossible to allocate.
MAX_EVENT = 2**32


def check_event_numbers(path, name: str, values: np.ndarray, n_events: int | None = None,
                        runs: np.ndarray | None = None) -> np.ndarray:
    """``values`` as int64 event numbers, or a LayoutError naming ``path`` and ``name``.

    Event numbers must be integers (floats only when whole), one per hit (1-D, or a column),
    ``0 <= e < MAX_EVENT``, below ``n_events`` when the run's length is known, and unique
    (per run when ``runs`` gives each hit's run, as in our one-class exports).
    """
    values = np.asarray(values)
    where = f"{path}: dataset {name}"
    if values.ndim > 1 and not (values.ndim == 2 and values.shape[1] == 1):
        raise LayoutError(f"{where} has shape {values.shape}; expected one event number per "
                          "hit")
    values = values.reshape(-1)
    if values.dtype.kind not in "iuf" or values.dtype.kind == "f" and not (
            np.isfinite(values).all() and (values == np.round(values)).all()):
        raise LayoutError(f"{where} holds {values.dtype} values, not integer event numbers; "
                          "the file is damaged or not a Psocake output")
    if values.dtype.kind == "f" and len(values) and np.abs(values).max() >= MAX_EVENT:
        raise LayoutError(f"{where} holds event {values.max():.6g}, beyond any run")
    ev = values.astype(np.int64)
    if len(ev) == 0:
        return ev
    if ev.min() < 0:
        raise LayoutError(f"{where} holds negative event number {int(ev.min())}; event "
                          "numbers count a run's events from 0")
    limit = MAX_EVENT if n_events is None else min(MAX_EVENT, int(n_events))
    if ev.max() >= limit:
        what = (f"the run has {n_events} events" if limit < MAX_EVENT
                else "event numbers stop below 2^32")
        raise LayoutError(f"{where} holds event {int(ev.max())}, but {what}; the file is "
                          "damaged or mixes runs")
    keys = ev if runs is None else np.stack([np.asarray(runs, np.int64).reshape(-1), ev], 1)
    uniq, counts = np.unique(keys, axis=0, return_counts=True)
    if len(uniq) < len(ev):
        dup = uniq[np.argmax(counts > 1)]
        what = int(dup) if runs is None else f"{int(dup[1])} of run {int(dup[0])}"
        raise LayoutError(f"{where} holds event {what} "
                          f"{int(counts.max())} times; each hit must have its own event "
                          "number (the file is damaged or two runs were concatenated)")
    return ev
