"""Exact k-NN candidates of rows the screening cannot prune: each tile of the symmetric
float32 distance matrix is computed once.

Data without low-dimensional structure (noise, a high intrinsic dimension) leave most
clusters after the ball test of :mod:`psocake_labeler.neighbors.search`. For those rows every
column must be seen, and one GEMM per tile ``(I, J)``, ``J >= I``, serves both the rows of
``I`` (their distances to ``J``) and the rows of ``J`` (the transpose): half the work of
all pairs. Each row keeps the columns whose float32 value is under its bound ``T + err``
(``T`` an upper bound of its k-th distance, ``err`` the float32 rounding bound); ``T``
tightens as tiles come in. Finally the surviving candidates (about k per row) get float64
values ``|a|^2 + |b|^2 - 2ab`` from one matrix-vector product per row, which the merge
then treats like any float64 GEMM value (near ties recomputed exactly): the choice stays
the brute-force one.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .blocks import Block

EPS32 = float(np.finfo(np.float32).eps)
# Rows (and columns) per tile: a tile's GEMM is efficient and its float32 values
# (1 MiB) stay in cache for the comparisons that follow.
TILE = 512
# A row tile's buffered candidates are pruned to its bound when they exceed this many per row
# (times max(k, 16)): 4 kept the hits of 20,000 x 1,000 unprunable rows at 6.5 M against
# 9.2 M with 8.
KEEP = 4


class _Tile:
    """Buffered candidates (local row, column position, float32 value) of one row tile."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.count = 0


def symmetric_candidates(block: Block, rows: np.ndarray, bound: np.ndarray, k: int,
                         threads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates of the block's rows ``rows`` (positions, sorted) among all its rows.

    ``bound`` (len(rows),) bounds each row's k-th squared distance from above (inf if
    unknown). Returns ``(row position, column position, float64 GEMM-form squared
    distance)``; among them are each row's k nearest.
    """
    n, d = block.raw.shape
    in_rows = np.zeros(n, dtype=bool)
    in_rows[rows] = True
    others = np.flatnonzero(~in_rows)
    # |float32 value - distance| <= err (centring, products and sums in float32)
    err = 8 * (d + 4) * EPS32 * (block.xsq[rows] + float(block.xsq.max(initial=0.0)))
    lim = _up32(np.where(np.isfinite(bound), bound + err, np.inf))
    # The squared norms ride in the GEMM: [-2a, 1, |a|^2] . [b, |b|^2, 1] = |a - b|^2.
    right = _augmented(block, rows)
    left = np.empty_like(right)
    np.multiply(right[:, :-2], np.float32(-2.0), out=left[:, :-2])
    left[:, -2], left[:, -1] = 1.0, right[:, -2]
    right_o = _augmented(block, others)
    cuts = np.unique(np.arange(0, len(rows) + TILE, TILE).clip(max=len(rows)))
    ocuts = np.unique(np.arange(0, len(others) + TILE, TILE).clip(max=len(others)))
    tiles = [_Tile(int(b - a)) for a, b in zip(cuts[:-1], cuts[1:])]
    lock = threading.Lock()

    def tile_pair(job: tuple[int, int, bool]) -> None:
        i, j, other = job
        si = slice(cuts[i], cuts[i + 1])
        sj = slice(ocuts[j], ocuts[j + 1]) if other else slice(cuts[j], cuts[j + 1])
        dist = left[si] @ (right_o if other else right)[sj].T
        if not other and i == j:
            np.fill_diagonal(dist, np.inf)  # a row is not its own neighbour
            if dist.shape[1] > k:
                # The rows' first bound from their own tile, before any hit is kept: with
                # no bound yet (inf), every pair of the tile was a hit (511 a row, at 2/5
                # of all hits of 20,000 x 1,000 unprunable rows).
                bound = _kth_bound(dist, err[si], k)
                with lock:
                    np.minimum(lim[si], bound, out=lim[si])
        r, c = _hits(dist <= lim[si, None])
        got = [(i, r, others[c + sj.start] if other else rows[c + sj.start], dist[r, c])]
        if not other and i != j:
            c, r = _hits(dist <= lim[None, sj])
            got.append((j, r, rows[c + si.start], dist[c, r]))
        with lock:
            for t, r, c, v in got:
                tiles[t].parts.append((r, c, v))
                tiles[t].count += len(r)
                if tiles[t].count > KEEP * max(k, 16) * tiles[t].n_rows:
                    _prune(tiles[t], lim[cuts[t]:cuts[t + 1]], err[cuts[t]:cuts[t + 1]], k)

    # Diagonal tiles first: every row then has a bound before the others arrive.
    jobs = [(i, i, False) for i in range(len(tiles))]
    jobs += [(i, j, False) for i in range(len(tiles)) for j in range(i + 1, len(tiles))]
    jobs += [(i, j, True) for i in range(len(tiles)) for j in range(len(ocuts) - 1)]
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(tile_pair, jobs))
        left = right = right_o = None  # freed before the float64 values
        out = []
        for t, tile in enumerate(tiles):
            _prune(tile, lim[cuts[t]:cuts[t + 1]], err[cuts[t]:cuts[t + 1]], k)
            r, c, _ = tile.parts[0] if tile.parts else (np.zeros(0, np.int64),) * 3
            out.append((rows[cuts[t] + r], c.astype(np.int64)))
        r = np.concatenate([o[0] for o in out])
        c = np.concatenate([o[1] for o in out])
        val = _float64_values(block, r, c, pool, threads)
    return r, c, val


def _hits(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D mask; through the flat indices, 2-6x faster on sparse masks."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _augmented(block: Block, pos: np.ndarray) -> np.ndarray:
    """Centred float32 rows, then the columns ``|x|^2`` and 1."""
    out = np.empty((len(pos), block.raw.shape[1] + 2), dtype=np.float32)
    x = out[:, :-2]
    np.subtract(block.raw[pos], block.mean.astype(np.float32), out=x)
    out[:, -2] = np.einsum("ij,ij->i", x, x)
    out[:, -1] = 1.0
    return out


def all_unprunable(ctx: Any, clusters: list[int], sample_size: int) -> bool:
    """Whether ``sample_size`` clusters of rows of the search context ``ctx`` (spread over
    ``clusters``) all fail the ball test; then every cluster is deferred to the symmetric
    pass, its k-th unknown (``ctx.deferred``)."""
    if len(clusters) < 4 * sample_size:
        return False
    sample = [clusters[i] for i in np.linspace(0, len(clusters) - 1, sample_size).astype(int)]
    with threadpool_limits(1):
        for a in sample:
            ctx.candidates(a)
    if len(ctx.deferred) < len(sample):
        ctx.deferred.clear()
        return False
    rows = ctx.rows
    ctx.deferred[:] = [(slice(int(rows.starts[a]), int(rows.starts[a + 1])),
                        np.full(int(rows.starts[a + 1] - rows.starts[a]), np.inf))
                       for a in clusters]
    return True


def _kth_bound(values: np.ndarray, err: np.ndarray, k: int) -> np.ndarray:
    """Each row's bound from ``k`` of its float32 distances ``values`` (its k-th smallest
    plus twice the row's float32 error ``err``, rounded up): no true neighbour lies beyond."""
    kth = np.partition(values, k - 1, axis=1)[:, k - 1].astype(np.float64)
    return _up32(kth + 2 * err)


