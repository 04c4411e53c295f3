"""Exact k nearest neighbours by pruning: a cheap lower bound screens pairs out.

All-pairs distances cost one ``N x N x d`` GEMM; but the ``k`` nearest of an event lie in
a small neighbourhood, so most pairs need never be computed. A block of events is split
into compact clusters (k-means) in a *screening space* ``z = [Q^T x, |x - Q Q^T x|]``
(``Q``: a few leading directions of the data, ``p`` of them). Distances in that space are a
lower bound of the true ones (Pythagoras: the part of ``x_i - x_j`` outside ``Q`` is at
least the difference of the two residual lengths), and so is the distance to a cluster's
ball less its radius. For each cluster of rows:

1. the clusters with the nearest centres give a first ``k`` neighbours and so an upper
   bound ``T_i`` of each row's k-th distance;
2. a cluster whose ball is farther than ``T_i`` from every row is skipped; in the others a
   ``p``-dimensional GEMM gives the lower bound for each pair, and only the columns under
   ``T_i`` for some row reach the full ``d``-dimensional float64 GEMM. When the balls keep
   most columns (data without low-dimensional structure), the rows meet all columns in
   one float32 GEMM instead, and the candidates within its error bound are recomputed.

Nothing is approximate: a pair is skipped only when its lower bound, less a rounding
margin, exceeds a distance already found. The GEMM distances ``|a|^2 + |b|^2 - 2ab`` in
float64 carry a rounding error that depends on the tile shape; every candidate whose
distance is within that error of a row's k-th is recomputed from the raw float32 rows as
``sum((b - a)^2)`` in float64 (the same bits for the same pair, wherever it is computed),
and the choice is made on (distance, global index). The neighbours found therefore do not
depend on how events are split into ranks, blocks or clusters.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numpy as np
from threadpoolctl import threadpool_limits

from .._parallel import available_cores
from .blocks import Block, nearest_clusters
from .dense import all_unprunable, symmetric_candidates

EPS = np.finfo(np.float64).eps
EPS32 = float(np.finfo(np.float32).eps)
# Round 1 takes the nearest clusters until it has this many times k columns: its k-th
# bounds what the screening keeps (20,000 x 1,000, 3-D latent: 1.82% of the pairs in full
# with 2, 1.66% with 3, 1.71% with 4; 10^5 x 40: 0.695% with 2 and 0.694% with 3).
FIRST = 3
# Above this fraction of the columns left by the balls, pairs are not screened one by one.
DENSE = 0.5
# Clusters of rows tried first: when none can be pruned, no other is tried.
SAMPLE = 4
# Threads searching clusters of rows side by side (None: the cores this process may use).
THREADS: Optional[int] = None


def exact_sq_dist(rows_raw: np.ndarray, cols_raw: np.ndarray) -> np.ndarray:
    """``sum((b - a)^2)`` in float64 for paired float32 rows (the reference distances)."""
    out = np.empty(len(rows_raw))
    step = max(1, (1 << 19) // max(1, rows_raw.shape[1]))
    for s in range(0, len(rows_raw), step):
        diff = np.subtract(cols_raw[s:s + step], rows_raw[s:s + step], dtype=np.float64)
        out[s:s + step] = np.einsum("ij,ij->i", diff, diff)
    return out


class Neighbours:
    """Running k nearest of a block's rows, in the block's cluster order.

    ``d`` squared distances (inf while unknown), ``i`` global indices (-1), ``exact`` whether
    ``d`` is the reference value or a GEMM value within rounding error of it, ``pairs`` the
    number of pairs whose full distance was computed.
    """

    def __init__(self, n: int, k: int) -> None:
        self.k = k
        self.pairs = 0  # pairs whose full distance was computed (the search's work)
        self.d = np.full((n, k), np.inf)
        self.i = np.full((n, k), -1, dtype=np.int64)
        self.exact = np.zeros((n, k), dtype=bool)


def search(rows: Block, cols: Block, found: Neighbours, col_position: Callable,
           self_offset: Optional[int], make_exact: bool = False,
           on_rows: Optional[Callable[[int], None]] = None,
           threads: Optional[int] = None) -> None:
    """Merge the neighbours of ``rows`` among ``cols`` into ``found``.

    Cluster by cluster of rows, the candidates that may be among the k nearest are found
    and merged into ``found``, by ``threads`` threads (default :data:`THREADS`, else the
    available cores) with one BLAS thread each: much of the work is numpy outside BLAS.
    ``col_position(global_index)`` gives a column's position in ``cols`` (for the exact
    recomputation of candidates); ``self_offset`` is where ``rows`` sit in ``cols`` (their
    own columns are skipped), None if they are not there. ``make_exact`` recomputes every
    kept GEMM distance exactly before returning, for a caller that will not see ``cols``
    again (the ring).
    """
    ctx = _Context(rows, cols, found, self_offset)
    clusters = [a for a in range(rows.n_clusters) if rows.starts[a + 1] > rows.starts[a]]
    tasks = [clusters[i:i + 8] for i in range(0, len(clusters), 8)]

    def run(task: list[int]) -> tuple[int, int]:
        # A task's clusters are consecutive rows, merged by the task alone.
        c0, c1 = int(rows.starts[task[0]]), int(rows.starts[task[-1] + 1])
        got = [ctx.candidates(a) for a in task]
        r, pos, val, exact = (np.concatenate(q) for q in zip(*[g[:4] for g in got]))
        _merge_rows(rows, cols, found, c0, c1, r - c0, pos, val, exact, col_position)
        return c1 - c0, sum(g[4] for g in got)

    threads = threads or THREADS or available_cores()
    if ctx.symmetric and all_unprunable(ctx, clusters, SAMPLE):
        tasks = []  # every row goes to the symmetric pass; no ball test is worth its cost
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=threads) as pool:
        for n_rows, pairs in pool.map(run, tasks):
            found.pairs += pairs
            if on_rows is not None:
                on_rows(n_rows)
    if ctx.deferred:
        _search_dense(ctx, col_position, threads)
        if on_rows is not None and not tasks:
            on_rows(len(rows.xsq))
    if make_exact:
        _make_exact(rows, cols, found, col_position)


def _search_dense(ctx: _Context, col_position: Callable, threads: int) -> None:
    """The rows of the clusters the balls could not prune, against all rows at once: each
    tile of their symmetric distance matrix is computed once (:mod:`neighbors.dense`)."""
    rows, found = ctx.rows, ctx.found
    ctx.deferred.sort(key=lambda q: q[0].start)
    pos = np.concatenate([np.arange(q[0].start, q[0].stop) for q in ctx.deferred])
    limit = np.concatenate([q[1] for q in ctx.deferred])
    bound = np.where(limit < np.finfo(np.float64).max, limit, np.inf)
    r, c, val = symmetric_candidates(rows, pos, bound, found.k, threads)
    found.pairs += len(pos) * len(rows.xsq)
    order = np.argsort(r, kind="stable")
    r, c, val = r[order], c[order], val[order]
    # Merged by runs of consecutive rows (what the merge takes), a few thousand at a time.
    breaks = np.flatnonzero(np.diff(pos) != 1) + 1
    for run in np.split(pos, breaks):
        for s in range(0, len(run), 4096):
            c0, c1 = int(run[s]), int(run[min(s + 4096, len(run)) - 1]) + 1
            lo, hi = np.searchsorted(r, [c0, c1])
            _merge_rows(rows, rows, found, c0, c1, r[lo:hi] - c0, c[lo:hi], val[lo:hi],
                        np.zeros(hi - lo, bool), col_position)


class _Context:
    """What the search of every cluster of rows shares."""

    def __init__(self, rows: Block, cols: Block, found: Neighbours,
                 self_offset: Optional[int]) -> None:
        self.rows, self.cols, self.found, self.self_offset = rows, cols, found, self_offset
        self.scale = _error_scale(rows, cols)
        self.xsq_cols_max = float(cols.xsq.max(initial=0.0))
        # A block searched against itself: its unprunable clusters wait for one symmetric
        # pass (rows, bound of their k-th) instead of each meeting all columns alone.
        self.symmetric = rows is cols and self_offset == 0
        self.deferred: list[tuple[slice, np.ndarray]] = []

    def candidates(self, a: int) -> tuple:
        """(row, column position, squared distance, whether exact) of the candidates of
        cluster a, and the number of pairs whose full distance was computed."""
        rows, cols, found = self.rows, self.cols, self.found
        k, d = found.k, rows.raw.shape[1]
        r0, r1 = int(rows.starts[a]), int(rows.starts[a + 1])
        sl = slice(r0, r1)
        done = np.zeros(cols.n_clusters, dtype=bool)
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        t = found.d[sl, k - 1]
        # Centre to centre: a row of this cluster is within its radius of the centre, so a
        # column cluster whose ball is farther than that from every row's limit is out
        # before any row meets its centre (the per-row test below costs rows x clusters).
        centre = _sq_dist(rows.centres[a:a + 1], rows.csq[a:a + 1], cols.centres,
                          cols.csq)[0]
        if not np.isfinite(t).all():
            # A first k from the clusters with the nearest centres bounds the k-th distance.
            near = nearest_clusters(centre, np.diff(cols.starts), FIRST * k + 1)
            done[near] = True
            pos = cols.positions(np.flatnonzero(done))
            parts.append((pos, _gemm(rows, cols, sl, pos, self.self_offset)))
            t = np.partition(np.concatenate([found.d[sl], parts[0][1]], axis=1), k - 1,
                             axis=1)[:, k - 1]
        # t bounds each row's k-th from above; the slack covers every rounding error of the
        # lower bounds below and of the GEMM distances compared with t.
        t = np.maximum(t, 0.0)  # GEMM values of duplicates can be a rounding below 0
        margin = 16 * EPS * ((d + 4) * (rows.xsq[sl] + self.xsq_cols_max) + 2 * t)
        slack = (4.0 * np.sqrt(t) * self.scale + 4.0 * self.scale ** 2 + margin
                 + 1e-12 * (t + rows.xsq[sl]))
        limit = np.where(np.isfinite(t), t + slack, np.finfo(np.float64).max)
        far = np.sqrt(np.maximum(centre, 0.0)) - float(rows.radii[a]) - cols.radii
        # The centres' GEMM values carry the rounding of a screening distance (scale).
        far = np.maximum(far - 2.0 * self.scale - 1e-9 * np.sqrt(np.abs(centre)), 0.0)
        cand = np.flatnonzero((far * far <= limit.max()) & ~done)
        # Lower bound of the distance from each row to each remaining cluster's ball.
        gap = _sq_dist(rows.z[sl], rows.zsq[sl], cols.centres[cand], cols.csq[cand])
        np.maximum(gap, 0.0, out=gap)
        np.sqrt(gap, out=gap)
        gap -= cols.radii[cand][None, :]
        np.maximum(gap, 0.0, out=gap)
        needed = cand[(gap * gap <= limit[:, None]).any(axis=0)]
        pos = cols.positions(needed)
        if len(pos) > DENSE * len(cols.xsq):
            # The balls keep most columns (data without low-dimensional structure): screening
            # pair by pair would keep most pairs too. Brute force in float32 instead.
            if self.symmetric:
                self.deferred.append((sl, limit))
                return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                        np.zeros(0, bool), 0)
            return self._dense(sl, parts, cols.positions(np.flatnonzero(done)), limit)
        if len(pos):
            bound = _sq_dist(rows.z[sl], rows.zsq[sl], cols.z[pos], cols.zsq[pos])
            under = bound <= limit[:, None]
            keep = np.flatnonzero(under.any(axis=0))
            pos, under = pos[keep], under[:, keep]
            if cols.as_is:  # screened as they are: the bound is the distance
                dist = bound[:, keep]
                _mask_self(dist, sl, pos, self.self_offset)
            else:
                dist = _gemm(rows, cols, sl, pos, self.self_offset)
            dist[~under] = np.inf
            parts.append((pos, dist))
        if not parts:
            return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                    np.zeros(0, bool), 0)
        pos = np.concatenate([q[0] for q in parts])
        dist = np.concatenate([q[1] for q in parts], axis=1)
        kth = self._upper_kth(sl, dist)
        r, c = np.nonzero(dist <= np.where(np.isfinite(kth), kth, limit)[:, None])
        return r + r0, pos[c], dist[r, c], np.zeros(len(r), bool), dist.size

    def _upper_kth(self, sl: slice, dist: np.ndarray) -> np.ndarray:
        """Each row's k-th among ``found`` and the float64 GEMM values ``dist``, plus their
        rounding margin: nothing above it can be among the k nearest."""
        k, d = self.found.k, self.rows.raw.shape[1]
        kth = np.partition(np.concatenate([self.found.d[sl], dist], axis=1), k - 1,
                           axis=1)[:, k - 1]
        return kth + 16 * EPS * ((d + 4) * (self.rows.xsq[sl] + self.xsq_cols_max)
                                 + 2 * np.abs(kth))

    def _dense(self, sl: slice, parts: list, skip: np.ndarray, limit: np.ndarray) -> tuple:
        """Candidates of rows ``sl`` among all columns by a float32 GEMM, for data the
        screening cannot prune: those within float32 error of the k-th are recomputed
        exactly. ``parts`` are float64 GEMM values already computed (columns ``skip``)."""
        rows, cols, k = self.rows, self.cols, self.found.k
        d = rows.raw.shape[1]
        a32, a_sq = rows.centred32()
        b32, b_sq = cols.centred32()
        dist = _sq_dist(a32[sl], a_sq[sl], b32, b_sq)
        everything = np.arange(len(b_sq))
        _mask_self(dist, sl, everything, self.self_offset)
        dist[:, skip] = np.inf  # already among the float64 values
        # |float32 value - distance| <= err (centring, products and sums in float32)
        err = (8 * (d + 4) * EPS32 * (rows.xsq[sl] + self.xsq_cols_max)).astype(np.float32)
        np.putmask(dist, dist > (limit + err)[:, None], np.inf)
        # Columns over every row's limit are out: the selections below skip them.
        where = np.flatnonzero(np.isfinite(dist).any(axis=0))
        dist = dist[:, where]
        kth = np.full(len(err), np.inf)
        if dist.shape[1] >= k:
            kth = np.partition(dist, k - 1, axis=1)[:, k - 1].astype(np.float64) + err
        pos = parts[0][0] if parts else np.zeros(0, np.int64)
        old = parts[0][1] if parts else np.zeros((sl.stop - sl.start, 0))
        kth = np.minimum(kth, self._upper_kth(sl, old))  # k-th of a part bounds the whole's
        r, c = np.nonzero(dist <= (kth + err)[:, None])
        c = where[c]
        exact = exact_sq_dist(rows.raw[sl][r], cols.raw[c])
        r64, c64 = np.nonzero(old <= kth[:, None])
        return (np.concatenate([r, r64]) + sl.start, np.concatenate([c, pos[c64]]),
                np.concatenate([exact, old[r64, c64]]),
                np.concatenate([np.ones(len(r), bool), np.zeros(len(r64), bool)]),
                len(err) * len(b_sq) + old.size)


def _error_scale(rows: Block, cols: Block) -> float:
    """Bound ``e`` of the rounding error of screening lengths (a pair is kept while its lower
    bound is under ``T + 4 sqrt(T) e + 4 e^2``).

    Two sources: the residual length ``sqrt(|x|^2 - |Q^T x|^2)`` is a difference of squares
    (error up to ``sqrt(c d eps |x|^2)``), and ``|a|^2 + |b|^2 - 2ab`` in screening space
    (error ``c p eps (|a|^2 + |b|^2)`` in the square). Both are bounded with the largest norms.
    """
    d, p = rows.raw.shape[1], rows.z.shape[1]
    xsq = max(float(rows.xsq.max(initial=0.0)), float(cols.xsq.max(initial=0.0)))
    zsq = max(float(rows.zsq.max(initial=0.0)), float(cols.zsq.max(initial=0.0)),
              float(cols.csq.max(initial=0.0)))
    resid = np.sqrt(4.0 * np.sqrt(p) * (d + 4) * EPS * xsq)
    return float(resid + np.sqrt(4.0 * (p + 4) * EPS * zsq))


def _sq_dist(a: np.ndarray, a_sq: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """``|a|^2 + |b|^2 - 2 a.b`` for all pairs, with one temporary."""
    out = (a * -2.0) @ b.T
    out += a_sq[:, None]
    out += b_sq[None, :]
    return out


def _gemm(rows: Block, cols: Block, sl: slice, pos: np.ndarray,
          self_offset: Optional[int]) -> np.ndarray:
    dist = _sq_dist(rows.dense(sl), rows.xsq[sl], cols.dense(pos), cols.xsq[pos])
    _mask_self(dist, sl, pos, self_offset)
    return dist


def _mask_self(dist: np.ndarray, sl: slice, pos: np.ndarray, self_offset: Optional[int]) -> None:
    """A row is not its own neighbour: row r sits at column position ``self_offset + r``."""
    if self_offset is None:
        return
    own = pos - (self_offset + sl.start)
    hit = np.flatnonzero((own >= 0) & (own < sl.stop - sl.start))
    dist[own[hit], hit] = np.inf


def _merge_rows(rows: Block, cols: Block, found: Neighbours, c0: int, c1: int,
                r: np.ndarray, pos: np.ndarray, val: np.ndarray, exact: np.ndarray,
                col_position: Callable) -> None:
    """Keep the k best of ``found[c0:c1]`` and the candidates (row - c0, column position,
    GEMM or, where ``exact``, reference value).

    A row whose k-th is within rounding error of another candidate has those GEMM values
    recomputed exactly (repeatedly, as the k-th may move), so that every in/out decision is
    one the reference values would make.
    """
    k = found.k
    d = rows.raw.shape[1]
    n_rows = c1 - c0
    by_row = np.argsort(r, kind="stable")
    r, pos, val, exact = r[by_row], pos[by_row], val[by_row], exact[by_row]
    counts = np.bincount(r, minlength=n_rows)
    width = k + int(counts.max(initial=0))
    slot = k + np.arange(len(r)) - np.repeat(np.cumsum(counts) - counts, counts)
    row_xsq = rows.xsq[c0:c1]
    vals = np.full((n_rows, width), np.inf)
    ids = np.full((n_rows, width), -1, dtype=np.int64)
    tol = np.zeros((n_rows, width))
    vals[:, :k], ids[:, :k] = found.d[c0:c1], found.i[c0:c1]
    vals[r, slot], ids[r, slot] = val, cols.index[pos]
    # Rounding margin of every GEMM value; kept entries that are not exact come from this
    # block too (earlier blocks' entries were made exact before the block left).
    tol[r, slot] = np.where(exact, 0.0,
                            8 * EPS * ((d + 4) * (row_xsq[r] + cols.xsq[pos]) + val))
    orow, oslot = np.nonzero(~found.exact[c0:c1] & (found.i[c0:c1] >= 0))
    tol[orow, oslot] = 8 * EPS * ((d + 4) * (
        row_xsq[orow] + cols.xsq[col_position(ids[orow, oslot])]) + vals[orow, oslot])
    every = np.arange(n_rows)
    while True:
        at = np.argpartition(vals, k - 1, axis=1)[:, k - 1]
        kth, kth_tol = vals[every, at], tol[every, at]
        with np.errstate(invalid="ignore"):  # inf - inf where a row has fewer than k
            close = np.abs(vals - kth[:, None]) <= tol + kth_tol[:, None]
        redo = close & (tol > 0) & (close.sum(axis=1) > 1)[:, None]
        # A value within rounding of 0 may be a duplicate event (exactly 0): recomputed, so
        # that duplicates are at 0 whichever product found them (the bandwidth rule skips 0s).
        redo |= (tol > 0) & (vals <= tol)
        if not redo.any():
            break
        ar, ac = np.nonzero(redo)
        vals[ar, ac] = exact_sq_dist(rows.raw[ar + c0], cols.raw[col_position(ids[ar, ac])])
        tol[ar, ac] = 0.0
    # Below the k-th: in; equal to it (exact ties): the smallest indices.
    rr, cc = np.nonzero(vals <= kth[:, None])
    found.d[c0:c1], found.i[c0:c1], found.exact[c0:c1] = _first_k(
        rr, vals[rr, cc], ids[rr, cc], tol[rr, cc] == 0, n_rows, k)


def _first_k(r: np.ndarray, vals: np.ndarray, ids: np.ndarray, exact: np.ndarray,
             n_rows: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row ``r``, the k entries first in (value, index) order, as (n_rows, k) arrays."""
    counts = np.bincount(r, minlength=n_rows)
    width = max(int(counts.max(initial=0)), k)
    slot = np.arange(len(r)) - np.repeat(np.cumsum(counts) - counts, counts)
    v = np.full((n_rows, width), np.inf)
    i = np.full((n_rows, width), np.iinfo(np.int64).max)
    x = np.zeros((n_rows, width), dtype=bool)
    v[r, slot], i[r, slot], x[r, slot] = vals, ids, exact
    order = np.argsort(v, axis=1)
    v, i, x = (np.take_along_axis(a, order, axis=1) for a in (v, i, x))
    # Equal values (duplicate events) must be ordered by index: re-sort those rows.
    m = min(k + 1, width)
    tied = np.flatnonzero(((v[:, 1:m] == v[:, :m - 1]) & np.isfinite(v[:, 1:m])).any(axis=1))
    if len(tied):
        sub = np.lexsort((i[tied], v[tied]))
        v[tied], i[tied], x[tied] = (np.take_along_axis(a[tied], sub, axis=1)
                                     for a in (v, i, x))
    i = np.where(np.isfinite(v), i, -1)
    return v[:, :k], i[:, :k], x[:, :k]


def _make_exact(rows: Block, cols: Block, found: Neighbours, col_position: Callable) -> None:
    todo = ~found.exact & (found.i >= 0)
    if todo.any():
        r, c = np.nonzero(todo)
        found.d[r, c] = exact_sq_dist(rows.raw[r], cols.raw[col_position(found.i[r, c])])
        found.exact[r, c] = True
        # Exact values may reorder entries that were within rounding of each other.
        r, c = np.nonzero(found.i >= 0)
        found.d[:], found.i[:], found.exact[:] = _first_k(
            r, found.d[r, c], found.i[r, c], found.exact[r, c], len(found.d), found.k)
