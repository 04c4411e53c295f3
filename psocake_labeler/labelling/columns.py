"""Class columns: the per-click arithmetic over (N, C) arrays, done on (C, N) float32 rows.

At 10^6 events a click's post-processing (probabilities, the blend, the recommender's
margins) is a dozen passes over (N, C) arrays with C = 3 classes. numpy reduces along a
short last axis slowly: ``a.max(axis=1)`` of a (10^6, 3) array took 38 ms where the same
maximum over its three columns took 10 ms, and float32 ``exp``/``log`` run 2-10x faster
than float64 ones on this machine's SIMD units. So these helpers work on one contiguous
(C, N) float32 array per quantity, class by class; a float32 probability is exact to ~1e-7,
far inside the solver's stopping tolerance (``propagation.TOL`` = 1e-2).
"""
from __future__ import annotations

import numpy as np

from . import reuse

#: Events per block of :func:`blocks`: (C, B) float32 temporaries of 3 classes stay in a
#: core's cache.
BLOCK = 16384


def blocks(n: int, size: int = BLOCK) -> list[slice]:
    """Slices of ``size`` events covering ``0..n``: a click's per-event arithmetic done block
    by block, so that its dozen steps read each block from cache instead of making a dozen
    passes over memory (a float32 pass over 10^6 events x 3 classes is 12 MB)."""
    return [slice(a, min(a + size, n)) for a in range(0, n, size)]


def as_columns(a: np.ndarray, scale=1.0, which: np.ndarray | None = None) -> np.ndarray:
    """``(a[:, which] * scale).T`` as a new contiguous (C', N) float32 array (one pass over
    ``a``; ``which`` default all columns; ``scale`` a number or one per column of ``which``).
    ``a`` may itself be class columns seen as rows (``cols.T``, see :func:`as_rows`): then
    each column is one contiguous read."""
    which = np.arange(a.shape[1]) if which is None else np.asarray(which)
    scales = np.broadcast_to(np.asarray(scale, dtype=np.float64), (len(which),))
    out = np.empty((len(which), a.shape[0]), dtype=np.float32)
    for i, c in enumerate(which):
        if scales[i] == 1.0:
            out[i] = a[:, c]
        else:
            np.multiply(a[:, c], scales[i], out=out[i], casting="same_kind")
    return out


def as_rows(cols: np.ndarray) -> np.ndarray:
    """(C, N) class columns seen as the (N, C) array of a :class:`Propagation` (a view, no
    copy): ``rows[i, c]`` is ``cols[c, i]``, and each class column stays contiguous."""
    return cols.T


def columns_of(a: np.ndarray) -> np.ndarray | None:
    """The (C, N) float32 class columns behind ``a`` when ``a`` is :func:`as_rows` of them
    (a view, no copy), else None."""
    t = a.T
    if a.dtype == np.float32 and t.flags.c_contiguous:
        return t
    return None


