"""``psocake-labeler embed`` end to end, in-process and under mpiexec."""
from __future__ import annotations

import hashlib
import re
import shutil
import sys

import h5py
import numpy as np
import pytest

import psocake_labeler as pl
from psocake_labeler.cli import main

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent / "mpi"))
from launch import find_mpiexec, run_mpi  # noqa: E402


def test_embed_then_extend(small_spi_run, second_spi_run, tmp_path, capsys):
    out = tmp_path / "m.h5"
    code = main(["embed", str(small_spi_run.path), "-o", str(out), "--knn", "12",
                 "--n-components", "5"])
    assert code == 0
    err = capsys.readouterr().err
    assert re.search(r"features: (\d+)/\1 \(100%\)", err)
    assert "k-NN: 300/300" in err and "eigensolve: 1/1" in err
    assert f"wrote {out}: 300 events, 5 components" in err
    m = pl.Manifold.load(out)
    assert m.coords.shape == (300, 5) and m.params["knn"] == 12
    assert m.transform is not None

    big = tmp_path / "big.h5"
    assert main(["embed", "--extend", str(out), str(second_spi_run.path), "-o", str(big),
                 "-q"]) == 0
    bigger = pl.Manifold.load(big)
    assert len(bigger) == 500
    np.testing.assert_array_equal(bigger.coords[:300], m.coords)

    # Replacing an older manifold is allowed, and said.
    capsys.readouterr()
    assert main(["embed", "--extend", str(out), str(second_spi_run.path), "-o",
                 str(big)]) == 0
    assert f"wrote {big} (replaced the older manifold there): 500 events" in \
        capsys.readouterr().err
    # Not so a label file: --extend refuses before any work and leaves it as it was.
    labels = label_file(tmp_path / "alice.h5")
    before = sha256(labels)
    assert main(["embed", "--extend", str(out), str(second_spi_run.path), "-o",
                 str(labels)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "alice.h5: exists and is a label file" in err
    assert sha256(labels) == before


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state(path) -> object:
    """A file's bytes' hash, or what a folder holds."""
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else sha256(path)


def label_file(path):
    """A small file of the labels schema, as the GUI writes (only the schema matters here)."""
    with h5py.File(path, "w") as f:
        f.attrs["schema"] = "psocake-labeler/labels"
        f.attrs["schema_version"] = 1
        f.create_dataset("label", data=np.zeros(10, np.int16))
    return path


def test_embed_refuses_to_replace_a_file_that_is_not_a_manifold(small_spi_run, tmp_path,
                                                               capsys):
    notes = tmp_path / "notes.h5"
    notes.write_text("my notes, not HDF5\n")
    run_copy = tmp_path / "copy.cxi"
    shutil.copy(small_spi_run.path, run_copy)
    for target, what in [(label_file(tmp_path / "alice.h5"), "is a label file"),
                         (notes, "is a file of unknown content"),
                         (run_copy, "is a Psocake run"),
                         (tmp_path, "is a folder")]:
        before = state(target)
        code = main(["embed", str(small_spi_run.path), "-o", str(target)])
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"{target}: exists and {what}" in err or f"{target}: {what}" in err, err
        assert "another -o name" in err
        assert state(target) == before


def test_embed_rejects_bad_epsilon(small_spi_run, tmp_path, capsys):
    assert main(["embed", str(small_spi_run.path), "-o", str(tmp_path / "m.h5"),
                 "--epsilon", "silverman"]) == 2
    assert "--epsilon 'silverman'" in capsys.readouterr().err


@pytest.mark.skipif(find_mpiexec() is None, reason="mpiexec not installed")
def test_embed_under_mpiexec_matches_one_process(small_spi_run, tmp_path):
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    args = [sys.executable, "-m", "psocake_labeler", "embed", str(small_spi_run.path),
            "--knn", "10", "--n-components", "4", "-q", "-o"]
    assert main(args[3:] + [str(one)]) == 0
    proc = run_mpi(2, args + [str(two)])
    assert proc.returncode == 0, proc.stderr
    a, b = pl.Manifold.load(one), pl.Manifold.load(two)
    assert (a.events == b.events).all()
    # Features come from a PCA summed over ranks, so agreement is to rounding, not bits.
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-5)
    assert abs(a.graph - b.graph).max() < 1e-4


@pytest.mark.skipif(find_mpiexec() is None, reason="mpiexec not installed")
def test_embed_error_under_mpiexec_is_one_line(small_spi_run, tmp_path):
    # Hits saved without images ("Save hits" without --saveADU): an expected input error.
    bare = tmp_path / "bare.cxi"
    shutil.copy(small_spi_run.path, bare)
    with h5py.File(bare, "a") as f:
        for name in ("/entry_1/instrument_1/detector_1/data", "/entry_1/data_1/data"):
            if name in f:
                del f[name]
    proc = run_mpi(2, [sys.executable, "-m", "psocake_labeler", "embed", str(bare),
                       "-o", str(tmp_path / "m.h5")], timeout=60)
    assert proc.returncode != 0
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "bare.cxi" in proc.stderr and "--saveADU" in proc.stderr
    assert "Traceback" not in proc.stderr and "Abort" not in proc.stderr
    assert not (tmp_path / "m.h5").exists()


def test_embed_takes_the_beam_search_and_autocorr_feature_options(small_spi_run, tmp_path,
                                                                  capsys):
    import psocake_labeler as pl

    out = tmp_path / "m.h5"
    assert main(["embed", str(small_spi_run.path), "-o", str(out), "-q",
                 "--autocorr", "2", "--beam-search", "8"]) == 0
    t = pl.Manifold.load(out).transform
    assert t.get_params()["autocorr"] == 2.0 and t.beam_search_ == 8.0
    plain = pl.Manifold.load(out).features.shape
    assert main(["embed", str(small_spi_run.path), "-o", str(out), "-q",
                 "--autocorr", "-1"]) == 2
    assert "autocorr must be a weight in [0, 100], not -1.0" in capsys.readouterr().err
    assert pl.Manifold.load(out).features.shape == plain        # the file was left alone
    assert main(["embed", "--extend", str(out), str(small_spi_run.path), "-o",
                 str(tmp_path / "big.h5"), "--autocorr", "2"]) == 2
    assert "cannot be used with --extend" in capsys.readouterr().err
