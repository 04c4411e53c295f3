"""Exact k-NN by pruning: the neighbours of a brute-force search, whatever the data."""
from __future__ import annotations

import numpy as np
import pytest

from psocake_labeler.neighbors.mpi import knn, knn_query


def brute_force(queries: np.ndarray, ref: np.ndarray, k: int,
                exclude_self: bool) -> tuple[np.ndarray, np.ndarray]:
    """k nearest by sum((b - a)^2) in float64 over all pairs, ties to the smaller index."""
    q64, r64 = queries.astype(np.float64), ref.astype(np.float64)
    idx = np.empty((len(q64), k), dtype=np.int64)
    dist = np.empty((len(q64), k))
    for i, row in enumerate(q64):
        d2 = np.einsum("ij,ij->i", r64 - row, r64 - row)
        if exclude_self:
            d2[i] = np.inf
        order = np.lexsort((np.arange(len(d2)), d2))[:k]
        idx[i], dist[i] = order, np.sqrt(d2[order])
    return idx, dist


def lifted_curve(n: int, dim: int, seed: int, offset: float = 100.0) -> np.ndarray:
    """A 2-D sheet bent through ``dim`` dimensions, with noise, a common offset and a
    block of duplicate rows (ties everywhere near them)."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(0, 4, (n, 2))
    x = np.sin(z @ rng.normal(0, 1, (2, dim)) + rng.uniform(0, 6, dim))
    x += rng.normal(0, 0.02, x.shape) + offset
    x[40:70] = x[5]
    return x.astype(np.float32)


@pytest.mark.parametrize("n, dim, k, pairs", [(1500, 300, 10, 0.5), (3000, 5, 200, 0.75),
                                              (600, 40, 599, 1.0)])
def test_knn_equals_brute_force_on_structured_data(n, dim, k, pairs):
    # 300 features: screened through a projection; 5 and 40: screened as they are; k=599:
    # every other row is a neighbour. ``pairs``: at most this fraction of all pairs is
    # computed (measured 0.29, 0.57 and 1): on a 2-D sheet the pruning skips most pairs,
    # even with only 15 clusters; with k=599 of 600 nothing can be skipped.
    x = lifted_curve(n, dim, seed=n)
    stats: dict = {}
    idx, dist = knn(x, k, stats=stats)
    ref_i, ref_d = brute_force(x, x, k, exclude_self=True)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-9, atol=1e-9)
    assert stats["all_pairs"] == n * n
    assert stats["pairs"] <= pairs * stats["all_pairs"], stats


def test_knn_equals_brute_force_without_structure():
    # Isotropic noise: no bound prunes much, the answer must still be exact.
    x = np.random.default_rng(3).standard_normal((700, 200)).astype(np.float32)
    idx, dist = knn(x, 7)
    ref_i, ref_d = brute_force(x, x, 7, exclude_self=True)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-9)


def noise_through_a_curve(seed: int) -> np.ndarray:
    """1000 rows of 200-D noise (unprunable) around a dense curve of 500 rows through its
    centre (pruned), far from the origin, with duplicate noise rows."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((1000, 200))
    t = np.linspace(-3, 3, 500)[:, None]
    curve = np.sin(t * rng.normal(0, 1, 200)) + rng.normal(0, 0.01, (500, 200))
    x = np.concatenate([noise, curve]) + 50.0
    x[10:20] = x[3]
    return x.astype(np.float32)


def test_unprunable_rows_meet_every_column_once_per_tile(monkeypatch):
    # Small tiles: the noise rows span many tiles of the symmetric pass, its bounds are
    # tightened as tiles come in, and the noise rows meet the curve's rows (which the
    # pruned search handles) in rectangular tiles; their nearest are often curve rows.
    from psocake_labeler.neighbors import dense

    monkeypatch.setattr(dense, "TILE", 128)
    monkeypatch.setattr(dense, "KEEP", 2)
    x = noise_through_a_curve(seed=8)
    stats: dict = {}
    idx, dist = knn(x, 9, stats=stats)
    ref_i, ref_d = brute_force(x, x, 9, exclude_self=True)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-9, atol=1e-9)
    assert (idx[:1000] >= 1000).any()  # noise rows found curve neighbours
    assert 1000 * 1500 <= stats["pairs"] < 1500 * 1500  # both paths ran
    assert idx[3].tolist() == list(range(10, 19)) and np.all(dist[3] == 0)


def test_duplicates_are_neighbours_in_index_order():
    x = lifted_curve(1000, 300, seed=4)
    idx, dist = knn(x, 12)
    # Rows 5 and 40..69 are the same event: each one's 12 nearest are copies at distance 0,
    # the smallest indices first, never itself.
    assert idx[5].tolist() == list(range(40, 52))
    assert idx[45].tolist() == [5] + [i for i in range(40, 53) if i != 45][:11]
    assert np.all(dist[[5, 45]] == 0)


