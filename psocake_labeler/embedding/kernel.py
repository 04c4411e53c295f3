"""The diffusion kernel on a k-NN graph: bandwidth, floor, Gaussian weights, links.

The Gaussian kernel ``exp(-d^2 / epsilon)`` is evaluated only on the symmetrised k-NN graph,
with one global bandwidth chosen by the Berry-Giannakis-Harlim rule (the epsilon where
``log sum K`` grows fastest with ``log epsilon``). Only where that global kernel would leave
an event nearly alone does a floor tied to its nearest-neighbour distance take over, and
pieces the graph falls into are joined by their shortest links (weight :data:`LINK_WEIGHT`).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..errors import InputError
from ..neighbors.pairs import Pieces, closest_pair, mutual_pair

# The weight of a link between two pieces of the k-NN graph: a bandwidth equal to the link's
# own length. Propagation recognises the links by it (labelling/solvers.py).
LINK_WEIGHT = float(np.exp(-1.0))

# Pieces whose rows x outside rows exceed this are linked by a mutual nearest pair rather
# than the exact closest pair: between interleaved clouds in many dimensions the exact search
# meets nearly every pair (10^6 events in three classes: ~2 x 10^11 pairs, minutes).
EXACT_LINK_PAIRS = 1 << 30

# Cap on the number of k-NN distances the bandwidth rule looks at (a strided sample).
_EPS_SAMPLE = 1 << 18
# Neighbour whose distance sets an event's bandwidth floor: the nearest one. A farther one
# (7th, as in self-tuning kernels) floored most events of real-looking runs, which turned
# the kernel into a variable-bandwidth one in the bulk too.
FLOOR_NEIGHBOUR = 1
# The floor is this fraction of that squared distance, so the nearest neighbour keeps a
# weight >= exp(-4) = 0.018. A floor of the full distance (weight e^-1) floored half the
# events of simulated runs and cost 2-9 points of propagation accuracy at 1-2% labelled.
_FLOOR_SCALE = 0.25
#: An event placed on a manifold later is near it while its nearest built-on event lies
#: within this quantile of the built-on events' own nearest-neighbour distances.
FAR_QUANTILE = 0.99
# Kernel weights below this are no edge (exp(-18.4): beyond 4.3 bandwidths).
_MIN_WEIGHT = 1e-8


def choose_epsilon(sq_dist: np.ndarray, method: str | float = "auto") -> float:
    """Global kernel bandwidth from k-NN squared distances.

    ``method`` is one of

    - ``"bgh"``: maximum slope of ``log sum exp(-d^2/eps)`` against ``log eps`` (Berry,
      Giannakis and Harlim), the sum running over the k-NN pairs and the self-weights;
    - ``"knn"``: half the 5th percentile of the squared distance to the k-th neighbour, the
      widest kernel the k-NN graph holds without truncating it in dense regions;
    - ``"auto"`` (default): the largest of the two and half the median squared k-NN
      distance. On large-k graphs BGH's choice is too narrow for the sample (noisy spectrum)
      and "knn" wins; on data with tight clusters (hits of very different spread) both are
      too narrow for the typical event, the graph falls apart into nearly disconnected
      pieces whose eigenvalues crowd at 1, and the median floor wins;
    - ``"median"``: median squared k-NN distance; or a positive number used as given.
    """
    if not isinstance(method, str):
        eps = float(method)
        if not eps > 0:
            raise InputError(f"epsilon must be positive, got {method}")
        return eps
    sq = np.asarray(sq_dist, dtype=np.float64)
    # The self-weights exp(0) = 1, one per event, keep log sum K finite at small eps.
    n_self = sq.shape[0] if sq.ndim == 2 else 0
    s = sq.ravel()
    s = s[np.isfinite(s) & (s > 0)]
    if s.size == 0:
        raise InputError("all k-NN distances are zero: the events have identical features")
    if s.size > _EPS_SAMPLE:
        stride = -(-s.size // _EPS_SAMPLE)
        s, n_self = s[::stride], n_self / stride
    if method == "median":
        return float(np.median(s))
    if method in ("knn", "auto"):
        if sq.ndim != 2:
            raise InputError("epsilon 'knn' needs the (N, k) array of k-NN distances")
        eps_knn = 0.5 * float(np.percentile(sq[:, -1], 5))
        if method == "knn" or not eps_knn > 0:
            return eps_knn if eps_knn > 0 else choose_epsilon(sq, "bgh")
        return max(eps_knn, choose_epsilon(sq, "bgh"), 0.5 * float(np.median(s)))
    if method != "bgh":
        raise InputError(f"unknown epsilon method {method!r}; use 'auto', 'bgh', 'knn', "
                         "'median' or a number")
    log_eps = np.linspace(np.log(s.min()) - 1.0, np.log(s.max()) + 1.0, 120)
    # One buffer for the 120 kernels: the same values as exp(-s / eps) made anew each time,
    # at half the CPU (no negation pass, no fresh pages per step).
    neg, kern = -s, np.empty_like(s)
    log_sum = np.empty(len(log_eps))
    for i, le in enumerate(log_eps):
        np.divide(neg, np.exp(le), out=kern)
        log_sum[i] = np.log(np.exp(kern, out=kern).sum() + n_self + 1e-300)
    slope = np.gradient(log_sum, log_eps)
    return float(np.exp(log_eps[int(np.argmax(slope))]))


def bandwidth_floor(dist: np.ndarray, k_floor: int = FLOOR_NEIGHBOUR) -> np.ndarray:
    """Per-event bandwidth floor: a quarter of the squared distance to the nearest neighbour.

    An edge ``i-j`` uses the bandwidth ``max(epsilon, floor_i, floor_j)``. In the bulk of
    the data the floor is below the global epsilon and changes nothing (so alpha=1 still
    removes the density there); an outlying event, whose neighbours all lie many epsilons
    away, instead keeps weight >= exp(-4) to its nearest neighbour (and
    ``exp(-4 d_j^2/d_1^2)`` to the others) rather than ``exp(-d^2/eps)`` ~ 1e-40, which made
    its degree vanish and its diffusion coordinates explode (1e13 on simulated runs).
    """
    d = np.asarray(dist, dtype=np.float64)
    c = min(int(k_floor), d.shape[1]) - 1
    return _FLOOR_SCALE * d[:, c] ** 2


def nearness(floor_new: np.ndarray, floor_built: np.ndarray) -> np.ndarray:
    """float32 ``(n,)`` in (0, 1]: how near events placed on a manifold (their bandwidth
    floors, :func:`bandwidth_floor` of their distances to the built-on events) lie to the
    events it was built on: 1 within the ``FAR_QUANTILE`` of the built-on events' own
    nearest-neighbour distances, else the square of that distance over theirs (a run unlike
    the one the manifold was made of: another jitter, photon level, ...; the square because
    a plain ratio left 3% of the sure answers wrong on a run with 10x fewer photons,
    docs/features.md)."""
    ref = float(np.quantile(floor_built, FAR_QUANTILE)) if len(floor_built) else 0.0
    if not ref > 0:
        return np.ones(len(floor_new), dtype=np.float32)
    # floors are squared distances: their ratio is the squared distance ratio
    far = np.maximum(np.asarray(floor_new, dtype=np.float64), 1e-300) / ref
    return np.minimum(1.0, 1.0 / far).astype(np.float32)


def kernel_graph(idx: np.ndarray, dist: np.ndarray, epsilon: float,
                 floor: Optional[np.ndarray] = None) -> sp.csr_matrix:
    """Symmetric sparse kernel ``exp(-d^2/eps_ij)`` on the union of k-NN edges, zero diagonal.

    Weights below ``_MIN_WEIGHT`` (1e-8) are left out.

    ``eps_ij = max(epsilon, floor_i, floor_j)`` (see :func:`bandwidth_floor`); ``floor=None``
    means the global ``epsilon`` everywhere.
    """
    n, k = idx.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = idx.ravel()
    keep = (cols != rows) & (cols >= 0)
    rows, cols = rows[keep], cols[keep]
    d2 = dist.ravel()[keep] ** 2
    eps = np.full(len(rows), float(epsilon))
    if floor is not None:
        # Symmetric in i and j, so both directions of an edge get the same weight.
        eps = np.maximum(eps, np.maximum(floor[rows], floor[cols]))
    w = np.exp(-d2 / eps)
    # A weight of 1e-136 links nothing in practice but would hide a disconnected piece
    # (eigenvalue 1 - 1e-136) from link_components: such edges are dropped.
    keep = w >= _MIN_WEIGHT
    graph = sp.csr_matrix((w[keep], (rows[keep], cols[keep])), shape=(n, n))
    # Both directions carry the same distance (to float64 rounding: the k-NN may compute
    # i-j and j-i in different tiles) and bandwidth, so maximum() adds the missing reverse
    # edges and makes the weights exactly symmetric.
    graph = graph.maximum(graph.T).tocsr()
    graph.sort_indices()
    return graph


def scale_symmetric(graph: sp.csr_matrix, scale: np.ndarray) -> sp.csr_matrix:
    """``diag(scale) G diag(scale)`` by element (no sparse product); symmetric stays exact:
    each entry is multiplied by ``scale_i * scale_j``, the same number both ways round."""
    g = graph.tocsr()
    rows = np.repeat(np.arange(g.shape[0]), np.diff(g.indptr))
    return sp.csr_matrix((g.data * (scale[rows] * scale[g.indices]), g.indices, g.indptr),
                         shape=g.shape)


def symmetric_conjugate(kern: sp.csr_matrix, deg: np.ndarray) -> sp.csr_matrix:
    """``D^-1/2 K D^-1/2`` (``deg`` the row sums of ``kern``), made exactly symmetric for
    the Lanczos solver, with sorted indices: the matrix whose eigenvectors give the
    diffusion map's (``psi = D^-1/2 v``)."""
    sym = scale_symmetric(kern, deg ** -0.5)
    sym = ((sym + sym.T) * 0.5).tocsr()
    sym.sort_indices()
    return sym


