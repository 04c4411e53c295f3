"""What a label store must satisfy on open, for both its formats (SQLite, old HDF5).

Every failure is a :class:`LayoutError` naming the file and the table or dataset, so that the
command line prints one line and exits with 2, and a session never starts on a damaged log.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import LayoutError
from ..labelling.log import KINDS, Action, ActionLog

KNOWN_VERSIONS = (1, 2, 3)  # 1: HDF5 file rewritten on every save; 2: SQLite store;
#                            3: the store with its event table as arrays


def check_version(path: Path | str, version, where: str) -> int:
    """The schema version as an int; LayoutError when it is not one this code knows."""
    try:
        v = int(version)
    except (TypeError, ValueError):
        raise LayoutError(f"{path}: {where} schema_version {version!r} is not a number; "
                          "the file is damaged: restore it from a copy") from None
    if v not in KNOWN_VERSIONS:
        raise LayoutError(f"{path}: {where} schema_version {v} is not one this "
                          f"psocake-labeler reads ({', '.join(map(str, KNOWN_VERSIONS))}); "
                          "a newer release wrote it: update psocake-labeler")
    return v


def check_log(path: Path | str, where: str, kinds, entry_action, entry_row, entry_class,
              entry_prev, n_rows: int, class_ids) -> None:
    """Action kinds, entry rows, class ids and action ids that the log can replay.

    ``where`` names the table or group (``actions``/``entries`` or ``log/...``).
    ``class_ids``: every class id the file names (current and removed); -1 is "unlabelled".
    """
    bad_kind = [k for k in kinds if k not in KINDS]
    if bad_kind:
        raise LayoutError(f"{path}: {where} holds the unknown action kind {bad_kind[0]!r} "
                          f"(known: {', '.join(KINDS)}); the file is damaged or from a newer "
                          "release")
    known = np.asarray(sorted(set(int(c) for c in class_ids) | {-1}), dtype=np.int64)
    for name, col in (("class_id", entry_class), ("prev_id", entry_prev)):
        col = np.asarray(col, dtype=np.int64)
        odd = col[~np.isin(col, known)]
        if odd.size:
            raise LayoutError(f"{path}: {where} {name} names class id {int(odd[0])}, which "
                              "the file's classes do not hold; the file is damaged: "
                              "restore it from a copy")
    rows = np.asarray(entry_row, dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n_rows):
        bad = int(rows[(rows < 0) | (rows >= n_rows)][0])
        raise LayoutError(f"{path}: {where} names row {bad}, outside the file's {n_rows} "
                          "events; the file is damaged: restore it from a copy")
    acts = np.asarray(entry_action, dtype=np.int64)
    if acts.size and (acts.min() < 0 or acts.max() >= len(kinds)):
        bad = int(acts[(acts < 0) | (acts >= len(kinds))][0])
        raise LayoutError(f"{path}: {where} names action {bad}, but the log holds "
                          f"{len(kinds)} actions; the file is damaged: restore it from a copy")


def replay(path: Path | str, where: str, n_rows: int, actions: list[Action]) -> ActionLog:
    """The log of ``actions``; LayoutError when they do not replay (undo of nothing, ...)."""
    try:
        return ActionLog(n_rows, actions)
    except ValueError as exc:
        raise LayoutError(f"{path}: {where}: {exc}; the file is damaged: restore it from a "
                          "copy") from None
