"""Exports: JSON/CSV tables, the one-class CXI for reconstruction, the EMC blacklist, CLI."""
from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import psocake_labeler as pl
from psocake_labeler.labelfiles.exports import write_class_cxi
from psocake_labeler.labelling.classes import ClassList
from psocake_labeler.labelling.log import ActionLog
from psocake_labeler.labelling.quality import CONFIDENT
from psocake_labeler.labelling.state import LabelData
from psocake_labeler.simulate import read_truth


@pytest.fixture(scope="module")
def labelled(small_spi_run, small_spi_manifold_path, tmp_path_factory):
    """A saved, propagated session on the simulated run (5% labelled from the truth)."""
    m = pl.Manifold.load(small_spi_manifold_path)
    truth = np.asarray(read_truth(small_spi_run.truth_path).labels)
    s = pl.LabelSession(m, path=tmp_path_factory.mktemp("exp") / "labels.h5", user="gina")
    rng = np.random.default_rng(7)
    for c, name in enumerate(s.classes):
        s.label(rng.choice(np.flatnonzero(truth == c), 5, replace=False), name)
    s.propagate()
    return s


def final_labels(s, min_confidence=CONFIDENT):
    """User label, else the prediction if at least min_confidence sure, else -1."""
    lab = np.where(s.confidence >= min_confidence, s.predicted, -1)
    for r, c in s.user_labels().items():
        lab[r] = c
    return lab


def test_json_and_csv(labelled, tmp_path):
    s = labelled
    s.export(tmp_path / "l.json")
    s.export(tmp_path / "l.csv")
    rows = json.loads((tmp_path / "l.json").read_text())
    with open(tmp_path / "l.csv") as fh:
        crow = list(csv.DictReader(fh))
    assert len(rows) == len(crow) == len(s)
    assert list(crow[0]) == ["exp", "run", "event", "label", "source", "confidence"]
    lab = final_labels(s)
    users = s.user_labels()
    for i, r in enumerate(rows):
        assert r["exp"] == "amo06516" and r["run"] == 93
        assert r["event"] == int(s.events["event"][i])
        assert r["label"] == (s.classes[lab[i]] if lab[i] >= 0 else "")
        assert r["source"] == ("user" if i in users else
                               "propagated" if lab[i] >= 0 else "unsure")
        assert 0.0 <= r["confidence"] <= 1.0
        assert crow[i]["label"] == r["label"] and crow[i]["source"] == r["source"]
    assert users and all(rows[i]["confidence"] == 1.0 for i in users)


def test_blacklist(labelled, tmp_path):
    s = labelled
    s.export(tmp_path / "bl.dat")
    lines = (tmp_path / "bl.dat").read_text().splitlines()
    assert len(lines) == len(s) and set(lines) <= {"0", "1"}
    keep = np.array([x == "0" for x in lines])
    assert np.array_equal(keep, final_labels(s) == 0)          # default class Single
    s.export(tmp_path / "water.dat", class_name="Water/Unknown")
    water = np.array([x == "0" for x in (tmp_path / "water.dat").read_text().split()])
    assert np.array_equal(water, final_labels(s) == 2)


