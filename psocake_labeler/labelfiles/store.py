"""Our label files on disk (schema ``psocake-labeler/labels``): create a store, open one for
a session (converting an HDF5 file of an earlier release), read any of our formats, clean
what crashed writers left. The store's tables are in :mod:`.store_db`, the old HDF5 layout
in :mod:`.store_v1`; docs/labels.md says what holds, also on cluster file systems.

Conversion of a version-1 HDF5 file (``open_store``): the new store is built in a temporary
file beside it, the old file is kept under ``<name>.v1-backup`` (a hard link made before the
switch, so it exists at every instant), and the store is renamed over ``<name>``: the path
the user gave keeps its name and every program that opens it from then on finds the store.
The old file is never changed. Two processes converting at once: the second finds the backup
already linked to the same file, waits for the first, and puts an identical store in place.
"""
from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import time
from pathlib import Path

from ..errors import InputError, NotHDF5Error
from ..io.atomic import atomic_path, clean_stray_temps
from ..io.schema import SCHEMA_LABELS as SCHEMA
from ..labelling.state import LabelData
from .store_db import (
    VERSION,
    as_os_error,
    connect,
    file_format,
    fill,
    read_store,
    schema_of,
    size_estimate,
)
from .store_v1 import read_v1

BACKUP_SUFFIX = ".v1-backup"


def read_label_file(path: str | os.PathLike) -> LabelData:
    """Read our label file, store or version-1 HDF5, without changing it; checked.

    Raises MissingFileError, NotHDF5Error, or LayoutError naming the file and table.
    """
    fmt = file_format(path)
    if fmt == "sqlite":
        return read_store(path)
    if fmt == "empty":
        raise NotHDF5Error(f"{path}: is empty (0 bytes), not a label file; restore it from "
                           "a copy")
    return read_v1(path)   # HDF5, or the clear "not HDF5" error


def is_our_label_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is one of our label files (a store, or a version-1 HDF5 file)."""
    try:
        fmt = file_format(path)
    except InputError:
        return False
    if fmt == "sqlite":
        con = connect(path)
        try:
            return schema_of(con)[0] == SCHEMA
        finally:
            con.close()
    if fmt == "hdf5":
        import h5py

        try:
            with h5py.File(path, "r") as f:
                v = f.attrs.get("schema", "")
                return (v.decode() if isinstance(v, bytes) else str(v)) == SCHEMA
        except OSError:
            return False
    return False


def create_store(path: str | os.PathLike, data: LabelData, replace: bool = False) -> Path:
    """Write ``data`` as a new store: built beside ``path``, then put in place at once.

    Without ``replace`` an existing ``path`` is never touched (FileExistsError); with it the
    old file is replaced atomically (a crash leaves the old or the new one, whole).
    """
    with atomic_path(path, size_estimate(data), exclusive=not replace) as tmp:
        build(tmp, data)
    return Path(path)


def build(tmp: Path, data: LabelData) -> None:
    """Write ``data`` into the new database ``tmp``; SQLite's errors become OSError."""
    con = sqlite3.connect(str(tmp), isolation_level=None)
    try:
        con.execute("PRAGMA synchronous=FULL")
        fill(con, data)
    except sqlite3.Error as exc:
        raise as_os_error(exc) from None
    finally:
        con.close()


def write_label_file(path: str | os.PathLike, data: LabelData) -> None:
    """Write ``data`` to ``path`` as a new store, replacing ``path`` atomically."""
    create_store(path, data, replace=True)


def open_store(path: str | os.PathLike) -> Path | None:
    """Make ``path`` a store a session can append to; returns the backup if it converted.

    Cleans the temporary files crashed writers left beside it. A version-1 HDF5 file is
    checked, converted and kept as ``<name>.v1-backup`` (see the module docstring).
    """
    p = Path(path)
    clean_stray_temps(p)
    fmt = file_format(p)
    if fmt == "sqlite":
        read_store(p)      # raises on a damaged or foreign store before anyone appends
        return None
    if fmt != "hdf5":
        read_label_file(p)   # the specific error
    return _convert_v1(p)    # replaces p by the store, even if another process did it first


