"""Events prepared for the pruned k-NN search (:mod:`psocake_labeler.neighbors.search`).

A :class:`Block` is a set of events split into compact clusters (k-means) in a screening
space ``z = [Q^T x, |x - Q Q^T x|]``, where ``Q`` holds a few leading directions of the data
(:func:`projection_basis`); each cluster has a ball (centre, radius) in that space. Blocks
travel between MPI ranks as :func:`to_wire` tuples.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from threadpoolctl import threadpool_limits

# Screening dimensions; data with at most 2x as many features are screened as they are.
PROJECTION_DIM = 64
# Rows per cluster: GEMMs big enough to be efficient, balls small enough to prune.
CLUSTER_SIZE = 96
# Rows per cluster of data screened in a projection (over 2 * PROJECTION_DIM features),
# where a pair's full distance costs as many products as features: a cluster of rows meets
# every column any of its rows keeps, and smaller clusters keep fewer (20,000 x 1,000, 3-D
# latent: 4.83% of the pairs in full with 96, 1.82% with 24; at 40 features 32 cost more).
WIDE_CLUSTER_SIZE = 24
_CHUNK = 4096
_LOCK = threading.Lock()
# Clusters of the first k-means level (the second splits each into clusters of the size).
_TOP = 128


@dataclass
class Block:
    """Events in cluster order, with what the search needs of them.

    ``raw`` float32 rows and ``order`` the caller's row of each of them; ``mean`` the centre
    subtracted before any GEMM; ``xsq`` squared norms of the centred rows; ``z``/``zsq``
    screening coordinates and their squared norms (``as_is``: ``z`` is the centred data
    itself); ``index`` global indices; ``starts`` cluster boundaries (a cluster's rows are
    contiguous, so its rows are read as one run of memory); ``centres``/``csq``/``radii``
    the clusters' balls in screening space.
    """

    raw: np.ndarray
    mean: np.ndarray
    order: np.ndarray
    xsq: np.ndarray
    z: np.ndarray
    zsq: np.ndarray
    as_is: bool
    index: np.ndarray
    starts: np.ndarray
    centres: np.ndarray
    csq: np.ndarray
    radii: np.ndarray
    _c32: Optional[tuple] = field(default=None, repr=False)

    @property
    def n_clusters(self) -> int:
        return len(self.starts) - 1

    def positions(self, clusters: np.ndarray) -> np.ndarray:
        """Row positions of the given clusters, concatenated."""
        lo, hi = self.starts[clusters], self.starts[clusters + 1]
        lengths = hi - lo
        if lengths.sum() == 0:
            return np.zeros(0, dtype=np.int64)
        offsets = np.repeat(lo - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return np.arange(int(lengths.sum()), dtype=np.int64) + offsets

    def centred32(self) -> tuple[np.ndarray, np.ndarray]:
        """All rows centred in float32 and their float32 squared norms (made once, for a
        brute-force pass over data the screening cannot prune)."""
        with _LOCK:
            if self._c32 is None:
                c32 = self.raw - self.mean.astype(np.float32)
                self._c32 = (c32, np.einsum("ij,ij->i", c32, c32))
        return self._c32

    def dense(self, pos: np.ndarray | slice) -> np.ndarray:
        """Centred float64 rows at these positions (made on demand: a full float64 copy of
        the features would cost memory and its first touch)."""
        if self.as_is:
            return self.z[pos]
        return np.subtract(self.raw[pos], self.mean, dtype=np.float64)


def screen_coordinates(x: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``[Q^T x, |x - Q Q^T x|]`` of centred float64 rows."""
    y = x @ basis
    resid = np.einsum("ij,ij->i", x, x) - np.einsum("ij,ij->i", y, y)
    return np.concatenate([y, np.sqrt(np.maximum(resid, 0.0))[:, None]], axis=1)


def make_block(raw: np.ndarray, index: np.ndarray, mean: np.ndarray,
               basis: Optional[np.ndarray], seed: int = 0) -> Block:
    """Cluster ``raw`` rows in screening space and return them as a :class:`Block`."""
    raw = np.ascontiguousarray(raw, dtype=np.float32)
    n, d = raw.shape
    xsq = np.empty(n)
    if basis is None:
        z = np.subtract(raw, mean, dtype=np.float64)
        xsq = np.einsum("ij,ij->i", z, z)
    else:
        z = np.empty((n, basis.shape[1] + 1))
        for s in range(0, n, _CHUNK):
            x = np.subtract(raw[s:s + _CHUNK], mean, dtype=np.float64)
            z[s:s + _CHUNK] = screen_coordinates(x, basis)
            xsq[s:s + _CHUNK] = np.einsum("ij,ij->i", x, x)
    labels = _cluster(z, seed, CLUSTER_SIZE if basis is None else WIDE_CLUSTER_SIZE)
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=1)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    z, xsq, labels = z[order], xsq[order], labels[order]
    return _finish(raw[order], mean, order, xsq, z, basis is None,
                   np.asarray(index, dtype=np.int64)[order], starts)


