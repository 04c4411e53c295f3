"""A click's label spreading update solved near the click, checked on the whole graph.

After one new label (or a few), the right-hand side ``Y`` of ``(I - a S) F = Y`` changes
in a few rows only, and the change of the solution, ``d = (I - a S)^-1 dY``, is largest
near them. :func:`local_update` solves for ``d`` on a ball of graph hops around the changed
rows (``d = 0`` outside it), widening the ball while the residual it leaves on the ball's
boundary is too large, then adds ``d`` to the previous solution and ``A d`` to the kept
product ``A F``. The whole residual ``Y - A F`` is then measured over every row, and the
update is accepted only if it meets the same criterion as a full solve (each column's
residual at most ``tol`` times its right-hand side's norm) and resolves the change itself
to ``tol`` of its own size (what the warm-started full CG does). Otherwise the caller runs
the full CG from the updated state, so the answer always meets the full solve's criterion.
The cost is that of the ball, not of the graph: at 10^6 events a few milliseconds of
sparse work instead of tens of full products.
"""
from __future__ import annotations

import threading
from typing import Optional

import numpy as np
import scipy.sparse as sp

from .products import one_blas_thread

#: At most this many changed rows are updated locally (a lasso of thousands goes global).
MAX_ROWS = 64
#: First ball radius in hops, its growth per retry, and the largest ball (events). On the
#: 10^6-event manifold of bench_scale (k-NN graph of a 4-D latent) 10 hops met the leak
#: target for 12 of 12 single labels (balls of 12,000-51,000 events) and 8 hops for none;
#: 12 hops, the earlier first radius, made balls of 22,000-94,000.
FIRST_HOPS = 10
MORE_HOPS = 2
MAX_BALL = 200_000

# Per-thread (N,) work arrays, clean between calls: fresh arrays of 10^6 entries on every
# click cost page faults (~50 us each on the benchmark VM), reused ones do not.
_WORK = threading.local()


def _work(name: str, n: int, dtype, fill) -> np.ndarray:
    arr = getattr(_WORK, name, None)
    if arr is None or len(arr) != n:
        arr = np.full(n, fill, dtype=dtype)
        setattr(_WORK, name, arr)
    return arr