class _ConvertedMeanwhileError(Exception):
    """Another process put the store in place while we built ours: keep theirs."""


def _convert_v1(p: Path) -> Path | None:
    data = read_v1(p)
    real = Path(os.path.realpath(p))
    if not os.access(real.parent, os.W_OK):
        raise InputError(f"{p}: a label file of an earlier release, which must be converted "
                         "to append to it, but its folder is not writable for you; copy it "
                         "into a folder of yours and open the copy")
    try:       # a full disk: atomic_path's one-line WriteError, the old file unchanged
        with atomic_path(p, size_estimate(data)) as tmp:
            build(tmp, data)
            backup = _claim_backup(real)
            if backup is None:
                raise _ConvertedMeanwhileError
    except _ConvertedMeanwhileError:
        return None
    return backup


def _claim_backup(real: Path) -> Path | None:
    """Hard-link the old file as ``<name>.v1-backup`` (or ``.2``, ...), before the switch.

    A backup that already is the same file means another process is converting it: None
    once its store is in place; if it died doing so, that backup is ours to use.
    """
    base = real.with_name(real.name + BACKUP_SUFFIX)
    for i in range(1, 1000):
        cand = base if i == 1 else base.with_name(f"{base.name}.{i}")
        try:
            os.link(real, cand)
            return cand
        except FileExistsError:
            if os.path.samefile(cand, real):
                _wait_for_store(real)
                return None if file_format(real) == "sqlite" else cand
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            if not cand.exists():
                shutil.copy2(real, cand)   # no hard links on this file system
                return cand
    raise InputError(f"{real}: too many {BACKUP_SUFFIX} files beside it; remove old ones")


def _wait_for_store(real: Path, seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and file_format(real) != "sqlite":
        time.sleep(0.05)


def describe_store(path: str | os.PathLike) -> list[str]:
    """What a label store holds, in words (for ``info``); checked like any open."""
    from collections import Counter

    p = Path(path)
    d = read_store(p)
    con = connect(p)
    try:
        version = schema_of(con)[1] or VERSION
    finally:
        con.close()
    names = d.classes.names
    idx = d.user_index()
    counts = Counter(int(v) for v in idx if v >= 0)
    per = ", ".join(f"{names[k]} {c}" for k, c in sorted(counts.items()))
    users = sorted({a.user for a in d.log.actions})
    lines = [f"{p}: psocake-labeler label file (labels given by hand, with who and when, "
             f"and propagated predictions), schema version {version} (SQLite store: "
             "every action appended, several writers at once).",
             f"  Events: {len(d.events)} events from {len(set(d.events['source']))} file(s), "
             f"runs {sorted(set(int(r) for r in d.events['run']))}.",
             f"  Classes: {', '.join(names)}.",
             f"  Labelled by hand: {sum(counts.values())} of {len(idx)} events"
             + (f" ({per})." if per else "."),
             f"  History: {len(d.log.actions)} actions by {len(users)} user(s)"
             + (f": {', '.join(users)}." if users else ".")]
    conflicts = d.log.conflicts()
    if conflicts:
        lines.append(f"  Conflicts: {len(conflicts)} events labelled differently by two "
                     "writers at once (the later label is current; both are in the log).")
    pred = d.predicted
    lines.append(f"  Predictions: {int((pred >= 0).sum())} events by {d.method}, mean "
                 f"confidence {d.confidence[pred >= 0].mean():.2f}." if (pred >= 0).any()
                 else "  Predictions: none yet.")
    if d.events_hash:
        lines.append(f"  Made for the manifold whose events hash is {d.events_hash[:16]}...")
    return lines
