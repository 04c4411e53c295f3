"""Event tables: one row per hit, naming where it came from as (source, run, event).

The table is a numpy structured array so that it can be stored in HDF5 as it is, compared
row by row, and hashed. ``source`` is the file the hit was read from (a path string).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

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


def event_keys(table: np.ndarray) -> list[tuple[str, int, int]]:
    """Rows as plain ``(source, run, event)`` tuples (for dictionaries and sets)."""
    return [(str(s), int(r), int(e)) for s, r, e in zip(table["source"], table["run"],
                                                          table["event"])]
