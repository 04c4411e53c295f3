"""Our label store: an SQLite database (schema ``psocake-labeler/labels``, version 3).

Why SQLite (measured in ``benchmarks/bench_label_store.py``, docs/labels.md): appending one
action is one small transaction whose cost does not grow with the log; a crash or kill -9 at
any moment leaves the last committed action in place (SQLite's rollback journal is rolled
back by the next opener); several processes append to one store under SQLite's file locks.
The rollback journal is used, not WAL: WAL needs memory shared by every process on one host,
and label folders live on cluster file systems.

Tables: ``meta`` (key/value: schema, schema_version, events_hash, n_rows, next_class_id,
classes_version, propagated_at, method, auto_propagate, calibration: the held-out
calibration the stored confidences are capped by, JSON, labelling/honest.py; files
without it read as uncapped), ``sources`` (the files), the
manifold's event table as arrays ``event_source``/``event_run``/``event_event`` in table
``arrays`` (version 3; version 2 held it in table ``events``, still read), ``events`` (the
rows the log names, for the views), ``classes`` (every id ever used; ``position`` NULL once
removed), ``actions`` and ``entries`` (the log), ``arrays`` (the event table; predicted,
confidence, scores as ``.npy`` bytes). Views ``readable_log`` and ``current_labels`` let the
sqlite3 shell read it.
"""
from __future__ import annotations

import errno
import io
import os
import sqlite3
from pathlib import Path

import numpy as np

from ..errors import InputError, LayoutError, MissingFileError, NotHDF5Error
from ..io.events import EVENT_DTYPE, make_event_table, source_codes
from ..io.schema import SCHEMA_LABELS as SCHEMA
from ..io.schema import SQLITE_MAGIC
from ..labelling.classes import ClassList
from ..labelling.honest import calibration_from_text, calibration_text
from ..labelling.log import Action, actions_from_flat
from ..labelling.state import LabelData
from .checks import check_log, check_version, replay

VERSION = 3
#: The event table of a version-3 store, in table ``arrays``: source id, run, event per row.
EVENT_ARRAYS = ("event_source", "event_run", "event_event")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
BUSY_TIMEOUT = 30.0   # s to wait for another writer's lock; a write holds it for milliseconds

_DDL = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources(id INTEGER PRIMARY KEY, path TEXT NOT NULL);
CREATE TABLE events(row INTEGER PRIMARY KEY, source INTEGER NOT NULL, run INTEGER NOT NULL,
                    event INTEGER NOT NULL);
CREATE TABLE classes(id INTEGER PRIMARY KEY, name TEXT NOT NULL, colour TEXT NOT NULL,
                     position INTEGER);
CREATE TABLE actions(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, user TEXT NOT NULL,
                     time REAL NOT NULL, ref INTEGER NOT NULL, detail TEXT NOT NULL,
                     base INTEGER NOT NULL);
CREATE TABLE entries(action INTEGER NOT NULL, row INTEGER NOT NULL,
                     class_id INTEGER NOT NULL, prev_id INTEGER NOT NULL);
CREATE INDEX entries_by_action ON entries(action);
CREATE TABLE arrays(name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE VIEW readable_log AS
  SELECT a.id AS action, a.time, a.user, a.kind, ev.run, ev.event, s.path AS source,
         e.class_id, c.name AS class_name
  FROM entries e JOIN actions a ON a.id = e.action JOIN events ev ON ev.row = e.row
  JOIN sources s ON s.id = ev.source LEFT JOIN classes c ON c.id = e.class_id;
CREATE VIEW current_labels AS
  SELECT e.row, e.class_id FROM entries e
  WHERE e.rowid IN (SELECT max(rowid) FROM entries GROUP BY row) AND e.class_id >= 0;
"""


def file_format(path: str | os.PathLike) -> str:
    """``sqlite``, ``hdf5``, ``empty`` or ``other`` by the file's first bytes.

    Raises MissingFileError, or InputError for a folder.
    """
    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{p}: no such label file; check the path")
    if p.is_dir():
        raise InputError(f"{p}: is a folder; give the path of a label file")
    with open(p, "rb") as fh:
        head = fh.read(16)
    if not head:
        return "empty"
    if head == SQLITE_MAGIC:
        return "sqlite"
    return "hdf5" if head.startswith(HDF5_MAGIC) else "other"


def connect(path: str | os.PathLike) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), synchronous=FULL.

    Opened read-only when the file is not writable for us (another user's store): SQLite
    then reads it without rolling back a crashed writer's journal. Usable from any thread:
    a session's calls come one at a time, from whichever worker thread the GUI runs them on.
    """
    p = Path(path)
    args = {"timeout": BUSY_TIMEOUT, "isolation_level": None, "check_same_thread": False}
    if p.exists() and not os.access(p, os.W_OK):
        con = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, **args)
    else:
        con = sqlite3.connect(str(p), **args)
    con.execute("PRAGMA synchronous=FULL")
    return con