def link_components(graph: sp.csr_matrix, features: np.ndarray) -> tuple[sp.csr_matrix, int]:
    """Join the pieces of a disconnected kernel graph by their shortest edges (Boruvka).

    Each round, every piece but the largest is linked by the shortest feature-space edge
    from it to any event outside it, until one piece is left: the links form a minimum
    spanning tree over the pieces. A link gets weight exp(-1), i.e. a bandwidth equal to its
    own length, so that diffusion crosses between pieces at a finite rate.

    Why link rather than leave or embed pieces apart: disconnected, the eigenvalue 1 is
    repeated, the "trivial" eigenvector is an arbitrary mix of piece indicators, and the
    coordinates are neither defined nor comparable between pieces (nor is propagation able
    to reach a piece without a label). One link keeps a separate cluster (e.g. the non-hits
    of a run) separate, as the far end of a diffusion coordinate, without mixing it with
    the rest: linking every member of a piece to its nearest outside event was also tried
    and lost 1-9 points of label-propagation accuracy at 1-2% labelled (cross-class edges).

    Above :data:`EXACT_LINK_PAIRS` pairs a piece is linked by a mutual nearest pair instead
    (:func:`~psocake_labeler.neighbors.pairs.mutual_pair`: each end the other's nearest across
    the cut, reached from the best of 1024 starts), which costs a few queries rather than
    all pairs; on 10^5 events in three classes it found the closest pair itself.

    Returns ``(graph, n_pieces_before)``.
    """
    n_comp, lab = connected_components(graph, directed=False)
    before = n_comp
    # Each piece is clustered once, for all the rounds (the pieces only merge).
    pieces = Pieces(features, lab) if n_comp > 1 else None
    # A row of each original piece: its current piece is that row's (pieces only merge).
    first = np.unique(lab, return_index=True)[1] if n_comp > 1 else None
    while n_comp > 1:
        now = lab[first]
        sizes = np.bincount(lab, minlength=n_comp)
        rows, cols = [], []
        for c in np.argsort(-sizes, kind="stable")[1:]:
            inside, outside = np.flatnonzero(now == c), np.flatnonzero(now != c)
            pair = (closest_pair if sizes[c] * (len(lab) - sizes[c]) <= EXACT_LINK_PAIRS
                    else mutual_pair)
            i, j, _ = pair(pieces, inside, outside)
            rows.append(i)
            cols.append(j)
        link = sp.csr_matrix((np.full(len(rows), LINK_WEIGHT), (rows, cols)),
                             shape=graph.shape)
        # One pass over the graph: both directions of the links first.
        graph = graph.maximum(link.maximum(link.T)).tocsr()
        n_comp, lab = connected_components(graph, directed=False)
    graph.sort_indices()
    return graph, before