def changed_rows(y: np.ndarray, y0: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """Rows where the right-hand side changed, or None if it cannot be compared."""
    if y0 is None or y0.shape != y.shape:
        return None
    return np.flatnonzero((y != y0).any(axis=1))


def ball(graph: sp.csr_matrix, seeds: np.ndarray, hops: int) -> np.ndarray:
    """Sorted rows within ``hops`` graph hops of ``seeds``."""
    seen = _work("seen", graph.shape[0], bool, False)
    fresh = _work("fresh", graph.shape[0], bool, False)
    frontier = np.unique(seeds)
    seen[frontier] = True
    count = len(frontier)
    for _ in range(hops):
        nxt = neighbours(graph, frontier)
        fresh[nxt] = True
        fresh &= ~seen
        # A flag pass over all rows instead of np.unique's sort of every neighbour (up to
        # 10^6 entries per hop at 10^6 events).
        frontier = np.flatnonzero(fresh)
        if not len(frontier):
            break
        seen[frontier] = True
        fresh[frontier] = False   # clean again: every flag of ``fresh`` is off
        count += len(frontier)
        if count > MAX_BALL:
            break
    inside = np.flatnonzero(seen)
    seen[inside] = False
    return inside


def neighbours(graph: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """The column indices of ``rows`` of a CSR matrix, concatenated (with repeats)."""
    start, end = graph.indptr[rows], graph.indptr[rows + 1]
    length = end - start
    # Entry j of row i sits at start[i] + j: one gather, no sub-matrix with its values.
    shift = np.repeat(start - (np.cumsum(length) - length), length)
    return graph.indices[shift + np.arange(int(length.sum()))]


def _restrict(block: sp.csr_matrix, inside: np.ndarray) -> sp.csr_matrix:
    """The ball's rows ``block`` (all columns) restricted to the ball's columns."""
    pos = _work("pos", block.shape[1], np.int32, -1)
    pos[inside] = np.arange(len(inside), dtype=np.int32)
    col = pos[block.indices]
    pos[inside] = -1
    keep = col >= 0
    # Kept entries stay in their rows' order (pos grows with the column), so the CSR
    # arrays are read off directly, without a COO sort.
    kept = np.concatenate([[0], np.cumsum(keep)])
    return sp.csr_matrix((block.data[keep], col[keep], kept[block.indptr]),
                         shape=(len(inside), len(inside)))


def _cg(sub: sp.csr_matrix, alpha: float, b: np.ndarray, target: float,
        maxiter: int = 500) -> np.ndarray:
    """CG on ``(I - alpha sub) x = b`` (one column), from 0, to residual ``target``."""
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = float(r @ r)
    for _ in range(maxiter):
        if np.sqrt(rr) <= target:
            break
        ap = p - alpha * (sub @ p)
        step = rr / float(p @ ap)
        x += step * p
        r -= step * ap
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def local_update(s_mat: sp.csr_matrix, alpha: float, y: np.ndarray, x0: np.ndarray,
                 ax0: np.ndarray, y0: np.ndarray, tol: float,
                 candidates: Optional[np.ndarray] = None, in_place: bool = False,
                 cut: Optional[sp.csr_matrix] = None
                 ) -> Optional[tuple[np.ndarray, np.ndarray, bool]]:
    """``(F, A F, done)`` after a change of a few rows of ``Y``, or None.

    ``s_mat`` is the normalised graph ``S``; ``x0``, ``ax0`` and ``y0`` the previous
    solution, its product ``A x0`` and right-hand side. ``done``: the result meets the full
    solve's stopping criterion (see the module docstring); if not, the change itself is
    resolved and a full CG from ``(F, A F)`` with target ``tol |Y|`` finishes the job.
    None: too many rows changed, or the change reaches too far; solve in full.
    ``candidates``: every row where ``Y`` or ``y0`` is non-zero (the labelled rows, now and
    before), if known; then no pass over all of ``Y`` is needed. ``in_place``: ``x0`` and
    ``ax0`` are updated themselves, not copies (also when None is returned: each column is
    changed in both or in neither, so they stay a solution and its product, and a full CG
    from them, which measures its residual afresh, still meets its criterion). ``cut``: the
    entries of ``S`` the solve leaves out (links.CutLinks.matrix), or None.
    """
    if candidates is None or y0 is None or y0.shape != y.shape:
        rows = changed_rows(y, y0)
    else:
        candidates = np.asarray(candidates, dtype=np.int64)
        rows = candidates[(y[candidates] != y0[candidates]).any(axis=1)]
    if rows is None or ax0 is None or not 0 < len(rows) <= MAX_ROWS:
        return None
    # One BLAS thread: on a busy machine OpenBLAS's threaded dot product of a ball-sized
    # vector took 20 ms (threads waiting for a core) instead of 0.01 ms; a click is ~100 dots.
    with one_blas_thread():
        x, ax = _update(s_mat, alpha, y, x0, ax0, y0, tol, rows, in_place, cut)
        if x is None:
            return None
        residual = _residual_norms(y, ax, candidates)
    # |Y| per column from its non-zero rows when known: a dense read of a fresh (N, C) Y
    # cost 0.3 s of page faults on the first click (the click never needs all of Y).
    y_norm = np.linalg.norm(y if candidates is None else y[candidates], axis=0)
    return x, ax, bool(np.all(residual <= tol * y_norm))


def _update(s_mat: sp.csr_matrix, alpha: float, y: np.ndarray, x0: np.ndarray,
            ax0: np.ndarray, y0: np.ndarray, tol: float, rows: np.ndarray, in_place: bool,
            cut: Optional[sp.csr_matrix] = None
            ) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    delta_b = y[rows] - y0[rows]
    cols = np.flatnonzero(np.abs(delta_b).sum(axis=0) > 0)
    x, ax = (x0, ax0) if in_place else (x0.copy(), ax0.copy())
    for c in cols:
        change = float(np.linalg.norm(delta_b[:, c]))
        target = tol * change
        hops = FIRST_HOPS
        while True:
            inside = ball(s_mat, rows, hops)
            block = s_mat[inside] if cut is None else s_mat[inside] - cut[inside]
            b = np.zeros(len(inside))
            b[np.searchsorted(inside, rows)] = delta_b[:, c]
            d = _cg(_restrict(block, inside), alpha, b, 0.5 * target)
            # A d on every row: d lives on the ball, S d on the ball and its boundary.
            ad = -alpha * (block.T @ d)
            ad[inside] += d
            # The part of A d outside the ball, |A d|^2 - |A d on the ball|^2.
            leak = np.sqrt(max(float(ad @ ad) - float(ad[inside] @ ad[inside]), 0.0))
            if leak <= 0.5 * target or len(inside) >= MAX_BALL:
                break
            hops += MORE_HOPS
        if leak > 0.5 * target:
            return None, None
        x[inside, c] += d
        touched = np.flatnonzero(ad)
        ax[touched, c] += ad[touched]
    return x, ax


def _residual_norms(y: np.ndarray, ax: np.ndarray, nonzero: Optional[np.ndarray]
                    ) -> np.ndarray:
    """Per column ``|Y - A F|``; with the rows where ``Y`` is non-zero known, from
    ``|A F|^2 - 2 Y.A F + |Y|^2`` (one read of ``A F``, no (N, C) temporary; the
    cancellation costs ~1e-16 |Y|^2, far below the ``(1e-2 |Y|)^2`` compared against)."""
    if nonzero is None:
        return np.linalg.norm(y - ax, axis=0)
    yr, ar = y[nonzero], ax[nonzero]
    # |A F|^2 per column by a strided dot (BLAS): einsum over (N, C) took 8 ms at 10^6.
    sq = np.array([np.dot(ax[:, c], ax[:, c]) for c in range(ax.shape[1])]) \
        - 2.0 * np.einsum("ij,ij->j", yr, ar) + np.einsum("ij,ij->j", yr, yr)
    return np.sqrt(np.maximum(sq, 0.0))
