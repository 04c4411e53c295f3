"""``DiffusionMap``: the diffusion map as a scikit-learn estimator.

``build_manifold`` and ``Manifold.extend`` stay the convenient front (runs in, a Manifold
out); this class gives the same computation the estimator conventions of scikit-learn:
parameters stored as given and validated in :meth:`fit`, fitted attributes ending in ``_``,
``fit`` / ``transform`` / ``fit_transform`` on feature arrays or runs, ``random_state``.
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Optional

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..errors import InputError, check_fitted
from ..progress import ProgressCallback
from .diffusion import build_manifold
from .manifold import Manifold

SOLVERS = ("eigsh", "lobpcg")
EPSILON_RULES = ("auto", "bgh", "knn", "median")


class DiffusionMap(TransformerMixin, BaseEstimator):
    """Diffusion-map embedding on an exact k-NN graph (the Manifold's computation).

    Parameters
    ----------
    n_components : int, default 10
        Diffusion coordinates kept (the trivial one excluded).
    n_neighbors : int, default 15
        Neighbours per event in the k-NN graph.
    alpha : float, default 1.0
        Density normalisation (1: the Laplace-Beltrami operator, independent of sampling).
    epsilon : "auto", "bgh", "knn", "median" or float, default "auto"
        Kernel bandwidth or the rule that chooses it.
    solver : "eigsh" or "lobpcg", default "eigsh"
    random_state : int, default 0
        Seed of the eigensolver's start vector.

    Attributes
    ----------
    manifold_ : Manifold
        Everything the fit computed (graph, coordinates, features, events, params).
    embedding_ : ndarray (n_samples, n_components)
        Diffusion coordinates of the training events.
    eigenvalues_ : ndarray (n_components,)
    epsilon_ : float
        The bandwidth used.
    n_features_in_ : int
        Feature count, for array input.
    """

    def __init__(self, n_components: int = 10, n_neighbors: int = 15, alpha: float = 1.0,
                 epsilon: str | float = "auto", solver: str = "eigsh", random_state: int = 0):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.epsilon = epsilon
        self.solver = solver
        self.random_state = random_state

    def _validate(self) -> None:
        for name in ("n_components", "n_neighbors", "random_state"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or (
                    value < (0 if name == "random_state" else 1)):
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.alpha, Real) or not 0.0 <= float(self.alpha) <= 1.0:
            raise InputError(f"alpha must be a number in [0, 1], got {self.alpha!r}")
        if self.solver not in SOLVERS:
            raise InputError(f"solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")
        if isinstance(self.epsilon, str):
            if self.epsilon not in EPSILON_RULES:
                raise InputError(f"epsilon must be a number or one of "
                                 f"{', '.join(EPSILON_RULES)}, got {self.epsilon!r}")
        elif not isinstance(self.epsilon, Real) or not float(self.epsilon) > 0:
            raise InputError(f"epsilon must be positive, got {self.epsilon!r}")

    def fit(self, X: Any, y: None = None, comm: Any = None,
            progress: Optional[ProgressCallback] = None, **feature_options: Any
            ) -> DiffusionMap:
        """Build the manifold of ``X`` (an (N, d) feature array, a run, a path or a list)."""
        self._validate()
        manifold = build_manifold(X, n_components=self.n_components, knn=self.n_neighbors,
                                  alpha=float(self.alpha), comm=comm, progress=progress,
                                  epsilon=self.epsilon, solver=self.solver,
                                  random_state=self.random_state, **feature_options)
        if manifold is not None:   # rank 0 of an MPI job, or in-process
            self._set_fitted(manifold)
        return self

    def _set_fitted(self, manifold: Manifold) -> None:
        self.manifold_ = manifold
        self.embedding_ = manifold.coords
        self.eigenvalues_ = manifold.eigenvalues
        self.epsilon_ = float(manifold.params["epsilon"])
        self.n_features_in_ = int(manifold.features.shape[1])

    def transform(self, X: Any) -> np.ndarray:
        """Coordinates of new events by Nystrom extension (the manifold is not changed)."""
        check_fitted(self, "manifold_")
        n_old = len(self.manifold_)
        return self.manifold_.extend(X).coords[n_old:]

    def fit_transform(self, X: Any, y: None = None, **fit_params: Any) -> np.ndarray:
        """Fit, then return the training events' coordinates (no extension needed)."""
        return self.fit(X, y, **fit_params).embedding_

    @classmethod
    def from_manifold(cls, manifold: Manifold) -> DiffusionMap:
        """A fitted estimator around an existing manifold (e.g. ``Manifold.load``)."""
        p = manifold.params
        est = cls(n_components=int(p.get("n_components", manifold.coords.shape[1])),
                  n_neighbors=int(p.get("knn", 15)), alpha=float(p.get("alpha", 1.0)),
                  epsilon=float(p["epsilon"]), solver=str(p.get("solver", "eigsh")),
                  random_state=int(p.get("random_state", 0)))
        est._set_fitted(manifold)
        return est
