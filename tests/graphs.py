"""Small graph helpers shared by the propagation and recommender tests."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import kneighbors_graph


def knn_kernel(x: np.ndarray, k: int = 10) -> sp.csr_matrix:
    """Symmetric Gaussian k-NN kernel with zero diagonal, the form of Manifold.graph."""
    a = kneighbors_graph(x, k, mode="distance", include_self=False)
    a.data = np.exp(-(a.data / np.median(a.data)) ** 2)
    g = a.maximum(a.T).tocsr()
    g.setdiag(0)
    g.eliminate_zeros()
    return g
