"""Sparse products of the propagation solvers, fast enough for a click at 10^6 events.

One conjugate-gradient iteration is one product of the (N, N) graph matrix with the
class columns still iterating; at 10^6 events and ~25 M non-zeros scipy's product takes
tens of milliseconds on one core. :class:`SplitProduct` keeps a float32 copy of the matrix
in row blocks and multiplies the blocks on all cores at once (scipy's product releases the
GIL): half the memory traffic, and every core. float32 values carry a relative error of
~1e-7, far below the solvers' stopping tolerance (1e-2 relative residual); the matrix stays
exactly symmetric (``S_ij`` and ``S_ji`` are the same float64, so the same float32).
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp

from .._parallel import available_cores

#: Below this many non-zeros the plain float64 product is used (threads would not pay).
SPLIT_NNZ = 2_000_000

_POOL: Optional[ThreadPoolExecutor] = None
_SIDE: Optional[ThreadPoolExecutor] = None
_CONTROLLER = None


def one_blas_thread() -> AbstractContextManager:
    """``threadpool_limits(1)`` for the click's small products, without its cost: it looks
    up every loaded library each time (1-20 ms a call on the busy machine, several calls a
    click); the controller is made once. Like ``threadpool_limits`` it restores, on leaving,
    the limits it found on entering, in the calling thread: a click that starts a
    :func:`side_job` holds it around both (OpenBLAS's limit is global, OpenMP's per thread;
    a limit left by another thread first would be put back wrong)."""
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None:
        import sklearn.linear_model  # noqa: F401  (its OpenMP runtime, known from the start)

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)


def side_job(fn: Callable, *args) -> Future:
    """``fn(*args)`` on a thread of its own (one at a time): work of a click that the graph
    solve does not wait for, run on the other core meanwhile."""
    global _SIDE
    if _SIDE is None:
        _SIDE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="propagation-side")
    return _SIDE.submit(fn, *args)


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=available_cores(),
                                   thread_name_prefix="propagation-product")
    return _POOL


class SplitProduct:
    """``matrix @ x`` for (N,) or (N, c) float64 ``x``, by float32 row blocks on all cores."""

    def __init__(self, matrix: sp.csr_matrix, parts: Optional[int] = None) -> None:
        self.shape = matrix.shape
        self.plain = matrix.nnz < SPLIT_NNZ
        if self.plain:
            self.blocks = [matrix]
            return
        parts = parts or available_cores()
        m32 = matrix.astype(np.float32)
        # Row blocks of equal non-zeros: each core gets the same work.
        edges = np.searchsorted(m32.indptr, np.linspace(0, m32.nnz, parts + 1)).clip(
            0, matrix.shape[0])
        edges[0], edges[-1] = 0, matrix.shape[0]
        self.edges = edges
        self.blocks = [m32[a:b] for a, b in zip(edges[:-1], edges[1:])]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.plain:
            return self.blocks[0] @ x
        x32 = np.asarray(x, dtype=np.float32)
        parts = list(_pool().map(lambda blk: blk @ x32, self.blocks))
        return np.concatenate(parts).astype(np.float64)
