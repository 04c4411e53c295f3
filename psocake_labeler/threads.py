"""Threads for the numpy and scipy work that BLAS does not spread over the cores."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator


def available_cores(limit: int = 4) -> int:
    """Cores this process may run on (at most ``limit``)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(limit, n))


def row_split_operator(matrix: sp.csr_matrix, pool: ThreadPoolExecutor,
                       parts: int) -> LinearOperator:
    """``matrix`` as an operator whose products run on ``parts`` row blocks at once.

    scipy's sparse product is single-threaded and releases the GIL; each row's result is
    computed exactly as in the plain product, so the values are the same bits.
    """
    n = matrix.shape[0]
    edges = np.linspace(0, n, parts + 1).astype(int)
    blocks = [matrix[a:b] for a, b in zip(edges[:-1], edges[1:])]

    def matvec(v: np.ndarray) -> np.ndarray:
        v = np.ravel(v)
        return np.concatenate(list(pool.map(lambda blk: blk @ v, blocks)))

    return LinearOperator(matrix.shape, matvec=matvec, rmatvec=matvec, dtype=matrix.dtype)
