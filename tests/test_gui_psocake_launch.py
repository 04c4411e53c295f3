"""``psocake-label`` with the real Psocake (master and s3df) in its own process: every mode
starts with the dock as a tab and Psocake's layout intact; a missing LCLS environment and
Psocake's detector refusal are one line each, exit 2; ``--help`` is ours. Also ``embed`` of
a "Save hits" file without images, whose images then come from (stand-in) psana."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from psocake_real import psocake_source, stub_env, xtc_root

HERE = Path(__file__).parent
ARGS = ["exp=amo06516:run=93", "-d", "DscCsPad"]


def _source(branch: str) -> Path:
    src, why = psocake_source(branch)
    if src is None:
        pytest.skip(why)
    return src


def _launch(env, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "psocake_labeler.gui.hosts.launcher", *args],
                          env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def xtc(tmp_path_factory):
    return xtc_root(tmp_path_factory.mktemp("xtc"), "amo06516", [93])


@pytest.mark.parametrize("branch, modes", [("master", ["spi", "sfx", "lite", "all"]),
                                           ("s3df", ["spi", "sfx", "lite", "all"])])
def test_every_mode_starts_with_the_dock_as_a_tab(branch, modes, small_spi_run, xtc, tmp_path):
    env = stub_env(small_spi_run.path, xtc, _source(branch))
    out = subprocess.run([sys.executable, str(HERE / "psocake_probe.py"), str(tmp_path), "-",
                          *modes, "--", *ARGS], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    reports = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [r["mode"] for r in reports] == [m for m in modes for _ in range(2)]
    for r in reports:
        assert r["ours"] == ["Label Manifold"], r
        assert r["window"] == r["size"], r                       # the window did not grow
        shown = {n: w for n, (w, _h, vis) in r["docks"].items() if vis}
        assert "Label Manifold" in shown and min(shown.values()) >= 80, r
        assert shown["Image Panel"] >= 350, r
        assert "no manifold in" in r["status"] and "psocake/r0093" in r["status"]


@pytest.mark.parametrize("branch", ["master", "s3df"])
def test_missing_lcls_environment_is_one_line(branch, tmp_path):
    env = stub_env(tmp_path / "none.cxi", tmp_path, _source(branch))
    env["PYTHONPATH"] = str(_source(branch))          # Psocake without psana1
    out = _launch(env, *ARGS)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("psocake-label: Psocake needs LCLS's psana1 environment")
    assert "'PSCalib'" in lines[-1] and "Traceback" not in out.stderr


@pytest.mark.parametrize("branch", ["master", "s3df"])
def test_pnccd_refusal_is_one_line_with_the_fix(branch, small_spi_run, xtc, tmp_path):
    env = stub_env(small_spi_run.path, xtc, _source(branch))
    out = _launch(env, "exp=amo06516:run=93", "-d", "pnccdFront", "-m", "spi",
                  "-o", str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert "pnccdFront is not supported in psocake" in line
    assert "add pnCCD support to Psocake's cheetahUtils" in line and "cspad" in line


def test_label_mode_is_one_line(small_spi_run, xtc, tmp_path):
    """Psocake's -m label imports LabelingPanel Python-2 style: not a missing package."""
    env = stub_env(small_spi_run.path, xtc, _source("master"))
    out = _launch(env, *ARGS, "-m", "label", "-o", str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert "its own module 'LabelingPanel'" in line and "-m spi, sfx, lite or all" in line


def test_help_is_ours_then_psocakes(small_spi_run, xtc):
    out = _launch(stub_env(small_spi_run.path, xtc, _source("master")), "--help")
    assert out.returncode == 0
    assert out.stdout.startswith("usage: psocake-label")
    assert "Psocake's options:" in out.stdout and "--outDir" in out.stdout


def test_embed_of_hits_saved_without_images_reads_them_through_psana(small_spi_run, xtc,
                                                                      tmp_path):
    """'Save hits' without --saveADU (the GUI's default) writes no images: embed then reads
    them with psana (det.image of run.event(times[n])), as Psocake does."""
    _source("master")                                 # the same stand-ins and packages
    bare = tmp_path / "amo06516_0093.cxi"
    shutil.copy(small_spi_run.path, bare)
    with h5py.File(bare, "a") as f:
        del f["/entry_1/data_1/data"], f["/entry_1/instrument_1/detector_1/data"]
    env = stub_env(small_spi_run.path, xtc, tmp_path)
    cmd = [sys.executable, "-m", "psocake_labeler", "embed"]
    for run, name in ((bare, "psana"), (small_spi_run.path, "file")):
        done = subprocess.run([*cmd, str(run), "-o", str(tmp_path / f"{name}.h5")], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    import psocake_labeler as pl

    a, b = pl.Manifold.load(tmp_path / "psana.h5"), pl.Manifold.load(tmp_path / "file.h5")
    assert np.array_equal(a.events["event"], b.events["event"])
    np.testing.assert_allclose(a.coords, b.coords, atol=1e-6)
