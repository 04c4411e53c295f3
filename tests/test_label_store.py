"""The label store: two writers keep both, old HDF5 label files are converted on open,
temporary files crashed writers left are cleaned, damaged stores are refused in one line."""
from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import psocake_labeler as pl
from psocake_labeler.cli import main
from psocake_labeler.labelfiles.store import describe_store, read_label_file
from psocake_labeler.labelfiles.store_v1 import read_v1, write_v1

DATA = Path(__file__).parent / "data"


def test_store_is_sqlite_with_a_schema_and_readable_views(manifold, tmp_path):
    s = pl.LabelSession(manifold, path=tmp_path / "labels.h5", user="erin")
    s.label([0, 1], "Single")
    s.label([5], "Multiple")
    s.unlabel([1])
    con = sqlite3.connect(tmp_path / "labels.h5")
    meta = dict(con.execute("SELECT key, value FROM meta"))
    assert meta["schema"] == "psocake-labeler/labels" and meta["schema_version"] == "3"
    assert sorted(con.execute("SELECT row, class_id FROM current_labels")) == [(0, 0), (5, 1)]
    first = con.execute("SELECT user, event, class_name FROM readable_log LIMIT 1").fetchone()
    assert first == ("erin", int(manifold.events["event"][0]), "Single")
    # the event table is stored as arrays; table events holds the rows the log names
    assert [r for (r,) in con.execute("SELECT row FROM events ORDER BY row")] == [0, 1, 5]
    con.close()
    back = read_label_file(tmp_path / "labels.h5")
    assert (back.events == manifold.events).all() and back.events_hash == s.manifold.events_hash()


def test_a_new_store_keeps_the_sessions_settings_before_any_propagation(manifold, tmp_path):
    path = tmp_path / "labels.h5"
    s = pl.LabelSession(manifold, path=path, user="erin", method="harmonic")
    s.auto_propagate = False
    s.label([3], "Single")
    again = pl.LabelSession.load(path, manifold)
    assert (again.to_data().method, again.auto_propagate) == ("harmonic", False)
    assert "Predictions: none yet" in "\n".join(describe_store(path))


def test_a_version_2_store_is_read_and_appended_to(manifold, tmp_path):
    """Version 2 held the whole event table in table ``events``: made here from a version 3
    store by SQL, it opens, takes labels and stays version 2."""
    path = tmp_path / "labels.h5"
    s = pl.LabelSession(manifold, path=path, user="erin")
    s.label([3], "Single")
    con = sqlite3.connect(path)
    ev = manifold.events
    con.executemany("INSERT OR IGNORE INTO events VALUES (?, 0, ?, ?)",
                    zip(range(len(ev)), ev["run"].tolist(), ev["event"].tolist()))
    con.execute("DELETE FROM arrays WHERE name LIKE 'event_%'")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    again = pl.LabelSession.load(path, manifold, user="erin")
    again.label([7], "Multiple")
    assert pl.LabelSession.load(path, manifold).user_labels() == {3: 0, 7: 1}
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    assert con.execute("SELECT count(*) FROM events").fetchone() == (len(ev),)
    assert "schema version 2 " in describe_store(path)[0]
    con.execute("DELETE FROM events WHERE row = 9")
    con.commit()
    con.close()
    with pytest.raises(pl.LayoutError, match="table 'events' holds"):
        pl.LabelSession.load(path, manifold)


def test_a_session_opened_earlier_merges_what_another_saved(manifold, tmp_path):
    path = tmp_path / "labels.h5"
    pl.LabelSession(manifold, path=path, user="alice")
    early = pl.LabelSession.load(path, manifold, user="alice")
    late = pl.LabelSession.load(path, manifold, user="bob")
    for r in range(10):
        late.label([r], "Single")
    early.label([20], "Multiple")          # used to wipe bob's 10 labels
    want = {**{r: 0 for r in range(10)}, 20: 1}
    assert early.user_labels() == want
    assert pl.LabelSession.load(path, manifold).user_labels() == want
    assert late.refresh() == 1 and late.user_labels() == want
    # undo reverts your own last action, not the other writer's
    assert early.undo() and early.user_labels() == {r: 0 for r in range(10)}
    late.label([3], "Water/Unknown")
    assert early.redo()                   # pulls bob's change, then redoes alice's label
    final = pl.LabelSession.load(path, manifold).user_labels()
    assert final[3] == 2 and final[20] == 1 and early.user_labels() == final