def test_cxi_holds_one_class_with_images(labelled, small_spi_run, tmp_path):
    s = labelled
    out = s.export(tmp_path / "single.cxi", class_name="Single")
    rows = np.flatnonzero(final_labels(s) == 0)
    with h5py.File(out) as f, h5py.File(small_spi_run.path) as src:
        ev = f["LCLS/eventNumber"][()]
        assert np.array_equal(ev, s.events["event"][rows])
        src_ev = src["LCLS/eventNumber"][()]
        data = f["entry_1/data_1/data"]                           # the soft link survives
        assert isinstance(f.get("entry_1/data_1/data", getlink=True), h5py.SoftLink)
        assert data.shape == (len(rows), *src["entry_1/instrument_1/detector_1/data"].shape[1:])
        for j in (0, len(rows) // 2, len(rows) - 1):
            i = int(np.flatnonzero(src_ev == ev[j])[0])
            assert np.array_equal(data[j], src["entry_1/instrument_1/detector_1/data"][i])
            assert f["LCLS/machineTime"][j] == src["LCLS/machineTime"][i]
        assert f["entry_1/result_1/nHits"].attrs["numEvents"] == len(rows)
        # run-level metadata copied as is
        for name in ("entry_1/instrument_1/detector_1/distance", "entry_1/result_1/nHitsAll"):
            assert np.array_equal(f[name][()], src[name][()])
        assert f.attrs["schema"] == "psocake-labeler/class-cxi"
        assert set(f["psocake_labeler/label_source"].asstr()[()]) <= {"user", "propagated"}


def test_cxi_without_images_says_so(labelled, small_spi_run, tmp_path):
    copy = tmp_path / "amo06516_0093.cxi"
    shutil.copy(small_spi_run.path, copy)
    with h5py.File(copy, "a") as f:
        del f["entry_1/data_1/data"]
        del f["entry_1/instrument_1/detector_1/data"]
    ev = labelled.events.copy()
    ev["source"] = [str(copy)] * len(ev)
    log = ActionLog(len(ev))
    log.record("label", "h", [0, 1], 0)
    data = LabelData(ClassList(), log, ev)
    with pytest.raises(pl.NoImagesError, match="saveADU"):
        write_class_cxi(data, tmp_path / "x.cxi")
    assert not (tmp_path / "x.cxi").exists()


def test_cli_export(labelled, tmp_path, capsys):
    from psocake_labeler.cli import main

    s = labelled
    for fmt, name in (("json", "a.json"), ("csv", "a.csv"), ("blacklist", "a.dat"),
                      ("cxi", "a.cxi")):
        code = main(["export", str(s.path), "--format", fmt, "-o", str(tmp_path / name)])
        assert code == 0, capsys.readouterr().err
    # what each file holds: the same events, as the API exports them
    s.export(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    assert len((tmp_path / "a.dat").read_text().split()) == len(s)
    assert len((tmp_path / "a.csv").read_text().splitlines()) == len(s) + 1
    with h5py.File(tmp_path / "a.cxi") as f:
        assert len(f["LCLS/eventNumber"]) == np.count_nonzero(final_labels(s) == 0)
    capsys.readouterr()
    code = main(["export", str(s.path), "--format", "cxi", "--class", "Singel"])
    err = capsys.readouterr().err
    assert code == 2 and "'Singel'" in err and "'Single'" in err
    assert err.count("\n") == 1


def _run_cli(capsys, *args):
    from psocake_labeler.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_exported_cxi_opens_as_a_run(labelled, capsys, tmp_path):
    out = labelled.export(tmp_path / "single.cxi", class_name="Single")
    rows = np.flatnonzero(final_labels(labelled) == 0)
    run = pl.open_run(out)
    assert len(run) == len(rows)
    assert np.array_equal(run.events, labelled.events["event"][rows])
    assert np.array_equal(run.event_table()["run"], labelled.events["run"][rows])
    assert run.image(0).shape == pl.open_run(labelled.events["source"][0]).image_shape
    code, text, err = _run_cli(capsys, "info", out)
    assert code == 0, err
    assert "export of the 'Single' hits" in text and "Images: present" in text
    # Beside its run in a run folder, the export is not read as another run (copies).
    shutil.copy(labelled.events["source"][0], tmp_path / "amo06516_0093.cxi")
    assert len(pl.open_run(tmp_path)) == len(pl.open_run(tmp_path / "amo06516_0093.cxi"))


def test_table_names_the_experiment_from_the_run_file(labelled, small_spi_run, tmp_path):
    # A run file not named <exp>_<run>: the experiment comes from /psana/input.
    copy = tmp_path / "myhits.cxi"
    shutil.copy(small_spi_run.path, copy)
    ev = labelled.events.copy()
    ev["source"] = [str(copy)] * len(ev)
    log = ActionLog(len(ev))
    log.record("label", "h", [0], 0)
    from psocake_labeler.labelfiles.exports import table_rows, write_psocake

    rows = table_rows(LabelData(ClassList(), log, ev))
    assert {r["exp"] for r in rows} == {"amo06516"}
    written = write_psocake(LabelData(ClassList(), log, ev), tmp_path)
    assert written[0].name.startswith("amo06516_")


def test_cli_export_never_replaces_label_or_manifold_files(labelled, capsys, tmp_path):
    import hashlib

    lab = Path(labelled.path)
    digest = hashlib.sha256(lab.read_bytes()).hexdigest()
    other = tmp_path / "other_labels.h5"
    shutil.copy(lab, other)
    for extra in (["--format", "json", "-o", other],           # another label file
                  ["--format", "psocake", "-o", other],        # a file where a folder is due
                  ["--format", "csv", "-o", tmp_path],         # a folder where a file is due
                  ["--format", "csv", "-o", "/dev/null"],      # a device
                  ["--format", "csv", "--manifold", tmp_path],
                  ["--format", "cxi", "--min-confidence", "1.5", "-o", tmp_path / "q.cxi"]):
        code, _, err = _run_cli(capsys, "export", lab, *extra)
        assert code == 2, (extra, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert hashlib.sha256(lab.read_bytes()).hexdigest() == digest
    assert hashlib.sha256(other.read_bytes()).hexdigest() == digest
    with pytest.raises(pl.InputError, match="suffix '.txt2'"):
        labelled.export(tmp_path / "x.txt2")


def test_exports_are_readable_by_other_users(labelled, tmp_path):
    out = labelled.export(tmp_path / "l.csv")
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_cxi_of_two_runs_keeps_each_hits_run(small_spi_run, second_spi_run, capsys, tmp_path):
    a, b = pl.open_run(small_spi_run.path), pl.open_run(second_spi_run.path)
    ev = pl.open_run([small_spi_run.path, second_spi_run.path]).event_table()
    log = ActionLog(len(ev))
    log.record("label", "h", [1, len(a) + 2], 0)
    out = tmp_path / "two.cxi"
    assert write_class_cxi(LabelData(ClassList(), log, ev), out) == 2
    run = pl.open_run(out)
    runs = [a.metadata["run"], b.metadata["run"]]
    assert run.event_table()["run"].tolist() == runs
    assert run.events.tolist() == [a.events[1], b.events[2]]
    assert np.array_equal(run.image(1), b.image(2))
    code, text, err = _run_cli(capsys, "info", out)
    assert code == 0 and f"runs {runs[0]}, {runs[1]}" in text, err
