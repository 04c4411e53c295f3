"""Which events to label next.

* Cold start (no labels yet): cover the manifold's clusters. With coordinates, k-means on the
  diffusion coordinates (of a random sample of ``COLD_SAMPLE`` events beyond that many) and,
  per cluster, the event nearest its centre (largest clusters first); without,
  farthest-point sampling in graph hops from the densest event.
* Afterwards: uncertainty = 1 - margin between the two most probable classes of the
  propagation (events no label reaches have margin 0), made batch-diverse by non-maximum
  suppression on the graph: once an event is picked, its ``hops``-hop neighbourhood is not
  picked again in the same batch. Ties (equal uncertainty) go to denser events, which stand
  for more of the run than isolated outliers do.

Everything is O(N log N) or sparse; no dense N x N matrix.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from ..errors import InputError
from .columns import as_columns, column_sum, top_two_margin
from .explore import exploration_count, explore, sample_rows
from .state import check_graph, check_rows

#: Suppression radius (graph hops) around each pick within one batch.
HOPS = 2
#: Events ranked first (the rest only if their neighbourhoods block them all): a partial
#: sort instead of sorting 10^6 scores on every click.
HEAD_PER_PICK = 64
HEAD_MIN = 4096
#: Most candidates the cold start clusters (a random sample beyond, as explore.py does): at
#: 10^6 events k-means on all of them took 6.5 s of CPU beside the GUI thread, on a sample
#: of this many it takes a few hundredths. A cluster holding a share ``s`` of the events is
#: missed by the sample with probability ``(1 - s) ** COLD_SAMPLE``.
COLD_SAMPLE = 20_000


def _degree(graph: sp.csr_matrix) -> np.ndarray:
    return np.asarray(graph.sum(axis=1)).ravel()


def uncertainty(propagation: Any) -> np.ndarray:
    """Per-event uncertainty in [0, 1]: 1 - (p_best - p_second) of the calibrated
    probabilities, or 1 - confidence when the propagation has no probabilities."""
    prob = getattr(propagation, "probabilities", None)
    if prob is None:
        return 1.0 - np.asarray(propagation.confidence, dtype=np.float64)
    prob = np.asarray(prob)
    present = getattr(propagation, "labelled_classes", None)
    which = None
    if present is not None and 0 < np.count_nonzero(present) < prob.shape[1]:
        which = np.flatnonzero(present)
    if prob.shape[1] < 2 or (which is not None and which.size < 2):
        return np.zeros(prob.shape[0])
    cols = as_columns(prob, which=which)      # float32 class columns (columns.py)
    if which is not None:
        # Rank by the margin among the classes that have labels: a class nobody labelled
        # yet lowers every confidence alike, and ranking by it would stop the recommender
        # from exploring the borders between labelled classes, where new classes show up.
        cols /= np.maximum(column_sum(cols), np.float32(1e-30))
    return 1.0 - top_two_margin(cols).astype(np.float64)


def _neighbourhood(graph: sp.csr_matrix, row: int, hops: int) -> np.ndarray:
    """``row`` and the events within ``hops`` graph hops of it, ascending."""
    ring = np.array([row])
    seen = ring
    for _ in range(hops):
        if not ring.size:
            break       # an event without edges (isolated): nothing further to reach
        ring = np.unique(np.concatenate([graph.indices[graph.indptr[r]:graph.indptr[r + 1]]
                                         for r in ring]))
        seen = np.union1d(seen, ring)
    return seen


def diverse_top(graph: sp.csr_matrix, score: np.ndarray, candidates: np.ndarray, k: int,
                hops: int = HOPS) -> np.ndarray:
    """Greedy non-maximum suppression: highest ``score`` first, skipping events within
    ``hops`` graph hops of an earlier pick. When the neighbourhoods cover every candidate
    (small runs, dense graphs), the radius shrinks one hop at a time, down to plain order."""
    head = _head(score, candidates, max(HEAD_PER_PICK * k, HEAD_MIN))
    if head is not None:
        # The best few thousand, in the same order the full sort gives them: if k picks
        # come out of them at the full radius, they are the full sort's picks.
        picks = _first_pass(graph, head, k, hops)
        if len(picks) == k:
            return np.asarray(picks, dtype=np.int64)
    order = candidates[np.argsort(-score[candidates], kind="stable")]
    picks: list[int] = []
    taken = np.zeros(graph.shape[0], dtype=bool)
    for radius in range(hops, -1, -1):
        blocked = taken.copy()
        for r in picks:
            blocked[_neighbourhood(graph, r, radius)] = True
        for r in order:
            if blocked[r]:
                continue
            picks.append(int(r))
            taken[r] = True
            if len(picks) == k:
                return np.asarray(picks, dtype=np.int64)
            blocked[_neighbourhood(graph, int(r), radius)] = True
    return np.asarray(picks, dtype=np.int64)


def _head(score: np.ndarray, candidates: np.ndarray, m: int) -> np.ndarray | None:
    """Candidates scoring at least the ``m``-th best, highest first, ties in candidate order
    (the prefix of the full stable sort), or None when that is most of them anyway."""
    if len(candidates) <= 4 * m:
        return None
    s = score[candidates]
    cut = np.partition(s, len(s) - m)[len(s) - m]
    top = np.flatnonzero(s >= cut)
    return candidates[top[np.argsort(-s[top], kind="stable")]]


def _first_pass(graph: sp.csr_matrix, order: np.ndarray, k: int, radius: int) -> list[int]:
    """Greedy picks in ``order``, each blocking its ``radius``-hop neighbourhood."""
    picks: list[int] = []
    blocked = np.zeros(graph.shape[0], dtype=bool)
    for r in order:
        if blocked[r]:
            continue
        picks.append(int(r))
        if len(picks) == k:
            break
        blocked[_neighbourhood(graph, int(r), radius)] = True
    return picks


def _cold_coords(coords: np.ndarray, candidates: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    candidates = sample_rows(candidates, seed, COLD_SAMPLE)
    x = np.asarray(coords, dtype=np.float64)[candidates]
    # Mini-batch k-means beyond a few thousand events: the cold start is one call, but a
    # user still waits for it.
    km = (KMeans(k, n_init=3, random_state=seed) if x.shape[0] <= 5000
          else MiniBatchKMeans(k, n_init=3, random_state=seed, batch_size=2048))
    # Small batches: OpenMP threads only wait for each other, and on a busy machine (the GUI
    # thread, a propagation) their spinning made this 3 s instead of 0.15 s at 10^5 events.
    with threadpool_limits(1):
        lab = km.fit_predict(x)
    sizes = np.bincount(lab, minlength=k)
    picks: list[int] = []
    for c in np.argsort(-sizes, kind="stable"):
        members = np.flatnonzero(lab == c)
        if members.size == 0:
            continue
        d = np.sum((x[members] - km.cluster_centers_[c]) ** 2, axis=1)
        picks.append(int(candidates[members[np.argmin(d)]]))
    return np.asarray(picks, dtype=np.int64)


def _cold_graph(graph: sp.csr_matrix, candidates: np.ndarray, labelled: np.ndarray,
                k: int) -> np.ndarray:
    deg = _degree(graph)
    is_cand = np.zeros(graph.shape[0], dtype=bool)
    is_cand[candidates] = True
    if labelled.size:
        dist = dijkstra(graph, directed=False, indices=labelled, unweighted=True, min_only=True)
    else:
        dist = np.full(graph.shape[0], np.inf)
    picks: list[int] = []
    for _ in range(k):
        # Farthest in hops (unreached = infinitely far), denser first among equals.
        far = np.where(is_cand, dist, -1.0)
        best = np.flatnonzero(far == far.max())
        r = int(best[np.argmax(deg[best])])
        picks.append(r)
        is_cand[r] = False
        if not is_cand.any():
            break
        d = dijkstra(graph, directed=False, indices=r, unweighted=True)
        dist = np.minimum(dist, d)
    return np.asarray(picks, dtype=np.int64)


def _candidates(labelled_rows, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labelled rows sorted, (N,) mask of the unlabelled, the unlabelled rows), checked."""
    labelled = np.unique(np.asarray(labelled_rows, dtype=np.int64).ravel())
    check_rows(labelled, n)
    free = np.ones(n, dtype=bool)
    free[labelled] = False
    return labelled, free, np.flatnonzero(free)