def test_concurrent_different_labels_are_conflicts(manifold, tmp_path):
    path = tmp_path / "labels.h5"
    pl.LabelSession(manifold, path=path, user="alice")
    a = pl.LabelSession.load(path, manifold, user="alice")
    b = pl.LabelSession.load(path, manifold, user="bob")
    a.label([7], "Single")
    b.label([7], "Multiple")              # bob never saw alice's label
    b.label([8], "Single")
    a.label([8], "Single")                # same label: no conflict
    r = pl.LabelSession.load(path, manifold)
    (c,) = r.conflicts()
    assert (c.run, c.event) == (int(manifold.events["run"][7]), int(manifold.events["event"][7]))
    assert c.users == ("alice", "bob") and c.labels == ("Single", "Multiple")
    assert r.user_labels()[7] == 1        # the later one is current, both are in the log
    assert [x.user for x in r.log.actions if 7 in x.rows] == ["alice", "bob"]
    a.label([7], "Water/Unknown")         # alice, having seen bob's, decides: resolved
    assert pl.LabelSession.load(path, manifold).conflicts() == []


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import psocake_labeler as pl

    mpath, lpath, user, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    m = pl.Manifold.load(mpath)
    s = pl.LabelSession.load(lpath, m, user=user)
    while not Path(lpath + ".go").exists():
        time.sleep(0.01)
    for i in range(25):
        s.label([first + i], s.classes[i % 3])
        assert not s.ahead, s.save_error
    print(len(s.user_labels()), flush=True)
