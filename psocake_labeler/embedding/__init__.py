"""Diffusion maps: kernel, bandwidth, eigensolve, the Manifold, out-of-sample extension."""
from .diffusion import build_manifold, engine_fingerprint, manifold_from_knn
from .estimator import DiffusionMap
from .manifold import Manifold

__all__ = ["DiffusionMap", "Manifold", "build_manifold", "engine_fingerprint",
           "manifold_from_knn"]
