"""MPI k nearest neighbours and rank-failure handling.

Each rank owns the contiguous block of rows :func:`block_range` gives it, clusters them
(:mod:`psocake_labeler.knn_search`) and keeps the ``k`` nearest of its own rows among the
blocks of all ranks, which are all-gathered when they fit and otherwise travel round a
ring. The search is exact and its choice made on (float64 distance, global index), so the
result is the same for any number of ranks. No N x N matrix exists.

``comm=None`` means one process and no MPI import: the same code with a single rank.
"""
from __future__ import annotations

import os
import pickle
import sys
import time
import traceback
from typing import Any, Callable, Optional

import numpy as np

from .errors import DistributedError, InputError, LabelerError
from .knn_blocks import (Block, concat_blocks, from_wire, make_block, position_lookup,
                         projection_basis, to_wire)
from .knn_search import Neighbours, search
from .progress import ProgressCallback, report
from .threads import available_cores

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


def threads_per_rank(comm: Any) -> int:
    """Cores this process may use, shared among the MPI ranks on its node."""
    local = 1
    if comm.size > 1 and hasattr(comm, "Split_type"):
        from mpi4py import MPI

        node = comm.Split_type(MPI.COMM_TYPE_SHARED)
        local = node.size
        node.Free()
    return max(1, available_cores() // local)


def _check_finite(rows: np.ndarray, start: int) -> None:
    bad = ~np.isfinite(rows).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(f"{int(bad.sum())} feature row(s) contain NaN or infinite values "
                         f"(first: event {start + first}); mask or drop them before the k-NN")


def knn(local_feats: np.ndarray, k: int, comm: Any = None,
        progress: Optional[ProgressCallback] = None, ring: Optional[bool] = None,
        stats: Optional[dict] = None) -> tuple[np.ndarray, np.ndarray]:
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
        ``progress("k-NN", done, total)``, counted in rows x blocks searched.
    ring : bool, optional
        Force the ring (True) or the all-gather (False); default: all-gather when the
        features fit in :data:`GATHER_LIMIT` bytes.
    stats : dict, optional
        Filled with ``pairs`` (distances this rank computed in full) and ``all_pairs``
        (what a brute-force search of its rows would compute).

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
    my_start = starts[comm.rank]
    _check_finite(local, my_start)

    # Rank 0's centre and basis for all: every rank screens in the same space.
    mean = comm.bcast(comm.allreduce(local.sum(axis=0, dtype=np.float64)) / n, root=0)
    basis = projection_basis(local, mean, comm)
    mine = make_block(local, np.arange(my_start, my_start + len(local)), mean, basis)
    found = Neighbours(len(local), k)
    if ring is None:
        ring = n * d * 4 > GATHER_LIMIT
    total = len(local) * (comm.size if ring else 1)
    done = [0]

    def on_rows(rows: int) -> None:
        done[0] += rows
        report(progress, "k-NN", done[0], total)

    threads = threads_per_rank(comm)
    if comm.size == 1:
        search(mine, mine, found, position_lookup(mine, n, 0), 0, on_rows=on_rows,
               threads=threads)
    elif not ring:
        wires = comm.allgather(to_wire(mine))
        cols = concat_blocks([mine if r == comm.rank else from_wire(w, mean)
                              for r, w in enumerate(wires)])
        # Blocks side by side in rank order: mine starts at my first global row.
        search(mine, cols, found, position_lookup(cols, n, 0), my_start, on_rows=on_rows,
               threads=threads)
    else:
        _ring(comm, mine, mean, found, starts, sizes, on_rows, threads)
    if stats is not None:
        stats.update(pairs=found.pairs, all_pairs=len(local) * n)
    return _in_caller_order(mine, found)


def _ring(comm: Any, mine: Block, mean: np.ndarray, found: Neighbours, starts: list[int],
          sizes: list, on_rows: Callable[[int], None], threads: int) -> None:
    """Pass blocks round the ring, overlapping the next transfer with this step's work.

    Kept distances are made exact before a block moves on, since its rows are not seen
    again; the own block goes first, so that later blocks are screened against a k-th.
    """
    size, rank = comm.size, comm.rank
    right, left = (rank + 1) % size, (rank - 1) % size
    # One byte buffer per block: buffer sends need no receive size guessed in advance.
    payload = np.frombuffer(pickle.dumps(to_wire(mine), protocol=5), dtype=np.uint8)
    block = mine
    for step in range(size):
        owner = (rank - step) % size
        req = []
        if step < size - 1:
            length = comm.sendrecv(len(payload), dest=right, sendtag=step, source=left,
                                   recvtag=step)
            incoming = np.empty(length, dtype=np.uint8)
            req = [comm.Isend(payload, dest=right, tag=step),
                   comm.Irecv(incoming, source=left, tag=step)]
        search(mine, block, found, position_lookup(block, sizes[owner][0], starts[owner]),
               0 if owner == rank else None, make_exact=True, on_rows=on_rows,
               threads=threads)
        if req:
            req[0].Wait()
            req[1].Wait()
            payload = incoming
            block = from_wire(pickle.loads(memoryview(incoming)), mean)


def _in_caller_order(block: Block, found: Neighbours) -> tuple[np.ndarray, np.ndarray]:
    """(indices, distances) of ``found``, from the block's cluster order to the caller's."""
    idx = np.empty_like(found.i)
    dist = np.empty_like(found.d)
    idx[block.order], dist[block.order] = found.i, np.sqrt(np.maximum(found.d, 0.0))
    return idx, dist


def knn_query(queries: np.ndarray, reference: np.ndarray, k: int,
              progress: Optional[ProgressCallback] = None) -> tuple[np.ndarray, np.ndarray]:
    """k nearest rows of ``reference`` for each row of ``queries`` (in-process).

    The same exact search as :func:`knn`; used to place new events.
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
    _check_finite(q, 0)
    mean = ref.mean(axis=0, dtype=np.float64)
    basis = projection_basis(ref, mean, SerialComm())
    cols = make_block(ref, np.arange(len(ref)), mean, basis)
    # Queries are not reference rows: their "global index" starts past the reference.
    rows = make_block(q, np.arange(len(ref), len(ref) + len(q)), mean, basis)
    found = Neighbours(len(q), k)
    done = [0]

    def on_rows(n_rows: int) -> None:
        done[0] += n_rows
        report(progress, "k-NN query", done[0], len(q))

    search(rows, cols, found, position_lookup(cols, len(ref), 0), None, on_rows=on_rows)
    return _in_caller_order(rows, found)
