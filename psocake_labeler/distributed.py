"""MPI k nearest neighbours and rank-failure handling.

Each rank owns the contiguous block of rows :func:`block_range` gives it. Feature blocks
travel round a ring (or are all-gathered when they fit), and every rank keeps the ``k``
nearest of its own rows with a running top-k. Distances come from one float32 GEMM per
tile (``|a|^2 + |b|^2 - 2 a.b``); the float32 winners of each tile, plus every column within
float32 rounding error of the k-th, are then recomputed exactly in float64 and the final
choice is made on (float64 distance, global index). The result is therefore the same for
any number of ranks. No N x N matrix exists.

``comm=None`` means one process and no MPI import: the same code with a single rank.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any, Callable, Optional

import numpy as np

from .errors import DistributedError, InputError, LabelerError
from .progress import ProgressCallback, report

# Tiles of the distance matrix hold at most this many float32 entries (64 MiB).
_TILE = 1 << 24
# Columns per tile, so that one tile of a huge block still fits.
_MAX_COLS = 1 << 16
# Above this many bytes of features the ring is used instead of an all-gather.
GATHER_LIMIT = 512 << 20


class SerialComm:
    """The subset of an mpi4py communicator we use, for one process without MPI."""

    rank = 0
    size = 1

    def Get_rank(self) -> int:  # noqa: N802 (mpi4py names)
        return 0

    def Get_size(self) -> int:  # noqa: N802
        return 1

    def allgather(self, obj: Any) -> list:
        return [obj]

    def gather(self, obj: Any, root: int = 0) -> list:
        return [obj]

    def bcast(self, obj: Any, root: int = 0) -> Any:
        return obj

    def allreduce(self, obj: Any, op: Any = None) -> Any:
        return obj

    def Barrier(self) -> None:  # noqa: N802
        pass

    def Abort(self, code: int = 1) -> None:  # noqa: N802
        sys.exit(code)


def as_comm(comm: Any = None) -> Any:
    """Return ``comm``, or a :class:`SerialComm` when it is None."""
    return SerialComm() if comm is None else comm


def block_range(n: int, size: int, rank: int) -> tuple[int, int]:
    """Contiguous balanced block ``[start, stop)`` of ``n`` rows owned by ``rank`` of ``size``.

    The first ``n % size`` ranks get one row more than the others.
    """
    base, extra = divmod(int(n), int(size))
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def gentle_barrier(comm: Any, max_sleep: float = 0.05) -> None:
    """Barrier that sleeps while it waits.

    MPI implementations busy-poll in blocking calls; a rank idling while rank 0 solves the
    eigenproblem would then take a core from rank 0's BLAS threads. A non-blocking barrier
    tested with growing sleeps leaves the core free.
    """
    if not hasattr(comm, "Ibarrier") or comm.size == 1:
        return
    req = comm.Ibarrier()
    pause = 1e-4
    while not req.Test():
        time.sleep(pause)
        pause = min(max_sleep, pause * 2)


def abort_quietly(comm: Any, line: str, code: int = 2, grace: float = 1.0) -> None:
    """End the whole MPI job with exit ``code`` after printing ``line``, and nothing else.

    For an expected error (bad input) inside a step whose healthy ranks may be blocked in a
    collective. No traceback, and MPI's own "application called MPI_Abort" banner goes to
    /dev/null. An input error usually strikes every rank at once: ranks other than 0 wait
    ``grace`` seconds first, so that rank 0's abort normally ends them before they print
    the same line again.
    """
    if comm.rank != 0:
        time.sleep(grace)
    sys.stdout.flush()
    sys.stderr.flush()
    # One write call: print() may write the text and its newline separately, and the abort
    # can kill the launcher's forwarding between the two. The pause lets it forward.
    os.write(2, (line + "\n").encode("utf-8", "replace"))
    time.sleep(0.2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.dup2(devnull, 1)
    except OSError:
        pass  # the banner then shows: harmless
    comm.Abort(code)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text.strip().replace("\n", " ")


def run_step(comm: Any, name: str, fn: Callable[..., Any], *args: Any,
             collective: bool = False, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` on every rank; if any rank raised, every rank raises.

    After the step the ranks all-gather an error string (empty when fine). If any is set,
    every rank raises :class:`DistributedError` naming the first failed rank, the step and
    the cause, so that the job stops everywhere with one message instead of hanging.

    A step that itself calls collectives (``collective=True``) cannot do that, since the
    healthy ranks may be blocked inside a collective the failed rank will never enter: there
    the failed rank prints the message and aborts the whole MPI job instead.
    """
    comm = as_comm(comm)
    if comm.size == 1:
        return fn(*args, **kwargs)  # one process: the original error, traceback and all
    try:
        result, err, cause = fn(*args, **kwargs), "", None
    except Exception as exc:  # noqa: BLE001 (any failure must reach the other ranks)
        result, err, cause = None, _describe(exc), exc
    if collective and err:
        msg = f"rank {comm.rank} of {comm.size} failed in step '{name}': {err}"
        if isinstance(cause, LabelerError):
            abort_quietly(comm, f"psocake-labeler: error: {msg}")
        print(f"psocake-labeler: error: {msg}", file=sys.stderr, flush=True)
        traceback.print_exception(cause, file=sys.stderr)
        comm.Abort(2)
    gentle_barrier(comm)
    errors = comm.allgather(err)
    failed = [(r, e) for r, e in enumerate(errors) if e]
    if failed:
        r, e = failed[0]
        msg = f"rank {r} of {comm.size} failed in step '{name}': {e}"
        if len(failed) == comm.size and len({f[1] for f in failed}) == 1:
            msg += f" (the same on all {comm.size} ranks)"
        elif len(failed) > 1:
            others = ", ".join(str(f[0]) for f in failed[1:])
            msg += f" (and {len(failed) - 1} more rank(s): {others})"
        raise DistributedError(msg) from cause
    return result


