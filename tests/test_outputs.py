"""Outputs never replace a file of another kind (issue 11, item 1): merge -o / --report,
export -o of every format, export --format psocake, simulate; symlinks resolved."""
from __future__ import annotations

import hashlib
import shutil
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

import psocake_labeler as pl
from psocake_labeler.io.outputs import output_kind


@pytest.fixture
def cli(capsys):
    """Run the command in this process (fast); an uncaught exception fails the test."""
    from psocake_labeler.cli import main

    def run(*args):
        capsys.readouterr()
        rc = main([str(a) for a in args])
        return SimpleNamespace(returncode=rc, stderr=capsys.readouterr().err)
    return run


def _digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def labels(small_spi_manifold_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("own") / "run93.labels.h5"
    s = pl.LabelSession(pl.Manifold.load(small_spi_manifold_path), path=path)
    s.label(list(range(0, 30, 3)), "Single")
    s.label(list(range(1, 30, 3)), "Multiple")
    s.label(list(range(2, 30, 3)), "Water/Unknown")
    s.propagate()
    s.save()
    return path


@pytest.fixture
def others(tmp_path, small_spi_run, small_spi_manifold_path, labels):
    """Files of other kinds: a run, a manifold, someone's label file, notes, a link."""
    files = {"run": tmp_path / "amo06516_0094.cxi", "manifold": tmp_path / "other.h5",
             "labels": tmp_path / "bob.labels.h5", "notes": tmp_path / "notes.txt"}
    shutil.copy(small_spi_run.path, files["run"])
    shutil.copy(small_spi_manifold_path, files["manifold"])
    shutil.copy(labels, files["labels"])
    files["notes"].write_text("my notes, not yours\n")
    files["link"] = tmp_path / "link.h5"
    files["link"].symlink_to(files["run"].name)
    return files


def _refused(p, target, words):
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert str(target) in p.stderr and words in p.stderr, p.stderr


@pytest.mark.parametrize("kind, words", [("run", "is a Psocake run"),
                                         ("manifold", "manifold file"),
                                         ("labels", "replace it with --force"),
                                         ("notes", "unknown content"),
                                         ("link", "the link")])
def test_merge_output_onto_another_file_is_refused(others, labels, kind, words, cli):
    target = others[kind]
    real = target.resolve()
    before = _digest(real)
    p = cli("merge", labels, "-o", target)
    _refused(p, target, words)
    assert _digest(real) == before and target.exists()


def test_merge_force_replaces_a_label_file_but_not_a_run(others, labels, cli):
    p = cli("merge", labels, "-o", others["labels"], "--force")
    assert p.returncode == 0, p.stderr
    before = _digest(others["run"])
    _refused(cli("merge", labels, "-o", others["run"], "--force"), others["run"],
             "is a Psocake run")
    assert _digest(others["run"]) == before


def test_merge_report_never_replaces_notes(others, labels, tmp_path, cli):
    before = _digest(others["notes"])
    p = cli("merge", labels, "-o", tmp_path / "new.h5", "--report", others["notes"])
    _refused(p, others["notes"], "unknown content")
    assert _digest(others["notes"]) == before and not (tmp_path / "new.h5").exists()
    report = tmp_path / "report.csv"
    for _ in range(2):   # an earlier report of ours is replaced
        p = cli("merge", labels, "-o", tmp_path / "new.h5", "--report", report, "--force")
        assert p.returncode == 0, p.stderr
    assert output_kind(report) == "conflict-report"


@pytest.mark.parametrize("fmt", ["csv", "json", "blacklist", "cxi"])
@pytest.mark.parametrize("kind", ["run", "notes", "manifold", "link"])
def test_export_onto_another_file_is_refused(others, labels, fmt, kind, cli):
    target = others[kind]
    real = target.resolve()
    before = _digest(real)
    _refused(cli("export", labels, "--format", fmt, "-o", target), target, "refusing")
    assert _digest(real) == before


@pytest.mark.parametrize("fmt, kind", [("csv", "label-table-csv"), ("json", "label-table-json"),
                                       ("blacklist", "blacklist"), ("cxi", "class-cxi")])
def test_export_replaces_its_own_earlier_export(labels, tmp_path, fmt, kind, cli):
    target = tmp_path / f"out.{fmt}"
    for confidence in ("0", "0.5"):
        p = cli("export", labels, "--format", fmt, "-o", target, "--min-confidence",
                 confidence)
        assert p.returncode == 0, p.stderr
    assert output_kind(target) == kind
    # and one export format never replaces another
    other = "json" if fmt == "csv" else "csv"
    _refused(cli("export", labels, "--format", other, "-o", target), target, "refusing")


def test_export_psocake_keeps_psocake_own_labels(labels, tmp_path, cli):
    own = tmp_path / "amo06516_0093_labels.h5"
    with h5py.File(own, "w") as f:   # as Psocake writes it: no schema attribute
        f["labels"] = np.ones((400, 1), np.int64)
        f["propLabels"] = np.zeros((400, 1), np.int64)
    before = _digest(own)
    p = cli("export", labels, "--format", "psocake", "-o", tmp_path)
    _refused(p, own, "--replace")
    assert _digest(own) == before and not (tmp_path / "amo06516_0093.label.json").exists()
    assert cli("export", labels, "--format", "psocake", "-o", tmp_path, "--replace"
                ).returncode == 0
    # now both are our export: replaced without --force
    p = cli("export", labels, "--format", "psocake", "-o", tmp_path)
    assert p.returncode == 0, p.stderr


def test_export_psocake_keeps_psocake_own_json(labels, tmp_path, cli):
    js = tmp_path / "amo06516_0093.label.json"
    js.write_text('{"5": "Single"}\n')
    _refused(cli("export", labels, "--format", "psocake", "-o", tmp_path), js, "--replace")
    assert js.read_text() == '{"5": "Single"}\n'


def test_simulate_never_replaces_a_real_run(others, tmp_path, cli):
    run = others["run"]   # a copy of a run without its truth file: not ours to replace
    before = _digest(run)
    p = cli("simulate", run, "--hits", "5", "--shape", "16", "--quiet")
    _refused(p, run, "simulated itself")
    assert _digest(run) == before
    ours = tmp_path / "amo06516_0095.cxi"
    for _ in range(2):   # a run simulated here, with its truth beside it, is replaced
        assert cli("simulate", ours, "--hits", "5", "--shape", "16", "--quiet"
                    ).returncode == 0


def test_output_kind_of_text_files(tmp_path):
    cases = {"a.csv": ("exp,run,event,label,source,confidence\n", "label-table-csv"),
             "b.json": ('[\n {"exp": "a", "run": 1, "event": 2, "label": "", "source": "",'
                        ' "confidence": 0}\n]\n', "label-table-json"),
             "c.dat": ("0\n1\n1\n", "blacklist"), "d.csv": ("run,event,users,labels,files\n",
                                                          "conflict-report"),
             "e.json": ('{\n "12": "Single"\n}\n', "psocake-json"),
             "f.txt": ("notes\n", "unknown"), "g": ("", "empty")}
    for name, (text, kind) in cases.items():
        (tmp_path / name).write_text(text)
        assert output_kind(tmp_path / name) == kind, name
