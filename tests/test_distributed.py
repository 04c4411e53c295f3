"""Distributed k-NN: exactness, rank-count independence, failure of one rank."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from psocake_labeler._parallel import block_range, run_step
from psocake_labeler.errors import InputError
from psocake_labeler.neighbors.mpi import knn, knn_query

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent / "mpi"))
from launch import HERE, find_mpiexec, run_mpi  # noqa: E402

needs_mpi = pytest.mark.skipif(find_mpiexec() is None, reason="mpiexec not installed")


def test_block_range_is_balanced_and_covers_all_rows():
    for n in (0, 1, 7, 100, 101):
        for size in (1, 2, 3, 8):
            blocks = [block_range(n, size, r) for r in range(size)]
            assert blocks[0][0] == 0 and blocks[-1][1] == n
            assert all(blocks[i][1] == blocks[i + 1][0] for i in range(size - 1))
            lengths = [b - a for a, b in blocks]
            assert max(lengths) - min(lengths) <= 1


def test_knn_matches_exact_float64_search():
    rng = np.random.default_rng(0)
    # A large common offset: float32 |a|^2 + |b|^2 - 2ab alone would lose the neighbours.
    x = (rng.standard_normal((1500, 12)) + 1000.0).astype(np.float32)
    idx, dist = knn(x, 8)
    ref_d, ref_i = NearestNeighbors(n_neighbors=9).fit(x.astype(np.float64)).kneighbors(
        x.astype(np.float64))
    assert idx.shape == (1500, 8) and idx.dtype == np.int64 and dist.dtype == np.float64
    assert (idx != np.arange(1500)[:, None]).all()  # never the row itself
    np.testing.assert_allclose(dist, ref_d[:, 1:], rtol=1e-12, atol=1e-12)
    assert (idx == ref_i[:, 1:]).mean() > 0.999


def test_knn_ties_go_to_the_smaller_index():
    x = np.zeros((20, 3), np.float32)
    x[10:] = 1.0  # two groups of identical rows
    idx, dist = knn(x, 4)
    assert idx[0].tolist() == [1, 2, 3, 4]
    assert idx[15].tolist() == [10, 11, 12, 13]
    assert np.all(dist == 0)


def test_knn_rejects_too_large_k():
    with pytest.raises(InputError, match="knn=10"):
        knn(np.zeros((10, 2), np.float32), 10)


def test_knn_query_finds_reference_rows():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((400, 5)).astype(np.float32)
    idx, dist = knn_query(ref[[3, 70, 399]] + 1e-4, ref, 2)
    assert idx[:, 0].tolist() == [3, 70, 399]
    assert np.all(dist[:, 0] < 1e-3)
    with pytest.raises(InputError, match="do not match"):
        knn_query(np.zeros((2, 4)), ref, 2)


def test_run_step_in_process_raises_the_original_error():
    def bad():
        raise KeyError("x")

    with pytest.raises(KeyError):
        run_step(None, "read", bad)
    assert run_step(None, "ok", lambda a: a + 1, 1) == 2


@needs_mpi
@pytest.mark.parametrize("n, mode, width", [(2, "gather", "narrow"), (3, "ring", "narrow"),
                                            (2, "ring", "wide"), (3, "gather", "wide"),
                                            (3, "ring", "noise")])
def test_rank_count_does_not_change_the_manifold(tmp_path, n, mode, width):
    # narrow: 8 features screened as they are; wide: 200, screened through a projection;
    # noise: 200 that no screening prunes (brute force in float32, candidates made exact).
    serial = tmp_path / "serial.npz"
    run_mpi(1, [sys.executable, str(HERE / "embed_ranks.py"), str(serial), "gather",
                width]).check_returncode()
    out = tmp_path / f"ranks{n}.npz"
    proc = run_mpi(n, [sys.executable, str(HERE / "embed_ranks.py"), str(out), mode, width])
    assert proc.returncode == 0, proc.stderr
    a, b = np.load(serial), np.load(out)
    assert int(b["size"]) == n
    np.testing.assert_array_equal(a["indptr"], b["indptr"])
    np.testing.assert_array_equal(a["indices"], b["indices"])
    np.testing.assert_allclose(a["data"], b["data"], rtol=1e-6)
    np.testing.assert_allclose(a["eigenvalues"], b["eigenvalues"], rtol=1e-6)
    np.testing.assert_allclose(a["coords"], b["coords"], rtol=1e-6, atol=1e-9)


@needs_mpi
def test_failure_of_one_rank_stops_every_rank_with_its_name():
    proc = run_mpi(2, [sys.executable, str(HERE / "fail_rank.py"), "1", "local"], timeout=60)
    assert proc.returncode != 0
    # Both ranks stop, each with the one message naming the failed rank and its cause
    # (mpiexec may interleave the two ranks' lines, so look for each, not for lines).
    msg = "error: rank 1 of 2 failed in step 'read': OSError: cannot read /data/broken_1.cxi"
    for rank in (0, 1):
        assert f"rank {rank}: {msg}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@needs_mpi
def test_failure_inside_a_collective_step_aborts_the_job():
    proc = run_mpi(3, [sys.executable, str(HERE / "fail_rank.py"), "2", "collective"],
                   timeout=60)
    assert proc.returncode != 0
    assert "rank 2 of 3 failed in step 'k-NN': MemoryError" in proc.stderr


@needs_mpi
@pytest.mark.parametrize("failing", [-1, 1])
def test_input_error_inside_a_collective_step_is_one_line(failing):
    # -1: every rank meets the error at once (the usual case for a bad file), 1: one rank,
    # while the other is already blocked inside the k-NN collectives.
    proc = run_mpi(2, [sys.executable, str(HERE / "fail_rank.py"), str(failing),
                       "collective-input"], timeout=60)
    assert proc.returncode != 0
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    # when both fail, the one that got there first speaks (rank 0 unless it lagged > 1 s)
    ranks = (0, 1) if failing < 0 else (failing,)
    assert any(f"psocake-labeler: error: rank {r} of 2 failed in step 'features': "
               "NoImagesError: /data/r0093.cxi" in proc.stderr for r in ranks), proc.stderr
    assert "Traceback" not in proc.stderr and "Abort" not in proc.stderr
