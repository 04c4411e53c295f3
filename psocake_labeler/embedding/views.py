"""What to show of a manifold: the axes that show its structure, and the events like one event.

Plain numpy (no Qt): the GUI asks, draws the answer.
"""
from __future__ import annotations

import numpy as np

SAMPLE = 4000          # rows used to choose axes: enough to see clusters, fast at 10^6
N_CLUSTERS = 4


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


def best_axes(coords: np.ndarray, eigenvalues: np.ndarray | None = None,
              seed: int = 0) -> tuple[int, int]:
    """The pair of components (0-based ``(i, j)``, ``i < j``) that best shows the clusters.

    The events (a random sample of at most ``SAMPLE``) are clustered by k-means in diffusion
    coordinates, which is spectral clustering of the manifold's graph. Each pair is scored
    by how far apart those clusters lie in it: between-cluster over within-cluster spread
    (a Fisher ratio), on coordinates scaled by their inter-quartile range and clipped, so
    that a few far outliers (small weakly linked groups, which dominate psi1 on real runs)
    neither squeeze the rest into a line nor win on their own. Ties go to the leading pair.
    """
    c = np.asarray(coords, dtype=float)
    if c.ndim != 2 or c.shape[1] < 2:
        return (0, 0)
    rng = np.random.default_rng(seed)
    if len(c) > SAMPLE:
        c = c[rng.choice(len(c), SAMPLE, replace=False)]
        # eigenvalue scaling is per column: the sample keeps the columns
    labels = _clusters(diffusion_coordinates(c, eigenvalues), rng)
    z = _robust(c)
    best, best_score = (0, 1), -np.inf
    d = c.shape[1]
    for i in range(d):
        for j in range(i + 1, d):
            score = _fisher(z[:, [i, j]], labels)
            if score > best_score * (1 + 1e-9):
                best, best_score = (i, j), score
    return best


def _robust(c: np.ndarray) -> np.ndarray:
    med = np.median(c, axis=0)
    q1, q3 = np.percentile(c, [25, 75], axis=0)
    iqr = np.where(q3 > q1, q3 - q1, np.maximum(np.abs(c - med).max(axis=0), 1e-12))
    return np.clip((c - med) / iqr, -4.0, 4.0)


def _clusters(c: np.ndarray, rng, iterations: int = 30) -> np.ndarray:
    """k-means (k-means++ start, Lloyd steps) on robustly scaled coordinates."""
    z = _robust(c)
    k = min(N_CLUSTERS, len(z))
    if k < 2:
        return np.zeros(len(z), dtype=int)
    centres = [z[rng.integers(len(z))]]
    for _ in range(1, k):
        d2 = np.min([((z - m) ** 2).sum(axis=1) for m in centres], axis=0)
        p = d2 / d2.sum() if d2.sum() > 0 else None
        centres.append(z[rng.choice(len(z), p=p)])
    centres = np.array(centres)
    for _ in range(iterations):
        labels = np.argmin(((z[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        new = np.array([z[labels == j].mean(axis=0) if (labels == j).any() else centres[j]
                        for j in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    return labels


def _fisher(x: np.ndarray, labels: np.ndarray) -> float:
    mean = x.mean(axis=0)
    between = within = 0.0
    for k in np.unique(labels):
        xk = x[labels == k]
        mk = xk.mean(axis=0)
        between += len(xk) * float(((mk - mean) ** 2).sum())
        within += float(((xk - mk) ** 2).sum())
    return between / max(within, 1e-12)
