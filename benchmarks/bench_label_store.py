"""Cost of saving one label as the log grows: the SQLite store against the old HDF5 file.

For logs of 10, 10^3, 10^4 and 10^5 actions (over 10^5 events, propagation off, so this is
the session's own cost) it prints the median time of: ``LabelSession.label()`` including the
durable append (synchronous=FULL: the action is on disk when the call returns); the bare
append transaction with the rollback journal the store uses; the same with SQLite's WAL
journal; and what the old format cost, rewriting the whole HDF5 file (``store_v1.write_v1``)
on every save.

    python benchmarks/bench_label_store.py [--events 100000] [--repeat 30] [--dir DIR]
"""
from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import psocake_labeler as pl
from psocake_labeler.io.events import make_event_table
from psocake_labeler.labelfiles import store_db as store
from psocake_labeler.labelfiles.store import create_store
from psocake_labeler.labelfiles.store_v1 import write_v1
from psocake_labeler.labelling.classes import ClassList
from psocake_labeler.labelling.log import ActionLog
from psocake_labeler.labelling.state import LabelData


class EventsOnly:
    """What a session needs of a manifold when propagation is off."""

    def __init__(self, n: int) -> None:
        self.events = make_event_table(["amo06516_0093.cxi"] * n, [93] * n, np.arange(n))

    def events_hash(self) -> str:
        return "bench"


def data_with(n_events: int, n_actions: int, seed: int = 0) -> LabelData:
    rng = np.random.default_rng(seed)
    classes = ClassList(["Single", "Multiple", "Water/Unknown"])
    log = ActionLog(n_events)
    rows = rng.integers(0, n_events, n_actions)
    for i, r in enumerate(rows):
        log.record("label", "bench", [int(r)], classes.ids[i % 3], when=1.7e9 + i)
    m = EventsOnly(n_events)
    return LabelData(classes, log, m.events, m.events_hash())


def time_session(path: Path, m, repeat: int) -> float:
    s = pl.LabelSession.load(path, m, user="bench")
    rng = np.random.default_rng(1)
    ts = []
    for i in range(repeat):
        row = int(rng.integers(0, len(m.events)))
        t = time.perf_counter()
        s.label([row], s.classes[i % 3])
        ts.append(time.perf_counter() - t)
    assert not s.ahead
    return statistics.median(ts) * 1e3


def time_raw(path: Path, repeat: int, journal: str) -> float:
    """One action appended the way the store does it, without the session around it."""
    con = sqlite3.connect(str(path), isolation_level=None)
    con.execute(f"PRAGMA journal_mode={journal}")
    con.execute("PRAGMA synchronous=FULL")
    n = store.count_actions(con)
    ts = []
    for i in range(repeat):
        t = time.perf_counter()
        con.execute("BEGIN IMMEDIATE")
        store.count_actions(con)
        con.execute("INSERT INTO actions VALUES (?, 'label', 'b', 0, -1, '', ?)", (n + i, n))
        con.execute("INSERT INTO entries VALUES (?, 0, 0, -1)", (n + i,))
        con.execute("COMMIT")
        ts.append(time.perf_counter() - t)
    con.close()
    return statistics.median(ts) * 1e3


def time_v1(path: Path, data: LabelData, repeat: int) -> float:
    ts = []
    for i in range(max(3, repeat // 5)):
        data.log.record("label", "bench", [i], data.classes.ids[i % 3])
        t = time.perf_counter()
        write_v1(path, data)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def time_fsync(folder: str, repeat: int) -> float:
    """The floor under any durable write here: 4 KiB written and fsynced."""
    import os

    ts = []
    with tempfile.NamedTemporaryFile(dir=folder) as fh:
        for _ in range(repeat):
            t = time.perf_counter()
            fh.write(b"\0" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
            ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--dir", default=None, help="folder for the files (default: a temp dir)")
    args = ap.parse_args()
    m = EventsOnly(args.events)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"{args.events} events in {tmp}; ms per saved label, median of {args.repeat}; "
              f"fsync of 4 KiB here: {time_fsync(tmp, args.repeat):.2f} ms")
        print(f"{'actions':>8} {'session':>8} {'append':>8} {'WAL':>8} {'old h5':>8} "
              f"{'store MB':>9}")
        for n in (10, 1_000, 10_000, 100_000):
            data = data_with(args.events, n)
            path = Path(tmp) / f"labels_{n}.h5"
            create_store(path, data)
            ms = time_session(path, m, args.repeat)
            size = path.stat().st_size / 2**20
            raw = time_raw(path, args.repeat, "DELETE")
            wal = time_raw(create_store(Path(tmp) / f"wal_{n}.h5", data), args.repeat, "WAL")
            old = time_v1(Path(tmp) / f"old_{n}.h5", data, args.repeat)
            print(f"{n:>8} {ms:>8.2f} {raw:>8.2f} {wal:>8.2f} {old:>8.1f} {size:>9.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
