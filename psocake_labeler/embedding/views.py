"""What to show of a manifold: the axes that show its structure, and the events like one event.

Plain numpy (no Qt): the GUI asks, draws the answer.
"""
from __future__ import annotations

import numpy as np

SAMPLE = 20000         # rows used to choose axes: enough to see clusters, fast at 10^6


def diffusion_coordinates(coords: np.ndarray, eigenvalues: np.ndarray | None) -> np.ndarray:
    """Coordinates scaled so that Euclidean distance is diffusion distance (one step).

    Stored ``coords`` may already be scaled; scaling by eigenvalues close to 1 (as they are)
    changes little either way, and keeps the leading components weighted most.
    """
    c = np.asarray(coords, dtype=float)
    lam = np.asarray(eigenvalues, dtype=float) if eigenvalues is not None else np.zeros(0)
    if lam.shape == (c.shape[1],):
        c = c * np.abs(lam)
    return c


def similar_rows(coords: np.ndarray, eigenvalues: np.ndarray | None, row: int,
                 k: int = 24) -> np.ndarray:
    """``row`` and its ``k - 1`` nearest rows in diffusion distance, nearest first."""
    c = diffusion_coordinates(coords, eigenvalues)
    d2 = ((c - c[row]) ** 2).sum(axis=1)
    d2[row] = -1.0                       # the event itself first, even among duplicates
    k = min(k, len(d2))
    near = np.argpartition(d2, k - 1)[:k]
    return near[np.argsort(d2[near], kind="stable")]


def best_axes(coords: np.ndarray, seed: int = 0, n: int = 2) -> tuple[int, ...]:
    """The pair of components (0-based ``(i, j)``, ``i < j``) that best shows the clusters
    (with ``n=3`` the best three, for a 3-D view).

    Each component is scored by the excess kurtosis of its values over the events (a random
    sample of at most ``SAMPLE``): a component that splits the events into groups has a flat
    or many-humped distribution (kurtosis below 0, -2 for two equal groups), while one
    dominated by a few far outliers (a small, weakly linked group, typical of psi1 on real
    runs) has a large kurtosis and shows everything else as one thin line. The two
    components with the lowest kurtosis are shown; ties go to the leading ones.
    """
    c = np.asarray(coords, dtype=float)
    if c.ndim != 2 or c.shape[1] < n:
        return tuple(min(k, max(c.shape[-1] - 1, 0)) for k in range(n))
    if len(c) > SAMPLE:
        c = c[np.random.default_rng(seed).choice(len(c), SAMPLE, replace=False)]
    order = np.argsort(component_kurtosis(c), kind="stable")
    return tuple(sorted(int(k) for k in order[:n]))


def component_kurtosis(c: np.ndarray) -> np.ndarray:
    """Excess kurtosis of each column (0 for a Gaussian; constant columns score high)."""
    z = c - c.mean(axis=0)
    var = (z ** 2).mean(axis=0)
    flat = var <= 1e-300
    k = (z ** 4).mean(axis=0) / np.where(flat, 1.0, var ** 2) - 3.0
    return np.where(flat, np.inf, k)