""")


READER_RACE = textwrap.dedent("""
    import sys
    import psocake_labeler as pl
    m = pl.Manifold.load(sys.argv[1])
    s = pl.LabelSession.load(sys.argv[2], m, user="writer")
    for i in range(600):
        s.label([i % 300], s.classes[(i + i // 300) % 3])   # the second pass relabels
""")


def test_reading_a_store_while_another_process_writes_sees_one_snapshot(
        manifold, small_spi_manifold_path, tmp_path):
    """Each read is one snapshot: in autocommit the actions and their entries were read in
    two statements, and a commit between them made a healthy store look damaged (4 of 1417
    reads before the fix)."""
    path = tmp_path / "labels.h5"
    pl.LabelSession(manifold, path=path, user="lead")
    writer = subprocess.Popen([sys.executable, "-c", READER_RACE, str(small_spi_manifold_path),
                               str(path)], stderr=subprocess.PIPE, text=True)
    errors, reads = [], 0
    while writer.poll() is None:
        try:
            read_label_file(path)
            reads += 1
        except pl.InputError as exc:
            errors.append(str(exc))
    assert writer.wait() == 0, writer.stderr.read()
    assert errors == [] and reads > 0
    assert len(read_label_file(path).log.actions) == 600


def test_two_processes_writing_one_store_keep_both(manifold, small_spi_manifold_path,
                                                   tmp_path):
    path = tmp_path / "labels.h5"
    pl.LabelSession(manifold, path=path, user="lead")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(small_spi_manifold_path),
                               str(path), user, str(first)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for user, first in (("alice", 0), ("bob", 100))]
    (tmp_path / "labels.h5.go").touch()
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert int(out) >= 25
    s = pl.LabelSession.load(path, manifold)
    labels = s.user_labels()
    want = {first + i: i % 3 for first in (0, 100) for i in range(25)}
    assert labels == want                          # alice 25/25 and bob 25/25
    assert {a.user for a in s.log.actions} == {"alice", "bob"}


def test_old_hdf5_label_file_is_converted_on_open(manifold, tmp_path):
    # a file of the earlier release, for this manifold
    s = pl.LabelSession(manifold, user="erin")
    s.label([0, 1, 2], "Single")
    s.label([5], "Multiple")
    s.add_class("Need help")
    s.label([9], "Need help")
    s.undo()
    path = tmp_path / "labels.h5"
    write_v1(path, s.to_data())
    original = path.read_bytes()
    r = pl.LabelSession.load(path, manifold, user="erin")
    backup = tmp_path / "labels.h5.v1-backup"
    assert backup.read_bytes() == original          # the old file, untouched
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    assert r.user_labels() == s.user_labels() and r.classes == s.classes
    assert r.can_redo and r.redo() and r.user_labels()[9] == 3   # the undo history too
    assert read_v1(backup).user_index().tolist() == s.to_data().user_index().tolist()
    pl.LabelSession.load(path, manifold)            # a store now: converted once only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.h5", "labels.h5.v1-backup"]


def test_label_file_of_the_earlier_release_reads(tmp_path):
    # written by the HDF5 writer before the store existed (tests/data/labels_v1.h5)
    d = read_label_file(DATA / "labels_v1.h5")
    assert d.classes.names == ["Single", "Multiple", "Water", "Background"]
    assert d.user_index()[:12].tolist() == [0, 0, 0, -1, -1, 1, -1, -1, -1, 2, 2, -1]
    assert d.user_index()[20:22].tolist() == [3, 3]
    assert [a.user for a in d.log.actions][:3] == ["alice", "alice", "bob"]
    assert d.log.can_undo("alice") and d.method == "spreading"


def test_stray_temporary_files_are_cleaned_on_open(manifold, tmp_path):
    path = tmp_path / "labels.h5"
    pl.LabelSession(manifold, path=path, user="x")
    strays = [tmp_path / f".labels.h5.{k}.tmp" for k in ("a1b2", "c3d4", "e5f6")]
    for p in strays:
        p.write_bytes(b"half a file")
    busy = tmp_path / ".labels.h5.busy.tmp"          # another process is writing this one
    busy.write_bytes(b"")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
         "fcntl.lockf(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
         str(busy)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    other = tmp_path / ".other.h5.x.tmp"
    other.write_bytes(b"")
    try:
        assert holder.stdout.readline().strip() == "locked"
        pl.LabelSession.load(path, manifold)
    finally:
        holder.communicate("")
    assert not any(p.exists() for p in strays)
    assert busy.exists() and other.exists()


def _damage(path: Path, sql: str) -> None:
    con = sqlite3.connect(path)
    con.execute(sql)
    con.commit()
    con.close()


@pytest.mark.parametrize("sql, words", [
    ("UPDATE meta SET value = '99' WHERE key = 'schema_version'", "schema_version 99"),
    ("UPDATE actions SET kind = 'teleport' WHERE id = 0", "unknown action kind 'teleport'"),
    ("UPDATE entries SET class_id = 77 WHERE action = 0", "class id 77"),
    ("INSERT INTO entries VALUES (55, 1, 0, -1)", "names action 55"),
    ("UPDATE entries SET row = 100000 WHERE action = 0", "row 100000"),
    ("UPDATE actions SET kind = 'undo', ref = 5 WHERE id = 1", "table 'actions'"),
])
def test_damaged_store_is_one_line_exit_2(manifold, tmp_path, capsys, sql, words):
    path = tmp_path / "labels.h5"
    s = pl.LabelSession(manifold, path=path, user="x")
    s.label([0, 1], "Single")
    s.label([2], "Multiple")
    _damage(path, sql)
    with pytest.raises(pl.InputError, match=words):
        pl.LabelSession.load(path, manifold)
    for cmd in (["info", str(path)], ["export", str(path), "--format", "csv",
                                      "-o", str(tmp_path / "out.csv")]):
        code = main(cmd)
        err = capsys.readouterr().err
        assert code == 2, (cmd, err)
        assert err.count("\n") == 1 and str(path) in err and re.search(words, err)
    assert not (tmp_path / "out.csv").exists()


def test_damaged_old_file_is_one_line(tmp_path, capsys):
    import h5py

    path = tmp_path / "labels.h5"
    path.write_bytes((DATA / "labels_v1.h5").read_bytes())
    with h5py.File(path, "a") as f:
        f["log/entries/class_id"][0] = 77
    with pytest.raises(pl.InputError, match="class id 77"):
        read_label_file(path)
    for cmd in (["info", path], ["export", path, "--format", "csv", "-o", tmp_path / "o.csv"],
                ["merge", path, "-o", tmp_path / "m.h5"]):
        code = main([str(a) for a in cmd])
        err = capsys.readouterr().err
        assert code == 2 and "class id 77" in err, (cmd, err)
        assert err.count("\n") == 1
    with h5py.File(path, "a") as f:
        f["log/entries/class_id"][0] = 0
        f.attrs["schema_version"] = 99
    with pytest.raises(pl.InputError, match="schema_version 99"):
        read_label_file(path)


def test_predictions_may_lag_the_labels_never(manifold, tmp_path):
    """With ``predictions_every`` set (the dock's few seconds), a click saves its label at
    once but not the 40 MB of predictions of a 10^6-event manifold; ``flush()`` saves them."""
    path = tmp_path / "labels.h5"
    s = pl.LabelSession(manifold, path=path)
    s.label([0], "Single")
    s.propagate()
    assert read_label_file(path).propagated_at == len(s.log.actions)
    s.predictions_every = float("inf")
    s.label([1], "Multiple")                         # propagates again (auto)
    stored = read_label_file(path)
    assert stored.user_index()[1] == 1               # the label is in the store...
    assert stored.propagated_at == len(s.log.actions) - 1    # ...its predictions not yet
    assert not s.ahead                               # lagging predictions are not "unsaved"
    assert s.flush()
    stored = read_label_file(path)
    assert stored.propagated_at == len(s.log.actions)
    assert (stored.predicted == s.predicted).all()
