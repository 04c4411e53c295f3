"""Short pairs across a cut: the links between the pieces of a k-NN graph.

Rows split into pieces (:class:`Pieces`) are clustered once per piece, and every query
asks for the nearest row among a union of pieces: the pieces of a graph are linked by
:func:`closest_pair` or :func:`mutual_pair` between one piece (or group of pieces) and
all the others, without clustering the rows outside each piece afresh for each of them.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .._parallel import SerialComm
from ..progress import ProgressCallback, report
from .blocks import Block, make_block, position_lookup, projection_basis
from .search import Neighbours, search

# Pieces clustered on their own (the largest); the other pieces' rows are clustered
# together, and only the part a query wants (for each small piece, the others).
OWN_PIECES = 8
#: References of subsets of the shared part kept at once: a pair's queries alternate
#: between the rows inside and outside one cut; each cut's subsets are new, and keeping
#: them all held (small pieces) x (shared rows) copies until the linking ends.
SHARED_KEPT = 2


def in_caller_order(block: Block, found: Neighbours) -> tuple[np.ndarray, np.ndarray]:
    """(indices, distances) of ``found``, from the block's cluster order to the caller's."""
    idx = np.empty_like(found.i)
    dist = np.empty_like(found.d)
    idx[block.order], dist[block.order] = found.i, np.sqrt(np.maximum(found.d, 0.0))
    return idx, dist


class Reference:
    """Reference rows clustered once for several queries."""

    def __init__(self, ref: np.ndarray) -> None:
        self.n = len(ref)
        self.mean = ref.mean(axis=0, dtype=np.float64)
        self.basis = projection_basis(ref, self.mean, SerialComm())
        self.cols = make_block(ref, np.arange(len(ref)), self.mean, self.basis)

    def query(self, q: np.ndarray, k: int, bound: Optional[float] = None,
              progress: Optional[ProgressCallback] = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest references of each row of ``q``; with ``bound``, only those within
        that squared distance (others: index -1), which prunes nearly everything else."""
        # Queries are not reference rows: their "global index" starts past the reference.
        rows = make_block(q, np.arange(self.n, self.n + len(q)), self.mean, self.basis)
        found = Neighbours(len(q), k)
        if bound is not None:
            found.d[:] = bound  # a neighbour "at the bound", replaced by anything nearer
            found.exact[:] = True
        done = [0]

        def on_rows(n_rows: int) -> None:
            done[0] += n_rows
            report(progress, "k-NN query", done[0], len(q))

        search(rows, self.cols, found, position_lookup(self.cols, self.n, 0), None,
               on_rows=on_rows)
        return in_caller_order(rows, found)


