"""MPI k nearest neighbours and rank-failure handling.

Each rank owns the contiguous block of rows :func:`block_range` gives it, clusters them
(:mod:`psocake_labeler.neighbors.search`) and keeps the ``k`` nearest of its own rows among the
blocks of all ranks, which are all-gathered when they fit and otherwise travel round a
ring. The search is exact and its choice made on (float64 distance, global index), so the
result is the same for any number of ranks. No N x N matrix exists.

``comm=None`` means one process and no MPI import: the same code with a single rank.
"""
from __future__ import annotations

import pickle
from typing import Any, Callable, Optional

import numpy as np

from .._parallel import as_comm, block_range, threads_per_rank
from ..errors import InputError
from ..progress import ProgressCallback, report
from .blocks import (
    Block,
    concat_blocks,
    from_wire,
    make_block,
    position_lookup,
    projection_basis,
    to_wire,
)
from .pairs import Reference, in_caller_order
from .search import Neighbours, search

# Above this many bytes of features the ring is used instead of an all-gather.
GATHER_LIMIT = 512 << 20

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
    return in_caller_order(mine, found)


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
    return Reference(ref).query(q, k, progress=progress)