def _finish(raw: np.ndarray, mean: np.ndarray, order: np.ndarray, xsq: np.ndarray,
            z: np.ndarray, as_is: bool, index: np.ndarray, starts: np.ndarray) -> Block:
    """A :class:`Block` from cluster-ordered coordinates: the balls are computed here."""
    counts = np.diff(starts)
    labels = np.repeat(np.arange(len(counts)), counts)
    centres = (np.add.reduceat(z, starts[:-1], axis=0) if len(z)
               else np.zeros((len(counts), z.shape[1])))
    centres[counts == 0] = 0.0
    centres /= np.maximum(counts, 1)[:, None]
    # In chunks: a full-size temporary cost more in fresh pages than in arithmetic.
    sq = np.empty(len(z))
    for s in range(0, len(z), _CHUNK):
        gap = z[s:s + _CHUNK] - centres[labels[s:s + _CHUNK]]
        sq[s:s + _CHUNK] = np.einsum("ij,ij->i", gap, gap)
    radii = np.zeros(len(counts))
    # A cluster's rows are contiguous: a reduceat (ufunc.at took 2.5 s at 3 x 10^5 rows).
    full = np.flatnonzero(counts > 0)
    if len(full):
        radii[full] = np.maximum.reduceat(sq, starts[full])
    return Block(raw=raw, mean=mean, order=order, xsq=xsq, z=z,
                 zsq=xsq if as_is else np.einsum("ij,ij->i", z, z), as_is=as_is,
                 index=index, starts=starts, centres=centres,
                 csq=np.einsum("ij,ij->i", centres, centres), radii=np.sqrt(radii))