def cold_start(coords: np.ndarray, labelled_rows, k: int = 10, seed: int = 0) -> np.ndarray:
    """:func:`recommend`'s cold start with coordinates, which needs no graph (the dock asks
    before a lazily read manifold has read its graph): ``k`` unlabelled rows covering the
    clusters of ``coords``, largest clusters first."""
    _, _, candidates = _candidates(labelled_rows, np.shape(coords)[0])
    k = min(int(k), candidates.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    picks = _cold_coords(coords, candidates, k, seed)
    if picks.size == k:
        return picks
    rest = np.setdiff1d(candidates, picks)
    return np.concatenate([picks, rest[:k - picks.size]])


def recommend(graph: sp.spmatrix, propagation: Any | None, labelled_rows, k: int = 10,
              coords: np.ndarray | None = None, hops: int = HOPS, seed: int = 0,
              features: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` unlabelled events most worth labelling next, most informative first.

    Parameters
    ----------
    graph : (N, N) sparse symmetric kernel (``Manifold.graph``).
    propagation : a :class:`~psocake_labeler.labelling.propagation.Propagation`, or ``None``
        before the first label (cold start).
    labelled_rows : rows already labelled; never returned.
    k : how many to return (fewer only if fewer unlabelled events exist).
    coords : (N, d) diffusion coordinates, used by the cold start when given.
    hops : graph radius of the in-batch diversity suppression.
    seed : k-means seed of the cold start.
    features : (N, d) the manifold's features: exploration measures its distances there
        (explore.py says why), else in ``coords``; without either it does not explore.

    Returns
    -------
    np.ndarray (k,) int64 row indices.
    """
    graph = check_graph(graph, "recommend")
    if k < 0:
        raise InputError(f"cannot recommend {k} events; ask for k >= 0")
    n = graph.shape[0]
    labelled, free, candidates = _candidates(labelled_rows, n)
    k = min(int(k), candidates.size)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if coords is not None and np.shape(coords)[0] != n:
        raise InputError(f"coords have {np.shape(coords)[0]} rows but the graph has {n}")

    cold = propagation is None or np.all(np.asarray(propagation.predicted) < 0)
    if cold:
        if coords is not None:
            return cold_start(coords, labelled, k, seed)
        return _cold_graph(graph, candidates, labelled, k)

    unc = uncertainty(propagation)
    if unc.shape[0] != n:
        raise InputError(f"propagation has {unc.shape[0]} rows but the graph has {n}; "
                         "propagate again after the manifold changed")
    info = getattr(propagation, "state", {}).get("info")
    # The propagation's graph facts hold the degrees already (a full pass at 10^6 events).
    deg = info.degree if info is not None and info.matches(graph) else _degree(graph)
    # Density breaks ties and mildly favours representative events over outliers.
    score = unc + 1e-3 * deg / (deg.max() if deg.max() > 0 else 1.0)
    if features is not None and np.shape(features)[0] != n:
        raise InputError(f"features have {np.shape(features)[0]} rows but the graph has {n}")
    space = features if features is not None else coords
    n_explore = exploration_count(k) if space is not None else 0
    picks = diverse_top(graph, score, candidates, k - n_explore, hops)
    if n_explore:
        # A share of the batch asks far from every label (see explore.py).
        free[picks] = False
        far = explore(space, np.concatenate([labelled, picks]), np.flatnonzero(free), deg,
                      n_explore)
        picks = np.concatenate([picks, far])
    return picks
