"""Merging several users' label files: agreements kept, conflicts reported and not decided."""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

import psocake_labeler as pl
from psocake_labeler.cli import main
from psocake_labeler.labelfiles.exports import write_psocake
from psocake_labeler.labelfiles.store import read_label_file


@pytest.fixture()
def two_users(manifold, tmp_path):
    a = pl.LabelSession(manifold, path=tmp_path / "alice.h5", user="alice")
    a.label([0, 1, 2], "Single")
    a.label([3], "Multiple")
    a.label([8], "Water/Unknown")
    a.unlabel([8])                       # alice changed her mind: no label on row 8
    b = pl.LabelSession(manifold, path=tmp_path / "bob.h5", user="bob")
    b.label([0, 1], "Single")
    b.label([2], "Multiple")             # conflicts with alice
    b.label([4, 8], "Water/Unknown")
    return a, b


def key(m, row):
    return int(m.events["run"][row]), int(m.events["event"][row])


def test_merge_reports_conflicts_and_keeps_agreement(two_users, manifold, tmp_path):
    a, b = two_users
    result = pl.merge_labels([a.path, b.path])
    assert len(result.conflicts) == 1
    c = result.conflicts[0]
    assert (c.run, c.event) == key(manifold, 2)
    assert c.users == ("alice", "bob") and c.labels == ("Single", "Multiple")
    assert result.labels == {key(manifold, 0): "Single", key(manifold, 1): "Single",
                             key(manifold, 3): "Multiple", key(manifold, 4): "Water/Unknown",
                             key(manifold, 8): "Water/Unknown"}
    rows = list(csv.DictReader(result.report().splitlines()))
    assert rows == [{"run": str(c.run), "event": str(c.event), "users": "alice;bob",
                     "labels": "Single;Multiple", "files": f"{a.path};{b.path}"}]
    merged = result.write(tmp_path / "merged.h5")
    s = pl.LabelSession.load(merged, manifold, user="lead")
    # the conflicting event is left unlabelled, never silently decided
    assert s.user_labels() == {0: 0, 1: 0, 3: 1, 4: 2, 8: 2}
    users = {act.user for act in s.log.actions}
    assert {"alice", "bob"} <= users
    d = read_label_file(merged)
    assert "1 conflicts" in d.log.actions[-1].detail


def test_merge_three_users_and_psocake_files(two_users, manifold, tmp_path):
    a, b = two_users
    c = pl.LabelSession(manifold, user="carol")
    c.label([2], "Water/Unknown")
    c.label([0], "Single")
    files = write_psocake(c.to_data(), tmp_path / "carol")
    h5 = [f for f in files if f.name.endswith("_labels.h5")][0]
    result = pl.merge_labels([a.path, b.path, h5], users=["x", "y", "carol"])
    (conf,) = result.conflicts
    assert conf.users == ("alice", "bob", "carol")
    assert conf.labels == ("Single", "Multiple", "Water/Unknown")
    assert result.labels[key(manifold, 0)] == "Single"
    merged = result.write(tmp_path / "m.h5")
    # same manifold throughout? no: Psocake files know no manifold, so the result is
    # imported into a session rather than loaded
    with pytest.raises(pl.ManifoldMismatchError, match="import_labels"):
        pl.LabelSession.load(merged, manifold)
    s = pl.LabelSession(manifold, user="lead")
    s.import_labels(merged)
    assert 2 not in s.user_labels() and s.user_labels()[0] == 0


def test_cli_merge(two_users, tmp_path, capsys):
    a, b = two_users
    assert main(["merge", str(a.path), str(b.path), "-o", str(tmp_path / "merged.h5")]) == 0
    out, err = capsys.readouterr()
    assert "1 conflict" in out and "alice: Single, bob: Multiple" in err
    report = (tmp_path / "merged.conflicts.csv").read_text()
    assert "alice;bob" in report
    d = read_label_file(tmp_path / "merged.h5")
    assert np.count_nonzero(d.user_index() >= 0) == 5


def test_cli_merge_never_overwrites_its_inputs(two_users, capsys):
    # (bad input files, one line and exit 2: test_bad_files.py)
    a, b = two_users
    digest = hashlib.sha256(Path(a.path).read_bytes()).hexdigest()
    code = main(["merge", str(a.path), str(b.path), "-o", str(a.path)])
    err = capsys.readouterr().err
    assert code == 2 and "never overwritten" in err and len(err.strip().splitlines()) == 1
    assert hashlib.sha256(Path(a.path).read_bytes()).hexdigest() == digest
