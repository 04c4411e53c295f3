"""Diffusion maps on a k-NN graph: kernel, bandwidth, alpha normalisation, eigenvectors.

The Gaussian kernel ``exp(-d^2 / epsilon)`` is evaluated only on the symmetrised k-NN graph,
with one global bandwidth chosen by the Berry-Giannakis-Harlim rule (the epsilon where
``log sum K`` grows fastest with ``log epsilon``). A global bandwidth plus alpha=1
normalisation removes the sampling density, so the coordinates approximate the
Laplace-Beltrami eigenfunctions of the manifold; a per-point bandwidth would leave the density
in. Only where that global kernel would leave an event nearly alone does a floor tied to its
nearest-neighbour distance take over, and pieces the graph falls into are joined by their
shortest links, so that no event has a vanishing degree and huge coordinates. The
eigenproblem (:mod:`psocake_labeler.embedding.eigensolve`) is the symmetric conjugate
``D^-1/2 K D^-1/2`` solved with ``eigsh(which="LA")`` (or LOBPCG) from a fixed start vector:
sparse, no shift-invert, and the same answer whatever the number of MPI ranks that built
the graph.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import ArpackNoConvergence

from .._parallel import as_comm, block_range, run_step
from ..errors import InputError
from ..neighbors.mpi import knn, knn_query
from ..progress import ProgressCallback
from .eigensolve import diffusion_eigs
from .manifold import Manifold, array_event_table, as_run

__all__ = ["Manifold", "build_manifold", "choose_epsilon", "kernel_graph", "diffusion_eigs",
           "nystrom_weights", "bandwidth_floor", "link_components"]

# Cap on the number of k-NN distances the bandwidth rule looks at (a strided sample).
_EPS_SAMPLE = 1 << 18
# Times the bandwidth is widened (x4 each) when the eigensolver does not converge.
_MAX_WIDEN = 3
# Neighbour whose distance sets an event's bandwidth floor: the nearest one. A farther one
# (7th, as in self-tuning kernels) floored most events of real-looking runs, which turned
# the kernel into a variable-bandwidth one in the bulk too.
_FLOOR_NEIGHBOUR = 1
# The floor is this fraction of that squared distance, so the nearest neighbour keeps a
# weight >= exp(-4) = 0.018. A floor of the full distance (weight e^-1) floored half the
# events of simulated runs and cost 2-9 points of propagation accuracy at 1-2% labelled.
_FLOOR_SCALE = 0.25
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
    log_sum = np.array([np.log(np.exp(-s / np.exp(le)).sum() + n_self + 1e-300) for le in log_eps])
    slope = np.gradient(log_sum, log_eps)
    return float(np.exp(log_eps[int(np.argmax(slope))]))


def bandwidth_floor(dist: np.ndarray, k_floor: int = _FLOOR_NEIGHBOUR) -> np.ndarray:
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

    Returns ``(graph, n_pieces_before)``.
    """
    n_comp, lab = connected_components(graph, directed=False)
    before = n_comp
    feats = np.asarray(features, dtype=np.float32)
    while n_comp > 1:
        sizes = np.bincount(lab, minlength=n_comp)
        rows, cols = [], []
        for c in np.argsort(-sizes, kind="stable")[1:]:
            inside = np.flatnonzero(lab == c)
            outside = np.flatnonzero(lab != c)
            j, d = knn_query(feats[inside], feats[outside], 1)
            best = int(np.lexsort((inside, d[:, 0]))[0])
            rows.append(int(inside[best]))
            cols.append(int(outside[j[best, 0]]))
        link = sp.csr_matrix((np.full(len(rows), np.exp(-1.0)), (rows, cols)),
                             shape=graph.shape)
        graph = graph.maximum(link).maximum(link.T).tocsr()
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


def _local_rows(data: Any, comm: Any, progress: Optional[ProgressCallback],
                feature_options: dict) -> tuple[np.ndarray, Any, Any]:
    """This rank's feature rows, the transform (or None) and the run (or None)."""
    if isinstance(data, np.ndarray) and data.ndim == 2:
        n = len(data)
        start, stop = block_range(n, comm.size, comm.rank)
        return np.ascontiguousarray(data[start:stop], dtype=np.float32), None, None
    if isinstance(data, np.ndarray):
        raise InputError(f"a feature array must be 2-D (events x features), got {data.shape}")
    from ..features import compute_features

    run = as_run(data)
    local, transform = compute_features(run, comm=comm, progress=progress, **feature_options)
    return np.asarray(local, dtype=np.float32), transform, run


