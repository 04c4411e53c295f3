"""Manifold file round trip and out-of-sample extension (bad manifold files:
test_bad_files.py and test_hostile_files.py)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
import pytest

import psocake_labeler as pl
from psocake_labeler.errors import InputError
from psocake_labeler.neighbors.mpi import knn_query


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = np.array([[0, 0, 0, 0], [3, 0, 0, 0], [0, 3, 1, 0]], float)
    return centres[labels] + rng.normal(0, 0.6, (n, 4)), labels


@pytest.fixture(scope="module")
def array_manifold():
    x, _ = blobs(500, 0)
    return pl.build_manifold(x, n_components=4, knn=10)


def test_save_load_round_trip(tmp_path, array_manifold):
    m = array_manifold
    path = tmp_path / "m.h5"
    m.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.h5"]  # no temporary left behind
    with h5py.File(path) as f:
        assert f.attrs["schema"] == "psocake-labeler/manifold"
    back = pl.Manifold.load(path)
    np.testing.assert_array_equal(back.coords, m.coords)
    np.testing.assert_array_equal(back.eigenvalues, m.eigenvalues)
    np.testing.assert_array_equal(back.floor, m.floor)
    np.testing.assert_array_equal(back.features, m.features)
    np.testing.assert_array_equal(back.density, m.density)
    assert (back.graph != m.graph).nnz == 0
    assert back.events.dtype == m.events.dtype and (back.events == m.events).all()
    assert back.params == m.params
    assert back.events_hash() == m.events_hash()


def test_lazy_load_reads_the_graph_and_features_of_the_file_it_opened(tmp_path,
                                                                      array_manifold):
    m = array_manifold
    path = tmp_path / "m.h5"
    m.save(path)
    lazy = pl.Manifold.load(path, lazy=True)
    np.testing.assert_array_equal(lazy.coords, m.coords)
    assert lazy.events_hash() == m.events_hash() and lazy.params == m.params
    # embed -o replaces the file by a rename meanwhile: the fields still come from ours
    pl.build_manifold(blobs(300, 1)[0], n_components=4, knn=10).save(path)
    with ThreadPoolExecutor(4) as pool:       # a worker and the GUI may ask at once
        graphs = list(pool.map(lambda _: lazy.graph, range(4)))
    assert all(g is graphs[0] for g in graphs) and (graphs[0] != m.graph).nnz == 0
    np.testing.assert_array_equal(lazy.features, m.features)
    np.testing.assert_array_equal(lazy.density, m.density)
    np.testing.assert_array_equal(lazy.floor, m.floor)
    assert lazy.brightness is None and m.brightness is None
    assert len(pl.Manifold.load(path, lazy=True)) == 300


def test_lazy_load_checks_the_graph_when_it_reads_it(tmp_path, array_manifold):
    path = tmp_path / "m.h5"
    array_manifold.save(path)
    with h5py.File(path, "r+") as f:
        f["graph/indices"][0] = 10**6
    lazy = pl.Manifold.load(path, lazy=True)        # opens: the graph is not read yet
    assert len(lazy) == len(array_manifold)
    for _ in range(2):                               # every use says so, in one line
        with pytest.raises(pl.LayoutError, match="/graph/indices holds 1000000"):
            assert lazy.graph is None   # never reached: reading it raises
    with pytest.raises(pl.LayoutError, match="/graph/indices holds 1000000"):
        pl.Manifold.load(path)


def test_events_hash_changes_with_the_events(array_manifold):
    m = array_manifold
    other = pl.Manifold(**{**m.__dict__, "events": m.events.copy()})
    assert other.events_hash() == m.events_hash()
    other.events["event"][7] += 1000
    assert other.events_hash() != m.events_hash()


def test_extend_with_an_array(array_manifold):
    m = array_manifold
    new, labels = blobs(120, 5)
    big = m.extend(new)
    n = len(m)
    assert len(big) == n + 120 and big.graph.shape == (n + 120, n + 120)
    assert big.events["event"][n:].tolist() == list(range(n, n + 120))
    g = big.graph
    assert abs(g - g.T).max() == 0 and np.all(g.diagonal() == 0)
    assert (g[:n, :n] != m.graph).nnz == 0          # the old graph is kept as it was
    assert g[n:, n:].nnz == 0                        # new events link to old ones only
    assert np.all(np.diff(g[n:].indptr) >= 1)
    np.testing.assert_array_equal(big.eigenvalues, m.eigenvalues)
    # Old events fed back in land where they are (Nystrom reproduces P psi = lambda psi
    # up to the event itself missing from its own neighbours).
    again = m.extend(m.features[:50]).coords[n:]
    scale = np.abs(m.coords).max(axis=0)
    assert np.abs((again - m.coords[:50]) / scale).max() < 0.1
    # New events land among old events of their own kind.
    _, old_labels = blobs(500, 0)
    nearest, _ = knn_query(big.coords[n:], m.coords, 5)
    vote = np.array([np.bincount(old_labels[r], minlength=3).argmax() for r in nearest])
    assert (vote == labels).mean() > 0.9


def test_extend_marks_events_far_from_the_manifold_unreliable(array_manifold, small_spi_run,
                                                               second_spi_run, tmp_path):
    from psocake_labeler.labelling.honest import RELIABLE
    from psocake_labeler.simulate import simulate_run

    m = array_manifold
    near = m.extend(m.features[:50]).reliability[len(m):]
    far = m.extend(m.features[:50] + 10.0 * m.features.std()).reliability[len(m):]
    assert np.all(near == 1.0) and np.all(far < 0.1)
    # runs: another run like the first, and one with 10-100x fewer photons per hit
    runs = pl.build_manifold(small_spi_run.path, n_components=6, knn=15)
    faint = simulate_run(tmp_path / "amo06516_0096.cxi", hits=100, shape=(64, 64), seed=4,
                         run=96, conditions="photons=30-300")
    like = runs.extend(second_spi_run.path).reliability[len(runs):]
    unlike = runs.extend(faint.path).reliability[len(runs):]
    assert np.mean(like < RELIABLE) <= 0.05 and np.mean(unlike < RELIABLE) >= 0.5, (
        np.mean(like < RELIABLE), np.mean(unlike < RELIABLE))


def test_extend_rejects_wrong_width_and_runs_without_transform(array_manifold, tmp_path):
    with pytest.raises(InputError, match="shape"):
        array_manifold.extend(np.zeros((3, 9)))
    with pytest.raises(InputError, match="feature array"):
        array_manifold.extend(tmp_path / "run.cxi")


def test_extend_a_second_run_lands_near_its_kind(small_spi_run, second_spi_run, tmp_path):
    from psocake_labeler.simulate import read_truth

    m = pl.build_manifold(small_spi_run.path, n_components=6, knn=15)
    m.save(tmp_path / "m.h5")
    loaded = pl.Manifold.load(tmp_path / "m.h5")  # the saved feature transform is used
    big = loaded.extend(second_spi_run.path)
    n = len(m)
    assert len(big) == n + 200
    assert set(big.events["run"][n:].tolist()) == {94}
    old = read_truth(small_spi_run.truth_path).labels
    new = read_truth(second_spi_run.truth_path).labels
    nearest, _ = knn_query(big.coords[n:], big.coords[:n], 5)
    vote = np.array([np.bincount(old[r], minlength=3).argmax() for r in nearest])
    assert (vote == new).mean() > 0.85
    big.save(tmp_path / "big.h5")
    assert len(pl.Manifold.load(tmp_path / "big.h5")) == n + 200