def to_rows(cols: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(C, N) columns back to an (N, C) float64 array (``out`` if given)."""
    if out is None:
        out = np.empty((cols.shape[1], cols.shape[0]), dtype=np.float64)
    for c in range(cols.shape[0]):
        out[:, c] = cols[c]
    return out


def column_max(cols: np.ndarray) -> np.ndarray:
    """(N,) largest entry of each event over the classes."""
    best = cols[0].copy()
    for c in range(1, cols.shape[0]):
        np.maximum(best, cols[c], out=best)
    return best


def column_sum(cols: np.ndarray) -> np.ndarray:
    """(N,) sum over the classes (float32 adds of at most a few terms per event)."""
    total = cols[0].copy()
    for c in range(1, cols.shape[0]):
        total += cols[c]
    return total


def column_argmax(a: np.ndarray, among: np.ndarray | None = None) -> np.ndarray:
    """(N,) int64 index of the largest of ``a[:, among]`` per row, first one on ties, as
    ``np.argmax``; ``a`` is (N, C) (any float dtype), ``among`` the class indices allowed
    (default all)."""
    idx = np.arange(a.shape[1]) if among is None else np.asarray(among, dtype=np.int64)
    return column_top([a[:, c] for c in idx], idx)[0]


def column_top(columns, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(which, largest)`` over the class columns ``columns`` ((C, N) or C arrays of N):
    (N,) int64 ``labels[c]`` of each event's largest column ``c`` (default ``c``; first one
    on ties, as ``np.argmax``) and (N,) that largest value, in one pass for both."""
    labels = np.arange(len(columns)) if labels is None else np.asarray(labels, np.int64)
    n = len(columns[0])
    arg = reuse.empty(n, np.int64)
    best = reuse.empty(n, columns[0].dtype)
    small = np.int8 if len(columns) < 128 else np.int32
    for s in blocks(n):   # each block's columns read once from memory (strided or not)
        top = best[s]
        top[:] = columns[0][s]
        # Which column, as small integers: which += better * (c - which), three SIMD passes
        # (np.copyto(..., where=better) of int64 took 2.8x as long).
        which = np.zeros(len(top), dtype=small)
        step = np.empty_like(which)
        for c in range(1, len(columns)):
            better = columns[c][s] > top
            np.subtract(small(c), which, out=step)
            step *= better.view(np.int8) if small is np.int8 else better
            which += step
            np.maximum(top, columns[c][s], out=top)
        np.take(labels, which, out=arg[s])
    return arg, best


def pick(cols: np.ndarray, which: np.ndarray) -> np.ndarray:
    """(N,) ``cols[which[i], i]``: each event's entry of its own class (``cols`` (C, N)
    contiguous)."""
    n = cols.shape[1]
    which = np.asarray(which)
    flat, out = cols.reshape(-1), reuse.empty(n, cols.dtype)
    for s in blocks(n):   # flat indices a block at a time: no (N,) int64 temporaries
        np.take(flat, which[s].astype(np.int64) * n + np.arange(s.start, s.stop), out=out[s])
    return out


def pick_rows(a: np.ndarray, which: np.ndarray) -> np.ndarray:
    """(N,) ``a[i, which[i]]`` of an (N, C) array, class columns (:func:`as_rows`) or not."""
    cols = columns_of(a)
    if cols is not None:
        return pick(cols, which)
    return np.asarray(a)[np.arange(a.shape[0]), np.asarray(which, dtype=np.int64)]


def set_user_rows(a: np.ndarray, rows: np.ndarray, classes: np.ndarray) -> None:
    """Labelled rows of an (N, C) probability array become their one-hot label, in place."""
    cols = columns_of(a)
    if cols is not None:
        cols[:, rows] = 0.0
        cols[classes, rows] = 1.0
        return
    a[rows] = 0.0
    a[rows, classes] = 1.0


def top_two_margin(cols: np.ndarray) -> np.ndarray:
    """(N,) largest minus second largest entry over the classes (0 with one class)."""
    if cols.shape[0] < 2:
        return np.zeros(cols.shape[1], dtype=cols.dtype)
    first = np.maximum(cols[0], cols[1])
    second = np.minimum(cols[0], cols[1])
    for c in range(2, cols.shape[0]):
        np.maximum(second, np.minimum(first, cols[c]), out=second)
        np.maximum(first, cols[c], out=first)
    return first - second


def column_sums(a: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """(C,) float64 sum of each column of an (N, C) array (rows ``where`` only, if given):
    per column, since numpy's ``a.sum(axis=0)`` over 10^6 rows of 3 took 18 ms, three
    column sums 3 ms."""
    if where is None:
        return np.array([a[:, c].sum(dtype=np.float64) for c in range(a.shape[1])])
    return np.array([a[where, c].sum(dtype=np.float64) for c in range(a.shape[1])])


def median(x: np.ndarray) -> float:
    """``np.median`` of a 1-D array, by one partition (np.median took 10 ms on 10^6
    float32 values, the partition 1-2 ms on random values, 10 ms on a click's masses).
    Large arrays: only the values between two quantiles of a strided sample are
    partitioned, when counting shows the median among them (else all; exact either way:
    5.5 ms on those masses)."""
    m = len(x)
    if m == 0:
        return float("nan")
    half = m // 2
    ranks = [half - 1, half] if m % 2 == 0 else [half]
    part, offset = x, 0
    if m >= 100_000:
        sample = np.sort(x[:: m // 4000])
        lo, hi = sample[int(0.45 * len(sample))], sample[int(0.55 * len(sample))]
        below = int(np.count_nonzero(x < lo))
        inside = x[(x >= lo) & (x <= hi)]
        if below <= ranks[0] and ranks[-1] < below + len(inside):
            part, offset = inside, below
    got = np.partition(part, [r - offset for r in ranks])[[r - offset for r in ranks]]
    if m % 2:
        return float(got[0])
    return 0.5 * (float(got[0]) + float(got[1]))
