"""The links between graph pieces that label spreading leaves out once both ends hold labels.

``kernel.link_components`` joins the pieces a k-NN graph falls into by one edge each (weight
``LINK_WEIGHT``), so that the diffusion map is defined and a piece nobody labelled is still
reached. A run's non-hits are such a piece: noise images, far from each other and from every
hit, with kernel degrees ~0.15 where hits have ~3, joined to their nearest hit (a Multiple on
all eight simulated runs we looked at) by a link of weight 0.37. In the normalised graph that
link is the strongest edge of the piece, and once its far end is labelled, spreading's
class-mass normalisation (a class with 2 labels has little total mass, so its scores are
scaled up) called all 147 unlabelled non-hits of the default benchmark run Multiple, with 3
non-hits among the 12 Water/Unknown labels (accuracy 0.896 at 20 labels on the graph;
docs/propagation.md, "Linked pieces").

So a spreading solve treats the pieces as Poisson learning does (``solvers.poisson_groups``):
every piece holding labels is its own group, a piece without labels joins a neighbouring group
through its link, and the links between two groups are cut (their entries of ``S`` are taken
out of the products). A piece without labels still gets its neighbours' answer, as before.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def spreading_cut(link_ends: np.ndarray | None, group: np.ndarray) -> np.ndarray | None:
    """(L', 2) event rows of the links to leave out: those joining two different ``group``
    values (``solvers.poisson_groups`` of the labelled rows); None when there are none."""
    if link_ends is None or not len(link_ends):
        return None
    across = group[link_ends[:, 0]] != group[link_ends[:, 1]]
    return link_ends[across] if across.any() else None


def same_cut(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Whether two :func:`spreading_cut` answers leave out the same links."""
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


class CutLinks:
    """The entries of the normalised graph ``S`` at the cut links (both directions), to take
    out of products with ``S``: O(links) per product, no copy of ``S``."""

    def __init__(self, s_mat: sp.csr_matrix, ends: np.ndarray) -> None:
        i, j = ends[:, 0], ends[:, 1]
        v = np.asarray(s_mat[i, j], dtype=np.float64).ravel()
        self.rows = np.concatenate([i, j])
        self.cols = np.concatenate([j, i])
        self.values = np.concatenate([v, v])
        #: The same entries as an (N, N) matrix, for the local update's ball (local.py).
        self.matrix = sp.csr_matrix((self.values, (self.rows, self.cols)), shape=s_mat.shape)

    def remove_from(self, product: np.ndarray, f: np.ndarray) -> np.ndarray:
        """``product`` (``S f``, float64, changed in place) without the cut entries' share."""
        v = self.values.reshape((-1,) + (1,) * (f.ndim - 1))
        np.subtract.at(product, self.rows, v * f[self.cols])
        return product
