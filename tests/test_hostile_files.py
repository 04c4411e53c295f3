"""Damaged or hostile manifolds: one LayoutError naming the file and the dataset, before
anything reaches scipy or the GUI (issue 11, item 4). ``EDITS`` go through every entry point
that reads a manifold in test_bad_files.py, with the Psocake label files."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

import psocake_labeler as pl


def _replace(f, name, data):
    del f[name]
    f[name] = data


def _edit(path, name, fn):
    with h5py.File(path, "r+") as f:
        _replace(f, name, fn(f[name][()]))


def _set(index, value):
    def fn(a):
        a = a.copy()
        a[index] = value
        return a
    return fn


def _huge(f):
    del f["coords"]
    f.create_dataset("coords", shape=(10**11, 4), dtype=np.float64, chunks=(1024, 4))


EDITS = {
    "index out of range": (lambda f: _replace(f, "graph/indices", _set(3, 10**6)(
        f["graph/indices"][()])), "/graph/indices holds 1000000"),
    "negative index": (lambda f: _replace(f, "graph/indices", _set(0, -5)(
        f["graph/indices"][()])), "/graph/indices holds -5"),
    "bad indptr": (lambda f: _replace(f, "graph/indptr", _set(5, 10**7)(
        f["graph/indptr"][()])), "/graph/indptr is not a valid row index"),
    "graph shape": (lambda f: f["graph"].attrs.__setitem__("shape", [10**9, 10**9]),
                    "shape attribute (1000000000, 1000000000)"),
    "NaN coordinates": (lambda f: _replace(f, "coords", _set((7, 1), np.nan)(
        f["coords"][()])), "/coords holds NaN or inf (row 7"),
    "short coordinates": (lambda f: _replace(f, "coords", f["coords"][()][:10]),
                          "/coords has shape (10,"),
    "declared 10^11 rows": (_huge, "/coords has shape (100000000000, 4)"),
    "zero eigenvalue": (lambda f: _replace(f, "eigenvalues", np.zeros_like(
        f["eigenvalues"][()])), "/eigenvalues holds 0"),
    "params not JSON": (lambda f: f.attrs.__setitem__("params", "{knn: 15"),
                        "params is not valid JSON"),
    "params a list": (lambda f: f.attrs.__setitem__("params", "[1, 2]"),
                      "params is a JSON list"),
    "params nested": (lambda f: f.attrs.__setitem__("params", "[" * 100000 + "]" * 100000),
                      "nested too deeply"),
    "params huge": (lambda f: f.attrs.__setitem__("params", json.dumps(
        {"knn": 8, "pad": "x" * (2 << 20)})), "bytes of JSON"),
    "params epsilon": (lambda f: f.attrs.__setitem__("params", json.dumps(
        {"knn": 8, "epsilon": "wide"})), "epsilon = 'wide'"),
    "events strings": (lambda f: _replace(f, "events", np.array([b"x"] * 300)),
                       "/events has"),
}


def test_out_of_range_graph_no_longer_segfaults_propagate(small_spi_manifold_path, tmp_path):
    path = tmp_path / "m.h5"
    shutil.copy(small_spi_manifold_path, path)
    with h5py.File(path, "r+") as f:
        EDITS["index out of range"][0](f)
    labels = tmp_path / "l.h5"
    s = pl.LabelSession(pl.Manifold.load(small_spi_manifold_path), path=labels)
    s.label([0, 1], "Single")
    s.save()
    p = subprocess.run([sys.executable, "-m", "psocake_labeler", "propagate", str(path),
                        str(labels)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, (p.returncode, p.stderr)   # was -11 (SIGSEGV)
    assert len(p.stderr.strip().splitlines()) == 1 and "/graph/indices" in p.stderr


def test_extend_refuses_a_run_already_on_the_manifold(manifold, small_spi_run,
                                                      second_spi_run):
    with pytest.raises(pl.InputError, match="300 of its 300 events .* already on the "
                                            "manifold"):
        manifold.extend(small_spi_run.path)
    bigger = manifold.extend(second_spi_run.path)
    with pytest.raises(pl.InputError, match="already on the manifold"):
        bigger.extend([second_spi_run.path])