def _first_row(local: np.ndarray, comm: Any) -> np.ndarray:
    # Row 0 of the whole set, owned by rank 0: a centre that, unlike a mean summed over
    # ranks, is bit-identical whatever the number of ranks.
    return comm.bcast(local[0].copy() if comm.rank == 0 else None, root=0)


class _Workspace:
    """Tile buffers reused from tile to tile: fresh 64 MiB arrays cost page faults."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, int], dtype: Any) -> np.ndarray:
        n = shape[0] * shape[1]
        buf = self._bufs.get(name)
        if buf is None or buf.size < n:
            buf = self._bufs[name] = np.empty(n, dtype=dtype)
        return buf[:n].reshape(shape)


def _tile_update(best_d: np.ndarray, best_i: np.ndarray, a_aug: np.ndarray,
                 a_sq: np.ndarray, a_idx: np.ndarray, a32: np.ndarray, b_aug: np.ndarray,
                 b_sq: np.ndarray, b32: np.ndarray, b_start: int, k: int, m: int,
                 ws: _Workspace) -> tuple[np.ndarray, np.ndarray]:
    """Merge the neighbours found among columns ``b`` into the running top-k of rows ``a``.

    One float32 GEMM of ``[a, 1]`` with ``[-2b, |b|^2]`` gives ``|b|^2 - 2ab``, the squared
    distance less the row constant ``|a|^2``. Per row, every column within float32 error of
    the m-th smallest (and of the running k-th best) is a candidate, so ties such as
    duplicate events are all kept whatever the tile shape; candidates are recomputed exactly
    in float64 and the k best kept, ties broken by the smaller global index.
    """
    r, c = len(a_aug), len(b_aug)
    e = ws.get("e", (r, c), np.float32)
    np.matmul(a_aug, b_aug.T, out=e)
    # A row is never its own neighbour.
    own = a_idx - b_start
    inside = (own >= 0) & (own < c)
    e[np.nonzero(inside)[0], own[inside]] = np.inf
    tol = np.float32(5e-7 * np.sqrt(a32.shape[1]) + 1e-7)
    if m < c:
        rows, cols = _candidates(e, m, (best_d[:, k - 1] - a_sq).astype(np.float32),
                                 tol * a_sq, tol * b_sq, ws)
    else:
        rows, cols = np.nonzero(np.isfinite(e))
    # Float64 fix-up of the candidates, in cache-sized batches of pairs. The float32 rows
    # are gathered (half the memory traffic of float64 rows) and subtracted in float64:
    # float32 values are exact in float64, so the result is the same as with float64 rows.
    d64 = np.empty(len(rows), dtype=np.float64)
    step = max(1, (1 << 19) // max(1, a32.shape[1]))
    diff = np.empty((min(step, len(rows)), a32.shape[1]), dtype=np.float64)
    for s in range(0, len(rows), step):
        cs, rs = cols[s:s + step], rows[s:s + step]
        out = diff[:len(cs)]
        np.subtract(np.take(b32, cs, axis=0), np.take(a32, rs, axis=0), out=out,
                    dtype=np.float64)
        d64[s:s + step] = np.einsum("ij,ij->i", out, out)
    all_r = np.concatenate([np.repeat(np.arange(r), k), rows])
    all_d = np.concatenate([best_d.ravel(), d64])
    all_i = np.concatenate([best_i.ravel(), cols.astype(np.int64) + b_start])
    order = np.lexsort((all_i, all_d, all_r))
    first = np.searchsorted(all_r[order], np.arange(r))
    sel = order[first[:, None] + np.arange(k)[None, :]]
    return all_d[sel], all_i[sel]


def _candidates(e: np.ndarray, m: int, best: np.ndarray, slack_a: np.ndarray,
                slack_b: np.ndarray, ws: _Workspace) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every entry of ``e`` that may be among its row's top ``m``.

    The candidates are the entries ``<= K + slack_a[row] + slack_b[col]`` (float32 error
    slack), with ``K`` the smaller of the row's ``m``-th smallest entry and ``best`` (the
    running k-th best, beyond which nothing can enter). A full ``np.partition`` of every
    row would cost more than the GEMM; instead the ``m``-th smallest of a strided quarter of
    the columns, an upper bound of the row's ``m``-th, gives a coarse threshold that keeps
    about ``4 m`` entries per row, the exact ``K`` is selected among those, and the final
    candidates are a subset of them. The set is exactly the one a full partition gives.
    """
    r, c = e.shape
    stride = 4 if c >= 16 * m else 1
    sample = ws.get("p", (r, -(-c // stride)), np.float32)
    np.copyto(sample, e[:, ::stride])
    sample.partition(m - 1, axis=1)
    # Entries above `coarse` exceed the final threshold: K <= min(sample m-th, best).
    coarse = np.minimum(sample[:, m - 1], best) + slack_a + slack_b.max()
    mask = ws.get("m", (r, c), np.bool_)
    np.less_equal(e, coarse[:, None], out=mask)
    rows, cols = np.nonzero(mask)
    vals = e[rows, cols]
    # Exact m-th smallest of each row among the coarse candidates: if the row's m-th
    # entry passed the coarse test it is there; if not, best < it and best is K anyway.
    counts = np.bincount(rows, minlength=r)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    padded = np.full((r, max(int(counts.max()), m)), np.inf, dtype=np.float32)
    padded[rows, np.arange(len(rows)) - starts[rows]] = vals
    padded.partition(m - 1, axis=1)
    kth = np.minimum(padded[:, m - 1], best)
    keep = vals <= kth[rows] + slack_a[rows] + slack_b[cols]
    return rows[keep], cols[keep]


def _process_block(best: tuple[np.ndarray, np.ndarray], mine: np.ndarray, mine_sq: np.ndarray,
                   my_start: int, block: np.ndarray, b_start: int,
                   k: int, m: int, on_rows: Callable[[int], None],
                   ws: Optional[_Workspace] = None) -> tuple:
    """Update the running top-k of my rows with the columns of one block."""
    ws = ws or _Workspace()
    best_d, best_i = best
    b_sq = np.einsum("ij,ij->i", block, block)
    b_aug = np.empty((len(block), block.shape[1] + 1), dtype=np.float32)
    np.multiply(block, -2.0, out=b_aug[:, :-1])
    b_aug[:, -1] = b_sq
    a_aug = np.empty((len(mine), mine.shape[1] + 1), dtype=np.float32)
    a_aug[:, :-1] = mine
    a_aug[:, -1] = 1.0
    n_cols = len(block)
    for c0 in range(0, n_cols, _MAX_COLS):
        c1 = min(n_cols, c0 + _MAX_COLS)
        rows = max(1, _TILE // max(1, c1 - c0))
        for r0 in range(0, len(mine), rows):
            r1 = min(len(mine), r0 + rows)
            idx = np.arange(my_start + r0, my_start + r1)
            best_d[r0:r1], best_i[r0:r1] = _tile_update(
                best_d[r0:r1], best_i[r0:r1], a_aug[r0:r1], mine_sq[r0:r1], idx,
                mine[r0:r1], b_aug[c0:c1], b_sq[c0:c1], block[c0:c1], b_start + c0, k, m, ws)
            if c1 == n_cols:
                on_rows(r1 - r0)
    return best_d, best_i


def knn(local_feats: np.ndarray, k: int, comm: Any = None,
        progress: Optional[ProgressCallback] = None, ring: Optional[bool] = None,
        margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k nearest neighbours of this rank's rows among all rows of all ranks.

    Parameters
    ----------
    local_feats : (n_local, d) array
        This rank's rows, which must be rows ``block_range(N, size, rank)`` of the whole.
    k : int
        Neighbours per row (the row itself is excluded).
    comm : mpi4py communicator or None
        None runs in-process.
    progress : callable, optional
        ``progress("k-NN ring", done, total)``, counted in rows x ring steps.
    ring : bool, optional
        Force the ring (True) or the all-gather (False); default: all-gather when the
        features fit in :data:`GATHER_LIMIT` bytes.
    margin : int
        Extra float32 candidates per tile re-checked in float64. Not needed for exactness:
        every column within float32 error of the k-th is re-checked anyway.

    Returns
    -------
    idx : (n_local, k) int64
        Global row indices, nearest first, ties broken by smaller index.
    dist : (n_local, k) float64
        Euclidean distances.
    """
    comm = as_comm(comm)
    local = np.ascontiguousarray(local_feats, dtype=np.float32)
    if local.ndim != 2:
        raise InputError(f"k-NN needs a 2-D feature array, got shape {local.shape}")
    sizes = comm.allgather(local.shape)
    n = sum(s[0] for s in sizes)
    d = sizes[0][1]
    if any(s[1] != d for s in sizes):
        raise InputError(f"ranks disagree on the feature length: {sorted({s[1] for s in sizes})}")
    k = int(k)
    if not 1 <= k < n:
        raise InputError(f"knn={k} needs 1 <= knn < number of events ({n}); lower --knn")
    starts = [block_range(n, comm.size, r)[0] for r in range(comm.size)]
    if [s[0] for s in sizes] != [block_range(n, comm.size, r)[1] - starts[r]
                                 for r in range(comm.size)]:
        raise InputError("local feature blocks do not follow block_range(n, size, rank)")
    m = min(n, k + int(margin))

    # Centring removes the common offset that float32 |a|^2 + |b|^2 - 2ab would cancel badly.
    mine = local - _first_row(local, comm)
    mine_sq = np.einsum("ij,ij->i", mine, mine)
    my_start = starts[comm.rank]
    best = (np.full((len(mine), k), np.inf), np.full((len(mine), k), -1, dtype=np.int64))
    total = len(mine) * comm.size
    done = [0]

    def on_rows(rows: int) -> None:
        done[0] += rows
        report(progress, "k-NN ring", done[0], total)

    ws = _Workspace()
    if ring is None:
        ring = n * d * 4 > GATHER_LIMIT
    if comm.size == 1:
        best = _process_block(best, mine, mine_sq, 0, mine, 0, k, m, on_rows, ws)
    elif not ring:
        blocks = comm.allgather(mine)
        for owner, block in enumerate(blocks):
            best = _process_block(best, mine, mine_sq, my_start, block,
                                  starts[owner], k, m, on_rows, ws)
    else:
        best = _ring(comm, best, mine, mine_sq, starts, sizes, k, m, on_rows, ws)
    best_d, best_i = best
    return best_i, np.sqrt(np.maximum(best_d, 0.0))


def _ring(comm: Any, best: tuple, mine: np.ndarray, mine_sq: np.ndarray,
          starts: list[int], sizes: list, k: int, m: int,
          on_rows: Callable[[int], None], ws: _Workspace) -> tuple:
    """Pass blocks round the ring, overlapping the next transfer with this step's work."""
    size, rank = comm.size, comm.rank
    right, left = (rank + 1) % size, (rank - 1) % size
    d = mine.shape[1]
    block = mine
    for step in range(size):
        owner = (rank - step) % size
        req = []
        if step < size - 1:
            nxt_owner = (rank - step - 1) % size
            incoming = np.empty((sizes[nxt_owner][0], d), dtype=np.float32)
            req = [comm.Isend(block, dest=right, tag=step), comm.Irecv(incoming, source=left,
                                                                      tag=step)]
        best = _process_block(best, mine, mine_sq, starts[rank], block, starts[owner],
                              k, m, on_rows, ws)
        if req:
            req[0].Wait()
            req[1].Wait()
            block = incoming
    return best


def knn_query(queries: np.ndarray, reference: np.ndarray, k: int,
              progress: Optional[ProgressCallback] = None,
              margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k nearest rows of ``reference`` for each row of ``queries`` (in-process).

    Same float32 GEMM + float64 fix-up as :func:`knn`; used to place new events.
    Returns ``(idx, dist)`` of shape (n_queries, k): reference indices and distances.
    """
    ref = np.ascontiguousarray(reference, dtype=np.float32)
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim != 2 or ref.ndim != 2 or q.shape[1] != ref.shape[1]:
        raise InputError(f"new features of shape {q.shape} do not match the manifold's "
                         f"features {ref.shape}; use the manifold's own feature transform")
    k = int(k)
    if not 1 <= k <= len(ref):
        raise InputError(f"k={k} needs 1 <= k <= number of manifold events ({len(ref)})")
    m = min(len(ref), k + int(margin))
    mean = ref.astype(np.float64).mean(axis=0).astype(np.float32)
    ref = ref - mean
    q = q - mean
    best = (np.full((len(q), k), np.inf), np.full((len(q), k), -1, dtype=np.int64))
    done = [0]

    def on_rows(rows: int) -> None:
        done[0] += rows
        report(progress, "k-NN query", done[0], len(q))

    # Queries are not reference rows: start their "global index" past the reference so that
    # nothing is mistaken for the row itself.
    best = _process_block(best, q, np.einsum("ij,ij->i", q, q),
                          len(ref), ref, 0, k, m, on_rows)
    return best[1], np.sqrt(np.maximum(best[0], 0.0))
