"""Checks of a manifold file on open: every failure is one LayoutError naming the dataset.

A damaged or hostile manifold must never reach scipy or the GUI: graph indices out of
range segfault sparse products, NaN coordinates break the plot's range, a declared shape
of 10^11 rows would be allocated before anything else looked at it. Shapes are checked from
the headers first (nothing is read), values after reading.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import InputError, LayoutError

# A manifold holds one experiment at most (10^6 events); far above that is damage.
MAX_ROWS = 10**8
MAX_COMPONENTS = 1000
MAX_PARAMS_BYTES = 1 << 20
# params that must be numbers of this kind when present
_NUMBERS = {"knn": int, "n_components": int, "epsilon": float, "alpha": float}


def check_shapes(f, path: Path) -> int:
    """Check every dataset's declared shape against the events table; return N."""
    events = f["events"]
    if events.ndim != 1 or events.dtype.names is None or not {
            "source", "run", "event"} <= set(events.dtype.names):
        raise LayoutError(f"{path}: dataset /events has {events.dtype} {events.shape}; "
                          "expected a table of (source, run, event)")
    n = int(events.shape[0])
    if n > MAX_ROWS:
        raise LayoutError(f"{path}: dataset /events declares {n} rows; a manifold holds at "
                          f"most {MAX_ROWS}")
    coords = f["coords"]
    if coords.ndim != 2 or not 1 <= coords.shape[1] <= MAX_COMPONENTS:
        raise LayoutError(f"{path}: dataset /coords has shape {coords.shape}; expected "
                          f"({n}, components)")
    m = int(coords.shape[1])
    want = {"coords": (n, m), "eigenvalues": (m,), "density": (n,),
            "features": (n, None), "bandwidth_floor": (n,), "brightness": (n, None),
            "reliability": (n,), "profile": (n, None),
            "graph/indptr": (n + 1,)}
    for name, shape in want.items():
        if name not in f:
            continue
        got = f[name].shape
        if len(got) != len(shape) or any(s is not None and g != s
                                         for g, s in zip(got, shape)):
            raise LayoutError(f"{path}: dataset /{name} has shape {got}; with {n} events "
                              f"and {m} components it must be {_words(shape)}")
        if f[name].dtype.kind not in "iuf":
            raise LayoutError(f"{path}: dataset /{name} holds {f[name].dtype}, not numbers")
    nnz = f["graph/indices"].shape
    if nnz != f["graph/data"].shape or len(nnz) != 1:
        raise LayoutError(f"{path}: datasets /graph/indices {nnz} and /graph/data "
                          f"{f['graph/data'].shape} must be 1-D of one length")
    shape = tuple(int(s) for s in np.asarray(f["graph"].attrs.get("shape", ())).reshape(-1))
    if shape != (n, n):
        raise LayoutError(f"{path}: /graph has shape attribute {shape}; with {n} events "
                          f"it must be ({n}, {n})")
    return n


def _words(shape) -> str:
    return "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"


def check_graph(path: Path, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                n: int) -> None:
    """CSR arrays that scipy can use safely: pointers monotone, indices in range."""
    if indptr.dtype.kind not in "iu" or indices.dtype.kind not in "iu":
        raise LayoutError(f"{path}: datasets /graph/indptr and /graph/indices must hold "
                          "integers")
    if len(indptr) and (indptr[0] != 0 or indptr[-1] != len(indices)
                        or np.any(np.diff(indptr) < 0)):
        raise LayoutError(f"{path}: dataset /graph/indptr is not a valid row index (it must "
                          f"rise from 0 to {len(indices)}); the file is damaged: re-run embed")
    if len(indices) and (indices.min() < 0 or indices.max() >= n):
        bad = int(indices.min() if indices.min() < 0 else indices.max())
        raise LayoutError(f"{path}: dataset /graph/indices holds {bad}, outside the {n} "
                          "events; the file is damaged: re-run embed")
    if not np.isfinite(data).all():
        raise LayoutError(f"{path}: dataset /graph/data holds NaN or inf weights")


def check_finite(path: Path, arrays: dict) -> None:
    """Coordinates, eigenvalues, density: finite; eigenvalues, when given, non-zero (extend
    divides by them)."""
    for name, values in arrays.items():
        if values is None:
            continue
        if not np.isfinite(values).all():
            rows = np.flatnonzero(~np.isfinite(values).reshape(len(values), -1).all(axis=1))
            raise LayoutError(f"{path}: dataset /{name} holds NaN or inf (row {int(rows[0])}"
                              f" first, {len(rows)} rows); the file is damaged: re-run embed")
    if arrays.get("eigenvalues") is not None and np.any(arrays["eigenvalues"] == 0):
        raise LayoutError(f"{path}: dataset /eigenvalues holds 0; the file is damaged: "
                          "re-run embed")


def parse_params(path: Path, raw) -> dict:
    """The ``params`` attribute: JSON of a flat-ish dict, bounded in size and nesting."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if not isinstance(text, str):
        raise LayoutError(f"{path}: attribute params is {type(raw).__name__}, not JSON text")
    if len(text) > MAX_PARAMS_BYTES:
        raise LayoutError(f"{path}: attribute params is {len(text)} bytes of JSON; parameters "
                          f"take a few hundred (at most {MAX_PARAMS_BYTES}): the file is damaged")
    try:
        params = json.loads(text)
    except RecursionError:
        raise LayoutError(f"{path}: attribute params is JSON nested too deeply") from None
    except ValueError as exc:
        raise LayoutError(f"{path}: attribute params is not valid JSON ({exc})") from None
    if not isinstance(params, dict):
        raise LayoutError(f"{path}: attribute params is a JSON {type(params).__name__}, not "
                          "an object of parameters")
    for key, kind in _NUMBERS.items():
        value = params.get(key)
        if value is None:
            continue
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
            np.isfinite(value) and value > 0 if kind is float or key == "epsilon" else
            float(value).is_integer() and value >= 1)
        if key == "alpha":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
                and np.isfinite(value)
        if not ok:
            raise LayoutError(f"{path}: attribute params has {key} = {value!r}, not a valid "
                              f"{'count' if kind is int else 'number'}")
    return params


def _keys(events: np.ndarray) -> list[tuple]:
    # A run number names the run wherever its file lies; without one, the file does.
    return [(int(r), int(e)) if r >= 0 else (os.path.realpath(str(s)), int(e))
            for s, r, e in zip(events["source"], events["run"], events["event"])]


def check_new_events(old: np.ndarray, new: np.ndarray) -> None:
    """Refuse to extend a manifold with events it already holds (the run would be doubled)."""
    have = set(_keys(old))
    dup = [i for i, k in enumerate(_keys(new)) if k in have]
    if dup:
        first = dup[0]
        where = f"run {int(new['run'][first])}" if new["run"][first] >= 0 else "the file"
        raise InputError(f"{new['source'][first]}: {len(dup)} of its {len(new)} events "
                         f"({where}, event {int(new['event'][first])} first) are already on "
                         "the manifold; extend it with new runs only")