def build_manifold(runs_or_array: Any, n_components: int = 10, knn: int = 15,
                   alpha: float = 1.0, comm: Any = None,
                   progress: Optional[ProgressCallback] = None, epsilon: str | float = "auto",
                   solver: str = "eigsh", **feature_options: Any) -> Optional[Manifold]:
    """Build a diffusion-map :class:`Manifold` from runs or a 2-D feature array.

    Parameters
    ----------
    runs_or_array : Run, path, list of runs/paths, or (N, d) array
        Runs get features computed with :func:`psocake_labeler.features.compute_features`
        (``feature_options`` are passed on); an array is used as the features. Under MPI
        every rank passes the same array or runs.
    n_components, knn, alpha : diffusion coordinates kept, neighbours per event, alpha.
    comm : mpi4py communicator or None (in-process).
    epsilon : ``"auto"``, ``"bgh"``, ``"knn"``, ``"median"`` or a number: the kernel
        bandwidth (see :func:`choose_epsilon`).
    solver : ``"eigsh"`` or ``"lobpcg"``.

    Returns
    -------
    Manifold on rank 0, None on the other ranks.
    """
    comm = as_comm(comm)
    knn_k = int(knn)
    if not isinstance(runs_or_array, np.ndarray):
        # Opening checks the files without collectives: a bad file gives a clean error.
        runs_or_array = run_step(comm, "open runs", as_run, runs_or_array)
    local, transform, run = run_step(comm, "features", _local_rows, runs_or_array, comm,
                                     progress, feature_options, collective=comm.size > 1
                                     and not isinstance(runs_or_array, np.ndarray))
    n_total = sum(comm.allgather(len(local)))
    run_step(comm, "check", _check_sizes, n_total, knn_k, int(n_components))
    idx, dist = run_step(comm, "k-NN", _knn_step, local, knn_k, comm, progress,
                         collective=True)
    parts = comm.gather((local, idx, dist), root=0)
    events = None
    if comm.rank == 0:
        events = (run.event_table() if run is not None
                  else array_event_table(sum(len(p[0]) for p in parts)))
    result = run_step(comm, "eigensolve", _rank0_embed, comm.rank, parts, events, transform,
                      n_components, knn_k, alpha, epsilon, solver, progress)
    return result if comm.rank == 0 else None


def _check_sizes(n: int, k: int, m: int) -> None:
    # Checked on every rank alike before the collective k-NN, so a bad value is a clean
    # error everywhere rather than an abort.
    if not 1 <= k < n:
        raise InputError(f"knn={k} needs 1 <= knn < number of events ({n}); lower --knn")
    if not 1 <= m <= n - 2:
        raise InputError(f"n_components={m} needs 1 <= n_components <= events - 2 ({n - 2}); "
                         "lower --n-components")


def _knn_step(local: np.ndarray, k: int, comm: Any,
              progress: Optional[ProgressCallback]) -> tuple[np.ndarray, np.ndarray]:
    return knn(local, k, comm=comm, progress=progress)


def _rank0_embed(rank: int, parts: Optional[Sequence], events: Optional[np.ndarray],
                 transform: Any, n_components: int, k: int, alpha: float,
                 epsilon: str | float, solver: str,
                 progress: Optional[ProgressCallback]) -> Optional[Manifold]:
    if rank != 0:
        return None
    feats = np.concatenate([p[0] for p in parts])
    idx = np.concatenate([p[1] for p in parts])
    dist = np.concatenate([p[2] for p in parts])
    return manifold_from_knn(feats, idx, dist, events, transform, n_components=n_components,
                             knn=k, alpha=alpha, epsilon=epsilon, solver=solver,
                             progress=progress)


def manifold_from_knn(features: np.ndarray, idx: np.ndarray, dist: np.ndarray,
                      events: np.ndarray, transform: Any = None, n_components: int = 10,
                      knn: int = 15, alpha: float = 1.0, epsilon: str | float = "auto",
                      solver: str = "eigsh",
                      progress: Optional[ProgressCallback] = None) -> Manifold:
    """The in-memory half of :func:`build_manifold`, from the full k-NN lists."""
    eps = choose_epsilon(dist ** 2, epsilon)
    floor = bandwidth_floor(dist)
    widened = 0
    while True:
        graph, pieces = link_components(kernel_graph(idx, dist, eps, floor), features)
        try:
            vals, psi, q = diffusion_eigs(graph, n_components, alpha, solver=solver,
                                          progress=progress)
            break
        except ArpackNoConvergence:
            # Eigenvalues crowded at 1: the kernel is too narrow for the data (nearly
            # disconnected pieces). A wider kernel connects them; the choice is recorded.
            if widened == _MAX_WIDEN:
                raise InputError(f"the eigensolver did not converge even with epsilon={eps:.4g}"
                                 f"; give a larger --epsilon or a larger --knn") from None
            eps, widened = eps * 4.0, widened + 1
    params = {"n_components": int(n_components), "knn": int(knn), "alpha": float(alpha),
              "epsilon": eps, "epsilon_method": epsilon if isinstance(epsilon, str)
              else "given", "epsilon_widened": widened, "solver": solver,
              "n_events": int(len(idx)),
              "graph_components": int(connected_components(graph, directed=False)[0]),
              "knn_graph_components": int(pieces), "component_links": int(pieces) - 1,
              "floor_neighbour": _FLOOR_NEIGHBOUR,
              "floored_events": int(np.count_nonzero(floor > eps)),
              "n_features": int(features.shape[1]),
              "feature_params": dict(getattr(transform, "params", {}) or {})}
    if vals.min() <= 0:
        raise InputError("diffusion eigenvalues are not positive: the k-NN graph is too "
                         "sparse for so many components; raise --knn or lower --n-components")
    return Manifold(coords=psi * vals, eigenvalues=vals, events=events, graph=graph,
                    features=np.asarray(features, dtype=np.float32), transform=transform,
                    params=params, density=q, floor=floor)

