"""MPI plumbing every layer uses, and the threads BLAS does not provide.

``comm=None`` means one process and no MPI import: :class:`SerialComm` stands in, so every
layer runs the same code with a single rank. :func:`run_step` turns a failure on any rank
into one :class:`~psocake_labeler.errors.DistributedError` on every rank.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from .errors import DistributedError, LabelerError


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
        sys.stderr.flush()
        time.sleep(0.2)   # as abort_quietly: the launcher forwards the lines before the abort
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

def available_cores(limit: int = 4) -> int:
    """Cores this process may run on (at most ``limit``)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(limit, n))


def row_blocks(matrix: sp.csr_matrix, parts: int) -> list[tuple[int, int, sp.csr_matrix]]:
    """``parts`` contiguous, balanced row blocks of ``matrix``: ``(start, stop, rows)``."""
    edges = np.linspace(0, matrix.shape[0], parts + 1).astype(int)
    return [(a, b, matrix[a:b]) for a, b in zip(edges[:-1], edges[1:])]


def row_split_operator(matrix: sp.csr_matrix, pool: ThreadPoolExecutor,
                       parts: int) -> LinearOperator:
    """``matrix`` as an operator whose products run on ``parts`` row blocks at once.

    scipy's sparse product is single-threaded and releases the GIL; each row's result is
    computed exactly as in the plain product, so the values are the same bits.
    """
    blocks = row_blocks(matrix, parts)

    def matvec(v: np.ndarray) -> np.ndarray:
        v = np.ravel(v)
        return np.concatenate(list(pool.map(lambda blk: blk[2] @ v, blocks)))

    return LinearOperator(matrix.shape, matvec=matvec, rmatvec=matvec, dtype=matrix.dtype)