def _cluster(z: np.ndarray, seed: int, size: int) -> np.ndarray:
    """k-means labels with about ``size`` rows per cluster.

    Two levels, so that the cost stays near-linear in the number of rows: at most
    :data:`_TOP` clusters over all rows, then each of those split into clusters of about
    ``size``. Cluster quality only affects speed, never the result.
    """
    rng = np.random.default_rng(seed)
    # One BLAS thread: the GEMMs are small (see _orthonormal); set once, as a
    # threadpool_limits call costs ~3 ms.
    with threadpool_limits(1):
        top = _kmeans_labels(z, min(_TOP, max(1, len(z) // size)), rng)
        labels = np.zeros(len(z), dtype=np.int64)
        order = np.argsort(top, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(top))])
        next_label = 0
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            members = order[lo:hi]
            if not len(members):
                continue
            sub = _kmeans_labels(z[members], max(1, len(members) // size), rng)
            labels[members] = next_label + sub
            next_label += int(sub.max()) + 1
    return labels


def _kmeans_labels(z: np.ndarray, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Labels of ``n_clusters`` k-means clusters, fitted on a sample of 16 rows per cluster
    for 5 Lloyd rounds from sample rows; every row then goes to its nearest centre."""
    if n_clusters <= 1:
        return np.zeros(len(z), dtype=np.int64)
    sample = z[np.sort(rng.choice(len(z), min(len(z), 16 * n_clusters), replace=False))]
    centres = sample[rng.choice(len(sample), n_clusters, replace=False)]
    for _ in range(5):
        near = nearest_centre(sample, centres)
        # Per-cluster sums as one product with a 0/1 membership matrix (16 x 1 ms less
        # than building it sparse); an empty cluster keeps its centre.
        member = np.zeros((n_clusters, len(sample)))
        member[near, np.arange(len(sample))] = 1.0
        counts = member.sum(axis=1)
        full = counts > 0
        centres[full] = (member @ sample)[full] / counts[full, None]
    labels = nearest_centre(z, centres)
    # Labels without members are dropped, so that label numbers stay dense.
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def nearest_centre(z: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest row of ``centres`` for each row of ``z`` (ties: the first).

    By ``|c|^2 - 2 z.c`` from one GEMM per chunk of rows: scipy's ``vq`` loops over the
    pairs itself, 4x the CPU (2 x 10^5 rows, 128 centres: 0.60 s against 0.14 s). The
    rounding of the expansion may move a row whose two nearest centres are at nearly the
    same distance; a cluster's ball holds whatever rows it gets, so the search stays exact.
    """
    csq = np.einsum("ij,ij->i", centres, centres)
    labels = np.empty(len(z), dtype=np.int64)
    for s in range(0, len(z), _CHUNK):
        gram = z[s:s + _CHUNK] @ centres.T
        gram *= -2.0
        gram += csq
        labels[s:s + _CHUNK] = gram.argmin(axis=1)
    return labels


def projection_basis(local: np.ndarray, mean: np.ndarray, comm: object,
                     dim: int = PROJECTION_DIM) -> Optional[np.ndarray]:
    """Orthonormal (d, dim) basis of the leading directions of all ranks' rows, or None.

    A randomised range finder with one power iteration, summed over ranks; rank 0's result
    is broadcast so that every rank screens in the same space. None when the data have at
    most ``2 * dim`` features: they are then screened as they are.
    """
    d = local.shape[1]
    if d <= 2 * dim:
        return None
    mu = mean.astype(np.float32)
    q = np.random.default_rng(0).standard_normal((d, dim)).astype(np.float32)
    for _ in range(2):
        # (x - mu)^T (x - mu) q without a centred copy of x: two rank-one corrections.
        y = local @ q - mu @ q
        b = comm.allreduce(local.T @ y - np.outer(mu, y.sum(axis=0)))
        q = _orthonormal(np.asarray(b, dtype=np.float64)).astype(np.float32)
    return comm.bcast(_orthonormal(q.astype(np.float64)), root=0)


def _orthonormal(b: np.ndarray) -> np.ndarray:
    # One thread: a (d, 64) QR is milliseconds, but OpenBLAS's threads waiting for each
    # other on a busy machine made each call 0.4-0.8 s.
    with threadpool_limits(1):
        return np.linalg.qr(b)[0]


def nearest_clusters(centre: np.ndarray, sizes: np.ndarray, rows_wanted: int) -> np.ndarray:
    """The clusters nearest first by ``centre`` (squared distances to their centres), up to
    and including the one whose ``sizes`` bring their rows past ``rows_wanted`` (all
    clusters if they never do). Only the nearest few are sorted."""
    few = min(len(centre), 64)
    while True:
        near = (np.argpartition(centre, few - 1)[:few] if few < len(centre)
                else np.arange(len(centre)))
        near = near[np.argsort(centre[near], kind="stable")]
        enough = int(np.searchsorted(np.cumsum(sizes[near]), rows_wanted))
        if enough < few or few == len(centre):
            return near[:enough + 1]
        few = min(len(centre), 4 * few)


def to_wire(block: Block) -> tuple:
    """What another rank needs to rebuild ``block`` (screening data of a projection)."""
    return (block.raw, block.order, None if block.as_is else block.z, block.xsq,
            block.index, block.starts)


def from_wire(wire: tuple, mean: np.ndarray) -> Block:
    """The :class:`Block` sent by :func:`to_wire` (``mean``: the same centre as the sender's)."""
    raw, order, z, xsq, index, starts = wire
    as_is = z is None
    if as_is:
        z = np.subtract(raw, mean, dtype=np.float64)
    return _finish(raw, mean, order, xsq, z, as_is, index, starts)


def concat_blocks(blocks: list[Block]) -> Block:
    """One column block made of several (their clusters side by side)."""
    starts, order, offset = [blocks[0].starts], [], 0
    for b in blocks[1:]:
        starts.append(b.starts[1:] + starts[-1][-1])
    for b in blocks:
        order.append(b.order + offset)
        offset += len(b.raw)
    cat = np.concatenate
    as_is = blocks[0].as_is
    xsq = cat([b.xsq for b in blocks])
    return Block(raw=cat([b.raw for b in blocks]), mean=blocks[0].mean, order=cat(order),
                 xsq=xsq, z=cat([b.z for b in blocks]),
                 zsq=xsq if as_is else cat([b.zsq for b in blocks]), as_is=as_is,
                 index=cat([b.index for b in blocks]), starts=cat(starts),
                 centres=cat([b.centres for b in blocks]), csq=cat([b.csq for b in blocks]),
                 radii=cat([b.radii for b in blocks]))


def position_lookup(block: Block, n_index: int, offset: int = 0) -> Callable:
    """``f(global_index) -> row position`` for a block holding indices ``offset..``."""
    inv = np.full(n_index, -1, dtype=np.int64)
    inv[block.index - offset] = np.arange(len(block.index))
    return lambda g: inv[np.asarray(g) - offset]
