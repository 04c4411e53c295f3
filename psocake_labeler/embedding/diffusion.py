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

import hashlib
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import ArpackNoConvergence

from .._parallel import as_comm, block_range, run_step
from ..errors import InputError
from ..neighbors.mpi import knn as exact_knn
from ..progress import ProgressCallback
from .eigensolve import diffusion_eigs
from .kernel import (
    FLOOR_NEIGHBOUR,
    bandwidth_floor,
    choose_epsilon,
    kernel_graph,
    link_components,
)
from .manifold import Manifold, array_event_table, as_run

# Times the bandwidth is widened (x4 each) when the eigensolver does not converge.
_MAX_WIDEN = 3

__all__ = ["build_manifold", "manifold_from_knn", "engine_fingerprint"]


def _local_rows(data: Any, comm: Any, progress: Optional[ProgressCallback],
                feature_options: dict) -> tuple[np.ndarray, Any, Any, Any]:
    """This rank's feature rows, the transform (or None), the run (or None) and the rows'
    brightness and reliability (``HIT_COLUMNS``, features/brightness.py; None for an
    array)."""
    if isinstance(data, np.ndarray) and data.ndim == 2:
        n = len(data)
        start, stop = block_range(n, comm.size, comm.rank)
        return np.ascontiguousarray(data[start:stop], dtype=np.float32), None, None, None
    if isinstance(data, np.ndarray):
        raise InputError(f"a feature array must be 2-D (events x features), got {data.shape}")
    from ..features import compute_features

    run = as_run(data)
    # The brightness comes from the blocks the features are read in: one read.
    local, transform, bright = compute_features(run, comm=comm, progress=progress,
                                                with_brightness=True, **feature_options)
    return np.asarray(local, dtype=np.float32), transform, run, bright


def build_manifold(runs_or_array: Any, n_components: int = 10, knn: int = 15,
                   alpha: float = 1.0, comm: Any = None,
                   progress: Optional[ProgressCallback] = None, epsilon: str | float = "auto",
                   solver: str = "eigsh", random_state: int = 0,
                   **feature_options: Any) -> Optional[Manifold]:
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
    random_state : seed of the eigensolver's start vector and of the feature transform's
        randomized PCA (recorded in ``params``).

    Returns
    -------
    Manifold on rank 0, None on the other ranks. :class:`DiffusionMap` is the same as a
    scikit-learn estimator.
    """
    comm = as_comm(comm)
    knn_k = int(knn)
    if not isinstance(runs_or_array, np.ndarray):
        # Opening checks the files without collectives: a bad file gives a clean error.
        runs_or_array = run_step(comm, "open runs", as_run, runs_or_array)
    # One seed for the whole computation: the randomized PCA's start too.
    feature_options = {"random_state": random_state, **feature_options}
    local, transform, run, bright = run_step(
        comm, "features", _local_rows, runs_or_array, comm, progress, feature_options,
        collective=comm.size > 1 and not isinstance(runs_or_array, np.ndarray))
    n_total = sum(comm.allgather(len(local)))
    run_step(comm, "check", _check_sizes, n_total, knn_k, int(n_components))
    idx, dist = run_step(comm, "k-NN", _knn_step, local, knn_k, comm, progress,
                         collective=True)
    parts = comm.gather((local, idx, dist, bright), root=0)
    events = None
    if comm.rank == 0:
        events = (run.event_table() if run is not None
                  else array_event_table(sum(len(p[0]) for p in parts)))
    result = run_step(comm, "eigensolve", _rank0_embed, comm.rank, parts, events, transform,
                      n_components, knn_k, alpha, epsilon, solver, progress, random_state)
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
    return exact_knn(local, k, comm=comm, progress=progress)


def _rank0_embed(rank: int, parts: Optional[Sequence], events: Optional[np.ndarray],
                 transform: Any, n_components: int, k: int, alpha: float,
                 epsilon: str | float, solver: str, progress: Optional[ProgressCallback],
                 random_state: int = 0) -> Optional[Manifold]:
    if rank != 0:
        return None
    feats = np.concatenate([p[0] for p in parts])
    idx = np.concatenate([p[1] for p in parts])
    dist = np.concatenate([p[2] for p in parts])
    m = manifold_from_knn(feats, idx, dist, events, transform, n_components=n_components,
                          knn=k, alpha=alpha, epsilon=epsilon, solver=solver,
                          progress=progress, random_state=random_state)
    if all(p[3] is not None for p in parts):
        from ..features.brightness import split_hit_columns

        m.brightness, m.reliability, m.profile = split_hit_columns(
            np.concatenate([p[3] for p in parts]))
    return m


def manifold_from_knn(features: np.ndarray, idx: np.ndarray, dist: np.ndarray,
                      events: np.ndarray, transform: Any = None, n_components: int = 10,
                      knn: int = 15, alpha: float = 1.0, epsilon: str | float = "auto",
                      solver: str = "eigsh", progress: Optional[ProgressCallback] = None,
                      random_state: int = 0) -> Manifold:
    """The in-memory half of :func:`build_manifold`, from the full k-NN lists."""
    eps = choose_epsilon(dist ** 2, epsilon)
    floor = bandwidth_floor(dist)
    widened = 0
    while True:
        graph, pieces = link_components(kernel_graph(idx, dist, eps, floor), features)
        try:
            vals, psi, q = diffusion_eigs(graph, n_components, alpha, solver=solver,
                                          progress=progress, random_state=random_state)
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
              "random_state": int(random_state),
              "n_events": int(len(idx)),
              "graph_components": int(connected_components(graph, directed=False)[0]),
              "knn_graph_components": int(pieces), "component_links": int(pieces) - 1,
              "floor_neighbour": FLOOR_NEIGHBOUR,
              "floored_events": int(np.count_nonzero(floor > eps)),
              "n_features": int(features.shape[1]),
              "feature_params": transform.get_params() if transform is not None else {}}
    if vals.min() <= 0:
        raise InputError("diffusion eigenvalues are not positive: the k-NN graph is too "
                         "sparse for so many components; raise --knn or lower --n-components")
    return Manifold(coords=psi * vals, eigenvalues=vals, events=events, graph=graph,
                    features=np.asarray(features, dtype=np.float32), transform=transform,
                    params=params, density=q, floor=floor)


def engine_fingerprint() -> str:
    """Short hash of the code that turns runs into a manifold (features, k-NN, diffusion).

    Caches of manifolds (the demo's, the benchmarks') carry it in their file names, so that a
    manifold made by older code is rebuilt rather than shown after an upgrade.
    """
    from .. import features, neighbors

    sources = sorted(Path(__file__).parent.glob("*.py"))
    sources += sorted(Path(neighbors.__file__).parent.glob("*.py"))
    sources += sorted(Path(features.__file__).parent.glob("*.py"))
    h = hashlib.sha256()
    for source in sources:
        h.update(source.read_bytes())
    return h.hexdigest()[:12]
