"""Shared fixtures: small simulated runs written to real HDF5 files, made once per session."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# the GUI's settings file (remembered axes) goes to a folder of this test run, not $HOME
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="psocake-labeler-config-")

ARTIFACTS = Path(__file__).parent / "_artifacts"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Folder for screenshots and other outputs worth looking at after a run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def small_spi_run(tmp_path_factory):
    """A 300-hit SPI run of 64x64 images (seed 1) with its ground truth."""
    from psocake_labeler.simulate import simulate_run

    folder = tmp_path_factory.mktemp("spi")
    return simulate_run(folder / "amo06516_0093.cxi", hits=300, shape=(64, 64), seed=1, run=93)


@pytest.fixture(scope="session")
def small_spi_manifold_path(small_spi_run, tmp_path_factory) -> Path:
    """The 300-hit run's manifold (knn 15, 10 components), built once and saved outside the
    run folder (which other tests open as a run); load it with ``Manifold.load``. Its
    features are those the GUI, view and propagation tests were written on (the defaults
    before issue 13), so that those tests keep testing what they were written for."""
    import psocake_labeler as pl

    path = tmp_path_factory.mktemp("manifolds") / "amo06516_0093.manifold.h5"
    old = {"work_size": 64, "beam_search": 0.0, "fill": "ring", "zero_rows": False,
           "units": "pixel", "autocorr": 0.0}
    pl.build_manifold(pl.open_run(small_spi_run.path), n_components=10, knn=15,
                      **old).save(path)
    return path


@pytest.fixture(scope="module")
def manifold(small_spi_manifold_path):
    """The 300-hit run's manifold, loaded once per module."""
    import psocake_labeler as pl

    return pl.Manifold.load(small_spi_manifold_path)


@pytest.fixture(scope="module")
def spi_manifold(manifold, small_spi_run):
    """(manifold, truth class index per row) of the 300-hit run, loaded once per module."""
    import numpy as np

    from psocake_labeler.simulate import read_truth

    return manifold, np.asarray(read_truth(small_spi_run.truth_path).labels)


@pytest.fixture(scope="session")
def second_spi_run(tmp_path_factory):
    """Another 200-hit SPI run (seed 2, run 94), for extend and transfer tests."""
    from psocake_labeler.simulate import simulate_run

    folder = tmp_path_factory.mktemp("spi2")
    return simulate_run(folder / "amo06516_0094.cxi", hits=200, shape=(64, 64), seed=2, run=94)


@pytest.fixture(scope="session")
def small_sfx_run(tmp_path_factory):
    """A 60-hit SFX run: per-rank files plus master, in Psocake's peak-finder layout."""
    from psocake_labeler.simulate import simulate_run

    folder = tmp_path_factory.mktemp("sfx")
    return simulate_run(folder / "cxitut13_0010.cxi", hits=60, shape=(64, 64), seed=3,
                        layout="sfx", experiment="cxitut13", run=10)


@pytest.fixture
def close_windows():
    """Close every widget the test kept (psocake_standin.keep), after the test; GUI modules
    use it with ``pytestmark = pytest.mark.usefixtures("close_windows")``."""
    yield
    from psocake_standin import close_kept

    close_kept()
