"""Label files: our store and Psocake's older *_labels.h5 / *.label.json, both ways."""
from __future__ import annotations

import json
import sqlite3

import h5py
import numpy as np
import pytest

import psocake_labeler as pl
from psocake_labeler.labelfiles.exports import write_psocake
from psocake_labeler.labelfiles.psocake import (
    read_psocake_h5,
    read_psocake_json,
    write_psocake_h5,
    write_psocake_json,
)
from psocake_labeler.labelfiles.store import SCHEMA, read_label_file, write_label_file
from psocake_labeler.labelling.quality import CONFIDENT


@pytest.fixture()
def session(manifold, tmp_path):
    s = pl.LabelSession(manifold, path=tmp_path / "labels.h5", user="erin")
    s.label([0, 1, 2], "Single")
    s.label([5], "Multiple")
    s.label([9, 10], "Water/Unknown")
    s.unlabel([1])
    s.undo()
    s.rename_class("Water/Unknown", "Water")
    return s


def test_our_format_round_trip(session, tmp_path):
    d = read_label_file(session.path)
    write_label_file(tmp_path / "copy.h5", d)
    e = read_label_file(tmp_path / "copy.h5")
    assert e.classes.names == ["Single", "Multiple", "Water"]
    assert e.classes.ids == d.classes.ids and e.classes.colours == d.classes.colours
    assert np.array_equal(e.log.labels, d.log.labels)
    assert e.log.done == d.log.done and e.log.undone == d.log.undone
    assert e.events_hash == session.manifold.events_hash()
    assert np.array_equal(e.events["event"], session.events["event"])
    con = sqlite3.connect(tmp_path / "copy.h5")
    assert dict(con.execute("SELECT key, value FROM meta"))["schema"] == SCHEMA
    # the log is readable on its own: event, run, class name, user and time per entry
    user, event, name, when = con.execute(
        "SELECT user, event, class_name, time FROM readable_log LIMIT 1").fetchone()
    assert event == session.events["event"][0] and name == "Single"
    assert user == "erin" and when > 1e9
    first3 = "SELECT row, class_id FROM current_labels ORDER BY row LIMIT 3"
    assert con.execute(first3).fetchall() == [(0, 0), (1, 0), (2, 0)]
    con.close()


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(pl.MissingFileError):
        read_label_file(tmp_path / "nope.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(pl.NotHDF5Error, match="text.h5"):
        read_label_file(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["schema"] = "psocake-labeler/manifold"
    with pytest.raises(pl.LayoutError, match="not a psocake-labeler label file"):
        read_label_file(tmp_path / "other.h5")
    with h5py.File(tmp_path / "broken.h5", "w") as f:
        f.attrs["schema"] = SCHEMA
    with pytest.raises(pl.LayoutError, match="damaged"):
        read_label_file(tmp_path / "broken.h5")
    con = sqlite3.connect(tmp_path / "someone_elses.db")     # SQLite, but not ours
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    with pytest.raises(pl.LayoutError, match="not a psocake-labeler label store"):
        read_label_file(tmp_path / "someone_elses.db")
    (tmp_path / "empty.h5").write_bytes(b"")
    with pytest.raises(pl.NotHDF5Error, match="empty"):
        read_label_file(tmp_path / "empty.h5")


def test_psocake_h5_and_json_round_trip(tmp_path):
    labels = np.array([0, 1, 0, 3, 2, 0])
    prop = np.array([1, 1, 2, 3, 2, 3])
    write_psocake_h5(tmp_path / "amo06516_0093_labels.h5", labels, prop)
    with h5py.File(tmp_path / "amo06516_0093_labels.h5") as f:
        assert f["labels"].shape == (6, 1) and f["propLabels"].shape == (6, 1)
    got, got_prop = read_psocake_h5(tmp_path / "amo06516_0093_labels.h5")
    assert got.tolist() == labels.tolist() and got_prop.tolist() == prop.tolist()
    write_psocake_json(tmp_path / "amo06516_0093.label.json", {4: "Multiple", 17: "Single"})
    raw = json.loads((tmp_path / "amo06516_0093.label.json").read_text())
    assert raw == {"4": "Multiple", "17": "Single"}
    assert read_psocake_json(tmp_path / "amo06516_0093.label.json") == {4: "Multiple",
                                                                        17: "Single"}
    (tmp_path / "bad.label.json").write_text("[1, 2]")
    with pytest.raises(pl.InputError, match="bad.label.json"):
        read_psocake_json(tmp_path / "bad.label.json")


def test_session_to_psocake_and_back(session, small_spi_run, tmp_path):
    session.propagate()
    files = write_psocake(session.to_data(), tmp_path / "r0093")
    names = sorted(p.name for p in files)
    assert names == ["amo06516_0093.label.json", "amo06516_0093_labels.h5"]
    labels, prop = read_psocake_h5(tmp_path / "r0093" / "amo06516_0093_labels.h5")
    with h5py.File(small_spi_run.path) as f:
        assert len(labels) == len(f["entry_1/result_1/nHitsAll"])   # a row per event of the run
    ev = session.events["event"]
    assert labels[ev[0]] == 1 and labels[ev[5]] == 2 and labels[ev[9]] == 3
    assert np.count_nonzero(labels) == len(session.user_labels())
    # every confident hit got its propagated label; the unsure ones none (0)
    sure = session.confidence >= CONFIDENT
    assert 0 < sure.sum() < len(sure)
    assert np.array_equal(prop[ev] >= 1, sure)
    assert np.array_equal(prop[ev][sure], session.predicted[sure] + 1)
    # reading them back into a fresh session gives the same labels
    for f in files:
        fresh = pl.LabelSession(session.manifold, classes=session.classes, user="frank")
        fresh.import_labels(f)
        assert fresh.user_labels() == session.user_labels()
        assert fresh.log.actions[-1].kind == "import"


def test_autosave_through_a_symlink_keeps_the_link_and_mode(manifold, tmp_path):
    # Shared label folders often link a user's file; a save must update the target.
    import os
    import stat

    real = tmp_path / "store" / "labels.h5"
    real.parent.mkdir()
    pl.LabelSession(manifold, path=real, user="ann")  # writes the file
    os.chmod(real, 0o640)
    link = tmp_path / "labels.h5"
    link.symlink_to(real)
    s2 = pl.LabelSession.load(link, manifold)
    s2.label([0], "Single")
    assert link.is_symlink() and read_label_file(real).user_index()[0] == 0
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