def nystrom_weights(idx: np.ndarray, dist: np.ndarray, epsilon: float, alpha: float,
                    q_old: np.ndarray, floor_old: Optional[np.ndarray] = None
                    ) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Kernel and transition rows of new points towards their old k nearest neighbours.

    Returns ``(kernel, transition, q_new)``: ``kernel`` (n_new, N_old) raw weights
    ``exp(-d^2/eps)``, ``transition`` its alpha-normalised, row-stochastic version (so that
    ``transition @ psi_old`` gives the new diffusion coordinates, as ``P psi = lambda psi``
    does for the old ones), and the new points' kernel sums. With ``floor_old`` (the
    manifold's per-event bandwidth floors) each edge uses the bandwidth
    ``max(epsilon, floor_new, floor_old)``, as when the manifold was built.
    """
    n_new, k = idx.shape
    eps = np.full(idx.shape, float(epsilon))
    if floor_old is not None:
        eps = np.maximum(eps, np.maximum(bandwidth_floor(dist)[:, None], floor_old[idx]))
    w = np.exp(-(dist ** 2) / eps)
    q_new = w.sum(axis=1)
    # Kernel sums as for the old events (no self-weight); a lone point keeps q = 1.
    q_new = np.where(q_new > 0, q_new, 1.0)
    wa = w / (q_new[:, None] ** alpha * q_old[idx] ** alpha)
    total = wa.sum(axis=1, keepdims=True)
    # A point too far from every old one: fall back to its nearest neighbour alone.
    lost = total.ravel() <= 0
    if lost.any():
        wa[lost] = 0.0
        wa[lost, 0] = 1.0
        total[lost] = 1.0
    rows = np.repeat(np.arange(n_new), k)
    shape = (n_new, len(q_old))
    kernel = sp.csr_matrix((w.ravel(), (rows, idx.ravel())), shape=shape)
    kernel.eliminate_zeros()
    trans = sp.csr_matrix(((wa / total).ravel(), (rows, idx.ravel())), shape=shape)
    return kernel, trans, q_new