def schema_of(con: sqlite3.Connection) -> tuple[str, str]:
    """``(schema, schema_version)`` from ``meta``; ``("", "")`` when it has none."""
    try:
        got = dict(con.execute(
            "SELECT key, value FROM meta WHERE key IN ('schema', 'schema_version')"))
    except sqlite3.DatabaseError:
        return "", ""
    return got.get("schema", ""), got.get("schema_version", "")


def fill(con: sqlite3.Connection, data: LabelData) -> None:
    """Write all of ``data`` into an empty database (one transaction).

    The event table goes in as three arrays (``EVENT_ARRAYS``), not 10^6 rows: inserting
    them row by row took 2.3 s at 10^6 events, while the dock waited to open. Table
    ``events`` holds the rows the log names (its views join it), added with each action.
    Predictions are written once there are some (a reader without them propagates).
    """
    ev = data.events
    names, index = source_codes(ev)
    con.execute("BEGIN IMMEDIATE")
    for stmt in _DDL.split(";"):
        if stmt.strip():
            con.execute(stmt)
    con.executemany("INSERT INTO sources VALUES (?, ?)", enumerate(names.tolist()))
    write_arrays(con, {"event_source": index.astype(np.int32),
                       "event_run": np.asarray(ev["run"], dtype=np.int64),
                       "event_event": np.asarray(ev["event"], dtype=np.int64)})
    set_meta(con, schema=SCHEMA, schema_version=VERSION, events_hash=data.events_hash,
             n_rows=len(ev), classes_version=0)
    write_classes(con, data)
    append_actions(con, data.log.actions, ev)
    if data.propagated_at >= 0:
        write_predictions(con, data)
    else:
        write_settings(con, data)  # the session's method and auto-propagate, even unused yet
    con.execute("COMMIT")


def as_os_error(exc: sqlite3.Error) -> OSError:
    """SQLite's error as the OSError it stands for (a full disk is ENOSPC), so that the
    atomic writers turn it into their one-line WriteError."""
    code = getattr(exc, "sqlite_errorcode", None)
    num = {sqlite3.SQLITE_FULL: errno.ENOSPC, sqlite3.SQLITE_PERM: errno.EACCES,
           sqlite3.SQLITE_READONLY: errno.EROFS}.get(code, errno.EIO)
    if num == errno.EIO and "full" in str(exc):
        num = errno.ENOSPC
    return OSError(num, str(exc))


def size_estimate(data: LabelData) -> int:
    """Bytes a new store of ``data`` takes, about (for the free-space check)."""
    entries = sum(len(a.rows) for a in data.log.actions)
    predictions = int(data.scores.nbytes) + 16 * len(data.events)
    return (64 * 1024 + 24 * len(data.events) + 96 * entries + 96 * len(data.log.actions)
            + (predictions if data.propagated_at >= 0 else 0))


def set_meta(con: sqlite3.Connection, **values) -> None:
    """Set ``meta`` keys (values stored as text)."""
    con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [(k, str(int(v) if isinstance(v, bool) else v)) for k, v in values.items()])