def test_knn_query_equals_brute_force():
    x = lifted_curve(2000, 300, seed=5)
    ref, new = x[:1500], x[1500:] + np.float32(0.01)
    idx, dist = knn_query(new, ref, 6)
    ref_i, ref_d = brute_force(new, ref, 6, exclude_self=False)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-9)


def test_non_finite_features_are_refused_with_the_event_named():
    from psocake_labeler.errors import InputError

    x = lifted_curve(300, 8, seed=6)
    x[17, 3] = np.nan
    with pytest.raises(InputError, match="event 17"):
        knn(x, 5)


def _two_pieces(a: np.ndarray, b: np.ndarray):
    from psocake_labeler.neighbors.pairs import Pieces

    return Pieces(np.concatenate([a, b]), np.repeat([0, 1], [len(a), len(b)]))


def test_closest_pair_equals_brute_force_with_ties():
    from psocake_labeler.neighbors.pairs import closest_pair

    x = lifted_curve(1200, 40, seed=9)
    a, b = x[:500], x[500:].copy()
    b[300] = a[123] + np.float32(1e-3)  # one pair far closer than the rest...
    b[301] = b[300]                       # ...twice (a tie: the smaller j wins)
    a[400] = a[123]                       # ...from two rows (a tie: the smaller i wins)
    i, j, d = closest_pair(_two_pieces(a, b), [0], [1])
    ref_i, ref_d = brute_force(a, b, 1, exclude_self=False)
    best = int(np.lexsort((np.arange(len(a)), ref_d[:, 0]))[0])
    assert (i, j - len(a)) == (best, int(ref_i[best, 0])) == (123, 300)
    assert d == pytest.approx(ref_d[best, 0], rel=1e-9)
    # No planted pair: the nearest of the sample need not be the answer.
    i, j, d = closest_pair(_two_pieces(x[:600], x[600:]), [0], [1])
    ref_i, ref_d = brute_force(x[:600], x[600:], 1, exclude_self=False)
    best = int(np.lexsort((np.arange(600), ref_d[:, 0]))[0])
    assert (i, j - 600) == (best, int(ref_i[best, 0]))


def test_mutual_pair_is_each_ends_nearest_across_the_cut():
    from psocake_labeler.neighbors.pairs import closest_pair, mutual_pair

    x = lifted_curve(1500, 40, seed=11)
    a, b = x[:700], x[700:]
    pieces = _two_pieces(a, b)
    i, j, d = mutual_pair(pieces, [0], [1], starts=16)
    j -= len(a)
    to_b, d_b = brute_force(a[i:i + 1], b, 1, exclude_self=False)
    to_a, _ = brute_force(b[j:j + 1], a, 1, exclude_self=False)
    assert (int(to_b[0, 0]), int(to_a[0, 0])) == (j, i)
    assert d == pytest.approx(d_b[0, 0], rel=1e-9)
    # No longer than the best start's own nearest pair.
    starts = np.unique(np.linspace(0, len(a) - 1, 16).astype(int))
    _, d_s = brute_force(a[starts], b, 1, exclude_self=False)
    assert d <= d_s.min() * (1 + 1e-12)
    # Started from every row, the best start is the closest pair itself.
    assert (mutual_pair(pieces, [0], [1], starts=len(a))[:2]
            == closest_pair(pieces, [0], [1])[:2])


def test_pair_across_many_pieces_equals_brute_force():
    """Twelve pieces: the eight largest are clustered alone, the other four together;
    the nearest row of any union of them is the brute-force one, from either side."""
    from psocake_labeler.neighbors.pairs import Pieces, closest_pair

    x = lifted_curve(1300, 40, seed=12)
    piece = np.repeat(np.arange(12), [300, 200, 150, 120, 100, 90, 80, 70, 60, 50, 40, 40])
    piece = np.random.default_rng(0).permutation(piece)
    pieces = Pieces(x, piece)
    for inside in ([0], [10], [3, 11]):
        outside = [p for p in range(12) if p not in inside]
        a, b = np.flatnonzero(np.isin(piece, inside)), np.flatnonzero(~np.isin(piece, inside))
        i, j, d = closest_pair(pieces, inside, outside)
        ref_i, ref_d = brute_force(x[a], x[b], 1, exclude_self=False)
        best = int(np.lexsort((a, ref_d[:, 0]))[0])
        assert (i, j) == (int(a[best]), int(b[ref_i[best, 0]]))
        assert d == pytest.approx(ref_d[best, 0], rel=1e-9)
        idx, dist = pieces.nearest(x[b[:50]], inside)
        ref_i, ref_d = brute_force(x[b[:50]], x[a], 1, exclude_self=False)
        np.testing.assert_array_equal(idx, a[ref_i[:, 0]])