def _up32(x: np.ndarray) -> np.ndarray:
    """float32 values no smaller than ``x`` (a bound must not shrink by rounding)."""
    y = np.asarray(x, dtype=np.float32)
    return np.where(y < x, np.nextafter(y, np.float32(np.inf)), y).astype(np.float32)


def _prune(tile: _Tile, lim: np.ndarray, err: np.ndarray, k: int) -> None:
    """Tighten the rows' bounds from their buffered candidates and drop those above them.

    The k-th smallest float32 value among a row's candidates (distinct columns) plus
    ``err`` bounds its k-th distance from above; a column can then be among the k nearest
    only if its float32 value is within ``err`` of that bound.
    """
    if not tile.parts:
        return
    r, c, v = (np.concatenate(q) for q in zip(*tile.parts))
    counts = np.bincount(r, minlength=tile.n_rows)
    full = counts >= k
    if full.any():
        order = np.argsort(r.astype(np.int16), kind="stable")  # radix sort: rows < TILE
        r, c, v = r[order], c[order], v[order]
        width = int(counts.max())
        slot = np.arange(len(r)) - np.repeat(np.cumsum(counts) - counts, counts)
        mat = np.full((tile.n_rows, width), np.inf, dtype=np.float32)
        mat[r, slot] = v
        lim[full] = np.minimum(lim[full], _kth_bound(mat[full], err[full], k))
    keep = v <= lim[r]
    tile.parts = [(r[keep], c[keep], v[keep])]
    tile.count = int(keep.sum())


def _float64_values(block: Block, r: np.ndarray, c: np.ndarray, pool: ThreadPoolExecutor,
                    threads: int) -> np.ndarray:
    """``|a|^2 + |b|^2 - 2ab`` in float64 of the centred rows, one matrix-vector product
    per row: the error of a float64 GEMM value, for about k columns per row. A pair met
    both ways round (``(i, j)`` and ``(j, i)``: 42% of the k-NN pairs of 20,000 x 1,000
    unprunable rows) is computed once, so both get the same value."""
    raw, mean, xsq = block.raw, block.mean, block.xsq
    if not len(r):
        return np.zeros(0)
    n = len(xsq)
    pairs, back = np.unique(np.minimum(r, c) * n + np.maximum(r, c), return_inverse=True)
    rows, cols = np.divmod(pairs, n)  # sorted by row
    starts = np.concatenate([[0], np.flatnonzero(np.diff(rows)) + 1, [len(rows)]])
    out = np.empty(len(pairs))

    def run(span: range) -> None:
        for g in span:
            lo, hi = starts[g], starts[g + 1]
            row, cs = rows[lo], cols[lo:hi]
            # Centred in float64 as gathered (the same values as from a float64 copy of the
            # block, which cost 160 MB and its first touch at 20,000 x 1,000).
            dots = np.subtract(raw[cs], mean, dtype=np.float64) @ (raw[row] - mean)
            out[lo:hi] = xsq[row] + xsq[cs] - 2.0 * dots

    # Spans of about equal pairs: the low rows hold more pairs (each pair sits at its lower row).
    cut = np.searchsorted(starts, np.linspace(0, len(rows), max(1, threads) + 1)[1:-1])
    bounds = np.concatenate([[0], cut, [len(starts) - 1]])
    list(pool.map(run, [range(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]))
    return out[back.ravel()]