class Pieces:
    """Feature rows split into pieces, for nearest-row queries among a union of pieces.

    ``piece`` gives each row's piece (0..P-1). The :data:`OWN_PIECES` largest pieces are
    each clustered once, on first use; the rows of the others form one more part, of
    which a query clusters the rows it wants (the last :data:`SHARED_KEPT` such subsets
    kept, by the set of pieces wanted).
    """

    def __init__(self, feats: np.ndarray, piece: np.ndarray) -> None:
        self.feats = np.ascontiguousarray(feats, dtype=np.float32)
        self.piece = np.asarray(piece, dtype=np.int64)
        sizes = np.bincount(self.piece)
        own = np.argsort(-sizes, kind="stable")[:OWN_PIECES]
        self._part = np.full(len(sizes), len(own))
        self._part[own] = np.arange(len(own))
        row_part = self._part[self.piece]
        self._rows = [np.flatnonzero(row_part == p) for p in range(len(own) + 1)]
        self._refs: dict = {}      # own pieces', then shared subsets' in order of use

    def rows(self, pieces: Sequence[int]) -> np.ndarray:
        """Row indices of the union of ``pieces``, ascending."""
        return np.flatnonzero(np.isin(self.piece, np.asarray(pieces)))

    def _references(self, pieces: Sequence[int]) -> list[tuple[Reference, np.ndarray]]:
        """(reference, its rows) covering exactly the union of ``pieces``."""
        wanted = np.unique(np.asarray(pieces, dtype=np.int64))
        out = []
        for p in np.unique(self._part[wanted]):
            rows = self._rows[p]
            if p < len(self._rows) - 1:
                key = (int(p),)
            else:  # the shared part: only the rows of the wanted pieces in it
                key = (int(p),) + tuple(wanted[self._part[wanted] == p].tolist())
                rows = rows[np.isin(self.piece[rows], wanted)]
            if key not in self._refs:
                if len(key) > 1:
                    shared = [k for k in self._refs if len(k) > 1]
                    for old in shared[:max(0, len(shared) - SHARED_KEPT + 1)]:
                        del self._refs[old]
                self._refs[key] = (Reference(self.feats[rows]), rows)
            elif len(key) > 1:
                self._refs[key] = self._refs.pop(key)   # the most recently used last
            out.append(self._refs[key])
        return out

    def nearest(self, q: np.ndarray, pieces: Sequence[int], bound: Optional[float] = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest row (index, distance) of the union of ``pieces`` to each row of ``q``;
        ties go to the smaller index. With ``bound`` (a squared distance), rows with
        nothing nearer get index -1 and distance inf."""
        q = np.ascontiguousarray(q, dtype=np.float32)
        best_i = np.full(len(q), len(self.piece), dtype=np.int64)
        best_d = np.full(len(q), np.inf)
        for ref, rows in self._references(pieces):
            idx, dist = ref.query(q, 1, bound=bound)
            hit = idx[:, 0] >= 0
            i = np.where(hit, rows[np.maximum(idx[:, 0], 0)], len(self.piece))
            d = np.where(hit, dist[:, 0], np.inf)
            better = (d < best_d) | ((d == best_d) & (i < best_i))
            best_i[better], best_d[better] = i[better], d[better]
        best_i[best_i == len(self.piece)] = -1
        return best_i, best_d

    def distance(self, i: int, j: int) -> float:
        """Euclidean distance of rows ``i`` and ``j`` in float64."""
        return float(np.sqrt(np.sum((self.feats[i].astype(np.float64) - self.feats[j]) ** 2)))


def closest_pair(pieces: Pieces, inside: Sequence[int], outside: Sequence[int]
                 ) -> tuple[int, int, float]:
    """``(i, j, distance)`` of the closest pair of a row ``i`` of the pieces ``inside`` and
    a row ``j`` of the pieces ``outside``; ties to the smallest ``i``, then ``j``."""
    return _closest_from(pieces, pieces.rows(inside), outside)


def _closest_from(pieces: Pieces, a: np.ndarray, outside: Sequence[int]
                  ) -> tuple[int, int, float]:
    """:func:`closest_pair` of the rows ``a`` (ascending) and the pieces ``outside``.

    The nearest of a spread-out sample of ``a`` bounds the answer, and the exact search of
    all of ``a`` then skips every cluster farther than that bound: the cost is that of the
    rows near the outside ones, not of a full query.
    """
    sample = a[np.unique(np.linspace(0, len(a) - 1, min(len(a), 256)).astype(np.int64))]
    _, d = pieces.nearest(pieces.feats[sample], outside)
    # Strictly above the sample's best squared distance (the square of a rounded root).
    bound = float(d.min()) ** 2 * (1 + 1e-9) + 1e-300
    idx, dist = pieces.nearest(pieces.feats[a], outside, bound=bound)
    hit = np.flatnonzero(idx >= 0)
    best = int(hit[np.lexsort((hit, dist[hit]))[0]])
    return int(a[best]), int(idx[best]), float(dist[best])


def mutual_pair(pieces: Pieces, inside: Sequence[int], outside: Sequence[int],
                starts: int = 1024) -> tuple[int, int, float]:
    """``(i, j, distance)`` of a short pair of a row ``i`` of the pieces ``inside`` and a
    row ``j`` of the pieces ``outside``: each is the other's nearest row across the cut
    (exactly), reached from the best of ``starts`` spread inside rows.

    Whatever the data, it costs a query of ``starts`` rows and a few single rows, where the
    exact :func:`closest_pair` of two interleaved clouds in many dimensions meets nearly
    every pair (no ball is small next to their distance). Its distance is at most that of
    the best start's nearest pair; ties go to the smaller index, as in the exact search.
    """
    a, feats = pieces.rows(inside), pieces.feats
    sample = a[np.unique(np.linspace(0, len(a) - 1, min(len(a), starts)).astype(np.int64))]
    # The best start and its nearest row: the closest pair of the starts and the outside
    # (a quarter of them queried in full, the rest only within the best distance found).
    i, j, _ = _closest_from(pieces, sample, outside)
    while True:
        # Alternate nearest rows: the distance cannot grow, so this ends at a mutual pair.
        i_new = int(pieces.nearest(feats[j:j + 1], inside)[0][0])
        if i_new == i:
            break
        i = i_new
        j_new = int(pieces.nearest(feats[i:i + 1], outside)[0][0])
        if j_new == j:
            break
        j = j_new
    return i, j, pieces.distance(i, j)
