"""Exploration for the recommender: ask where no label is near.

Uncertainty sampling only asks between classes that already have labels: a class nobody
has labelled sits far from every label, where propagation is sure of the wrong class, and
is never visited. A share of every batch therefore goes to events far from every labelled
event (greedy farthest-point sampling), weighted by density so that a cluster of similar
events is preferred to a lone outlier.

The distances are taken in the manifold's features where the recommender has them, else in
the diffusion coordinates. The diffusion coordinates stretch the sparse tails of the large
classes (water and non-hits reach 3-6 from every label there) and pull a rare class that
touches another on the graph close to it: on the rare-singles benchmark (5% singles, 1500
hits) the coordinates' search never reached a single in 75 labels on two runs of three
(Single recall 0.00), the features' found one by label 30 on all three (docs/propagation.md).

Beyond ``SAMPLE`` candidates the search runs on a random sample of that many (a new one
for every number of labels, reproducible): at 10^6 events the distances of every candidate
to every label took ~2 s per batch, the sample's take milliseconds. A region far from every
label that holds a share ``s`` of the events is missed by the sample with probability
``(1 - s) ** SAMPLE``: about 2e-9 for 0.1% of the events (1,000 of 10^6). Past 3,000
labels the sample shrinks (``PAIRS``): at 10^4 labels it is 6,000, and such a region is
missed by one batch with probability 2.5e-3 (the next batch draws another sample).
"""
from __future__ import annotations

import numpy as np

from .products import one_blas_thread

#: Share of each recommended batch spent on exploration (at least one pick from 3 on;
#: 3 of 10 cost 1-3 points at 5% labels on the hard benchmark cases, 1 of 10 none).
EXPLORE_SHARE = 0.1
#: Most candidates the farthest-point search looks at (a random sample beyond).
SAMPLE = 20_000
#: Most candidate-to-labelled distances it takes: with many labels the sample shrinks (to
#: ``MIN_SAMPLE`` at least), so that 10^4 labels cost what 3,000 do (0.15 s CPU at 10^6).
PAIRS = 60_000_000
MIN_SAMPLE = 2_000


def exploration_count(k: int) -> int:
    """How many of ``k`` picks explore."""
    return 0 if k < 3 else max(1, int(round(EXPLORE_SHARE * k)))


def sample_rows(candidates: np.ndarray, seed: int, limit: int = SAMPLE) -> np.ndarray:
    """``candidates`` itself up to ``limit`` rows, else a sorted random sample of ``limit``
    of them (``seed``: the same sample for the same state)."""
    if candidates.size <= limit:
        return candidates
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, limit, replace=False))


def explore(coords: np.ndarray, taken: np.ndarray, candidates: np.ndarray,
            density: np.ndarray, k: int) -> np.ndarray:
    """``k`` candidates far from every row in ``taken`` (and from each other), dense first;
    ``coords`` (N, d): the features or the diffusion coordinates (module docstring).

    Score = distance to the nearest taken row x sqrt(density / max density); after each
    pick the distances are updated with it. O(M (L + k)) for M candidates (at most
    ``SAMPLE``, see the module docstring) and L taken rows.
    """
    if k <= 0 or candidates.size == 0:
        return np.zeros(0, dtype=np.int64)
    limit = max(MIN_SAMPLE, min(SAMPLE, PAIRS // max(taken.size, 1)))
    candidates = sample_rows(candidates, taken.size, limit)
    # Only the rows used, in float64: the features of 10^6 events are 200 MB as float32.
    cand = np.asarray(coords[candidates], dtype=np.float64)
    # Small products (20,000 x 40 by a few hundred): a second BLAS thread only waits on a
    # busy machine (4 ms -> 40-300 ms of wall at load 5 at 10^6 events).
    with one_blas_thread():
        dist = nearest_distance(cand, np.asarray(coords[taken], dtype=np.float64))
    dens = np.asarray(density, dtype=np.float64)[candidates]
    weight = np.sqrt(dens / dens.max()) if dens.max() > 0 else np.ones_like(dens)
    picks: list[int] = []
    for _ in range(min(k, candidates.size)):
        score = np.where(np.isfinite(dist), dist, np.finfo(float).max) * weight
        i = int(np.argmax(score))
        picks.append(int(candidates[i]))
        dist = np.minimum(dist, np.sqrt(((cand - cand[i]) ** 2).sum(axis=1)))
        dist[i] = -1.0
    return np.asarray(picks, dtype=np.int64)


def nearest_distance(points: np.ndarray, others: np.ndarray, block: int = 4096
                     ) -> np.ndarray:
    """(M,) Euclidean distance of each of ``points`` to the nearest of ``others`` (inf when
    there are none), by blocks of ``|p|^2 - 2 p.o + |o|^2`` products: for a few thousand
    labels in 10 diffusion coordinates faster than a k-d tree's queries."""
    out = np.full(len(points), np.inf)
    if len(others) == 0:
        return out
    o_sq = np.einsum("ij,ij->i", others, others)
    minus_2o = -2.0 * others.T
    p_sq = np.einsum("ij,ij->i", points, points)
    step = max(1, block * 256 // max(len(others), 1))
    for a in range(0, len(points), step):
        d2 = points[a:a + step] @ minus_2o
        d2 += o_sq
        out[a:a + step] = d2.min(axis=1)    # |p|^2 is the same for every o: added after
    return np.sqrt(np.maximum(out + p_sq, 0.0))
