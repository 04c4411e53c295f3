"""The data of bench_scale.py (unprunable, structured, a whole experiment) and the numbers
printed beside every time (peak memory, load, the clocks)."""
from __future__ import annotations

import os
import resource
import time

import numpy as np


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def load() -> float:
    return os.getloadavg()[0]


def clock(fn, *args, **kwargs) -> tuple:
    """``(result, wall s)`` of one call."""
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def clocks(fn, *args, **kwargs) -> tuple:
    """``(result, wall s, process cpu s, 1-minute load)`` of one call."""
    c = time.process_time()
    out, wall = clock(fn, *args, **kwargs)
    return out, wall, time.process_time() - c, load()


def unprunable(n: int = 20000, dim: int = 1000, seed: int = 0) -> np.ndarray:
    """A 5-D latent box lifted to ``dim`` features plus noise: distances concentrate, the
    k-th neighbour is as far as a typical pair, and no bound prunes."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(0, 6, (n, 5))
    x = np.sin(z @ rng.normal(0, 1, (5, dim)) + rng.uniform(0, 2 * np.pi, dim))
    return (x + rng.normal(0, 0.05, (n, dim))).astype(np.float32)


def structured(n: int = 20000, dim: int = 1000, seed: int = 0) -> np.ndarray:
    """bench_diffusion.py's array: a 3-D latent box lifted to ``dim`` features."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(0, 1, (n, 3)) * [6.0, 6.0, 1.0]
    x = np.sin(z @ rng.normal(0, 1.0, (3, dim)) + rng.uniform(0, 2 * np.pi, dim))
    return (x + rng.normal(0, 0.05, (n, dim))).astype(np.float32)


def experiment(n: int, seed: int = 0, new: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` events x 40 features: three classes, each a 4-D latent lifted to 40 features
    by its own random Fourier features, plus noise. Returns (features, class); with
    ``new``, only ``new`` further events of the same three classes (other latent points and
    noise: what ``extend`` places on the manifold of the first ``n``)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = np.empty((n, 40), dtype=np.float32)
    lifts = []
    for c in range(3):
        rows = np.flatnonzero(y == c)
        z = rng.uniform(0, 2, (len(rows), 4))
        w, b = rng.normal(0, 1, (4, 40)), rng.uniform(0, 2 * np.pi, 40)
        lifts.append((w, b))
        x[rows] = np.sin(z @ w + b) + rng.normal(0, 0.05, (len(rows), 40)) + c * 0.5
    if not new:
        return x, y
    rng = np.random.default_rng(seed + 1)
    y = rng.integers(0, 3, new)
    x = np.empty((new, 40), dtype=np.float32)
    for c, (w, b) in enumerate(lifts):
        rows = np.flatnonzero(y == c)
        z = rng.uniform(0, 2, (len(rows), 4))
        x[rows] = np.sin(z @ w + b) + rng.normal(0, 0.05, (len(rows), 40)) + c * 0.5
    return x, y


# ---- steps, each run in its own process by ``step`` --------------------------------------