def append_actions(con: sqlite3.Connection, actions: list[Action], events: np.ndarray
                   ) -> None:
    """Insert actions, their entries and the rows of ``events`` (the full event table)
    they name into table ``events`` (inside the caller's transaction)."""
    con.executemany("INSERT INTO actions VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(a.id, a.kind, a.user, a.time, a.ref, a.detail, a.base) for a in actions])
    con.executemany("INSERT INTO entries VALUES (?, ?, ?, ?)",
                    [(a.id, r, c, p) for a in actions for r, c, p in
                     zip(a.rows.tolist(), a.class_ids.tolist(), a.prev_ids.tolist())])
    rows = [a.rows for a in actions if len(a.rows)]
    if rows:
        rows = np.unique(np.concatenate(rows))
        ev = events[rows]
        con.executemany("INSERT OR IGNORE INTO events SELECT ?, id, ?, ? FROM sources "
                        "WHERE path = ?", zip(rows.tolist(), ev["run"].tolist(),
                                              ev["event"].tolist(), map(str, ev["source"])))


def write_classes(con: sqlite3.Connection, data: LabelData) -> None:
    """Replace the class table and bump ``classes_version`` (other writers then re-read it)."""
    cl = data.classes
    rows = {cid: (cid, name, "#000000", None) for cid, name in data.class_history.items()}
    for pos, (cid, name, colour) in enumerate(zip(cl.ids, cl.names, cl.colours)):
        rows[cid] = (cid, name, colour, pos)
    con.execute("DELETE FROM classes")
    con.executemany("INSERT INTO classes VALUES (?, ?, ?, ?)", rows.values())
    version = int(con.execute("SELECT value FROM meta WHERE key = 'classes_version'")
                  .fetchone()[0])
    set_meta(con, next_class_id=cl.next_id, classes_version=version + 1)


def write_predictions(con: sqlite3.Connection, data: LabelData) -> None:
    """Store predicted, confidence and scores, the calibration that capped the confidence,
    and the propagation settings."""
    arrays = {"predicted": np.asarray(data.predicted, dtype=np.int64),
              "confidence": np.asarray(data.confidence, dtype=np.float64),
              "scores": np.asarray(data.scores, dtype=np.float64)}
    write_arrays(con, arrays)
    set_meta(con, calibration=calibration_text(data.calibration))
    write_settings(con, data)


def write_settings(con: sqlite3.Connection, data: LabelData) -> None:
    """Store the propagation settings (method, auto-propagate, when it last ran)."""
    set_meta(con, propagated_at=data.propagated_at, method=data.method,
             auto_propagate=data.auto_propagate)


def write_arrays(con: sqlite3.Connection, arrays: dict[str, np.ndarray]) -> None:
    """Store arrays in table ``arrays`` as ``.npy`` bytes (replacing those of the names)."""
    for name, arr in arrays.items():
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        con.execute("INSERT OR REPLACE INTO arrays VALUES (?, ?)", (name, buf.getvalue()))


def read_arrays(con: sqlite3.Connection, path, names) -> dict[str, np.ndarray]:
    """The arrays of these names that table ``arrays`` holds; LayoutError if unreadable."""
    got = {}
    marks = ", ".join("?" * len(names))
    for name, blob in con.execute(f"SELECT name, data FROM arrays WHERE name IN ({marks})",
                                  tuple(names)):
        try:
            got[name] = np.load(io.BytesIO(blob), allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise LayoutError(f"{path}: table 'arrays' entry {name!r} is not a readable "
                              f"array ({exc}); the file is damaged") from None
    return got


def read_meta(con: sqlite3.Connection) -> dict[str, str]:
    """All of ``meta``."""
    return dict(con.execute("SELECT key, value FROM meta"))


def classes_version(con: sqlite3.Connection) -> int:
    """How many times any writer replaced the class table."""
    row = con.execute("SELECT value FROM meta WHERE key = 'classes_version'").fetchone()
    return int(row[0]) if row else 0


def count_actions(con: sqlite3.Connection) -> int:
    """Number of actions in the store (ids are 0, 1, ...: the largest id, found in the index
    at once, where count(*) would read the whole table)."""
    return int(con.execute("SELECT coalesce(max(id) + 1, 0) FROM actions").fetchone()[0])


def read_classes(con: sqlite3.Connection, path) -> tuple[ClassList, dict[int, str]]:
    """Current classes in order and the latest name of every class id ever used."""
    meta = read_meta(con)
    rows = con.execute("SELECT id, name, colour, position FROM classes ORDER BY position")
    rows = rows.fetchall()
    current = [r for r in rows if r[3] is not None]
    if not current:
        raise LayoutError(f"{path}: table 'classes' holds no current class; the file is "
                          "damaged: restore it from a copy")
    try:
        classes = ClassList([r[1] for r in current], [r[2] for r in current],
                            [int(r[0]) for r in current], int(meta.get("next_class_id", 0))
                            or None)
    except ValueError as exc:
        raise LayoutError(f"{path}: table 'classes': {exc}") from None
    return classes, {int(r[0]): str(r[1]) for r in rows}


def read_actions(con: sqlite3.Connection, path, first: int, n_rows: int,
                 class_ids) -> list[Action]:
    """Actions ``first, ...`` of the store, checked (kinds, rows, class ids)."""
    acts = con.execute("SELECT id, kind, user, time, ref, detail, base FROM actions "
                       "WHERE id >= ? ORDER BY id", (first,)).fetchall()
    if acts and [a[0] for a in acts] != list(range(first, first + len(acts))):
        raise LayoutError(f"{path}: table 'actions' has gaps in its ids; the file is "
                          "damaged: restore it from a copy")
    ent = np.array(con.execute("SELECT action, row, class_id, prev_id FROM entries "
                               "WHERE action >= ? ORDER BY rowid", (first,)).fetchall(),
                   dtype=np.int64).reshape(-1, 4)
    cols = list(zip(*acts)) if acts else [()] * 7
    check_log(path, "table 'actions'/'entries'", cols[1], ent[:, 0] - first, ent[:, 1],
              ent[:, 2], ent[:, 3], n_rows, class_ids)
    return actions_from_flat(first, cols[1], cols[2], cols[3], cols[4], cols[5],
                             ent[:, 0], ent[:, 1], ent[:, 2], ent[:, 3], cols[6])


def read_store(path: str | os.PathLike) -> LabelData:
    """Everything a store holds, checked; LayoutError naming the file and table if not."""
    p = Path(path)
    con = None
    try:
        con = connect(p)
        # one snapshot: in autocommit each SELECT is its own, and another writer may commit
        # between the actions and their entries (seen: "names action 21, but the log holds 21")
        con.execute("BEGIN")
        return read_open(con, p)
    except sqlite3.DatabaseError as exc:
        raise NotHDF5Error(f"{p}: not a readable label store ({exc}); it is probably "
                           "truncated (copy interrupted) or damaged: restore it from a "
                           "copy") from None
    finally:
        if con is not None:
            con.close()


def read_open(con: sqlite3.Connection, path: Path) -> LabelData:
    """:func:`read_store` on an open connection."""
    schema, version = schema_of(con)
    if schema != SCHEMA:
        raise LayoutError(f"{path}: an SQLite database but not a psocake-labeler label "
                          f"store (schema {schema!r}, expected {SCHEMA!r})")
    check_version(path, version, "table 'meta'")
    meta = read_meta(con)
    n = int(meta.get("n_rows", -1))
    events = read_events(con, path, n, int(version))
    classes, history = read_classes(con, path)
    log = replay(path, "table 'actions'", n, read_actions(con, path, 0, n, history))
    data = LabelData(classes, log, events, meta.get("events_hash", ""), history,
                     propagated_at=int(meta.get("propagated_at", -1)),
                     method=meta.get("method", ""),
                     auto_propagate=meta.get("auto_propagate", "0") == "1")
    try:
        data.calibration = calibration_from_text(meta.get("calibration", ""))
    except ValueError as exc:
        raise LayoutError(f"{path}: table 'meta': calibration is {exc}; the file is "
                          f"damaged") from None
    read_predictions(con, path, data)
    return data


def read_events(con: sqlite3.Connection, path, n: int, version: int) -> np.ndarray:
    """The event table: arrays ``EVENT_ARRAYS`` (version 3), table ``events`` (version 2)."""
    if version >= 3:
        got = read_arrays(con, path, EVENT_ARRAYS)
        sources = dict(con.execute("SELECT id, path FROM sources"))
        if len(got) != 3 or any(got[k].shape != (n,) for k in EVENT_ARRAYS):
            raise LayoutError(f"{path}: table 'arrays' lacks the event table of meta n_rows "
                              f"{n} events; the file is damaged: restore it from a copy")
        codes = got["event_source"]
        names = np.asarray([sources.get(i, "") for i in range(len(sources))], dtype=object)
        if n and (codes.min() < 0 or codes.max() >= len(names)):
            raise LayoutError(f"{path}: table 'arrays' names a source not in table "
                              "'sources'; the file is damaged: restore it from a copy")
        table = np.empty(n, dtype=EVENT_DTYPE)
        table["source"] = names[codes] if n else []
        table["run"], table["event"] = got["event_run"], got["event_event"]
        return table
    ev = con.execute("SELECT s.path, e.run, e.event FROM events e JOIN sources s "
                     "ON s.id = e.source ORDER BY e.row").fetchall()
    if len(ev) != n:
        raise LayoutError(f"{path}: table 'events' holds {len(ev)} events but meta n_rows "
                          f"is {n}; the file is damaged: restore it from a copy")
    cols = list(zip(*ev)) if ev else [(), (), ()]
    return make_event_table(list(cols[0]), list(cols[1]), list(cols[2]))


def read_predictions(con: sqlite3.Connection, path, data: LabelData) -> None:
    """Load the stored predictions into ``data`` when their shapes fit, checked."""
    n, c = len(data.events), len(data.classes)
    want = {"predicted": (n,), "confidence": (n,), "scores": (n, c)}
    got = read_arrays(con, path, tuple(want))
    if any(k not in got or got[k].shape != s for k, s in want.items()):
        data.propagated_at = -1     # none yet, or classes changed: predict again
        return
    pred, conf = got["predicted"].astype(np.int64), got["confidence"].astype(np.float64)
    if ((pred < -1) | (pred >= c)).any() or not np.all((conf >= 0) & (conf <= 1)):
        raise LayoutError(f"{path}: table 'arrays': predictions outside the {c} classes or "
                          "confidences outside [0, 1]; the file is damaged")
    data.predicted, data.confidence = pred, conf
    data.scores = got["scores"].astype(np.float64)
