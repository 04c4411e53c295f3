"""The :class:`Manifold`: diffusion coordinates of a set of events, their graph, and the file.

The manifold file is HDF5 with root attribute ``schema = "psocake-labeler/manifold"``,
written atomically. It holds everything needed to place new events on the same manifold
(features, kernel sums, bandwidth, the feature transform), so :meth:`Manifold.extend` never
recomputes the eigenvectors.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import h5py
import numpy as np
import scipy.sparse as sp

from ..errors import InputError, LayoutError, MissingFileError, NotHDF5Error
from ..io.atomic import atomic_h5
from ..io.events import (
    EVENT_DTYPE,
    concat_event_tables,
    event_table_from_h5,
    event_table_to_h5,
    make_event_table,
    source_codes,
)
from ..io.h5files import check_file, first_line, open_h5
from ..io.outputs import check_output as check_output_kind
from ..io.schema import SCHEMA_MANIFOLD as SCHEMA
from ..io.schema import file_kind, kind_words
from ..progress import ProgressCallback
from .checks import check_finite, check_new_events, check_shapes, parse_params
from .lazy import LAZY_FIELDS, UNREAD, FileFields, read_field, read_on_first_use

SCHEMA_VERSION = 1


def array_event_table(n: int, offset: int = 0) -> np.ndarray:
    """Event table for rows of a raw feature array: source "array", run -1, event = row."""
    return make_event_table("array", -1, np.arange(offset, offset + n, dtype=np.int64))


def as_run(data: Any) -> Any:
    """A :class:`~psocake_labeler.io.Run` from a Run, a path, or a list of either."""
    from ..io import Run, RunSet, open_run

    if isinstance(data, Run):
        return data
    if isinstance(data, (list, tuple)) and data and all(isinstance(r, Run) for r in data):
        return data[0] if len(data) == 1 else RunSet(list(data))
    if isinstance(data, (list, tuple)):
        return open_run([str(p) for p in data])
    return open_run(str(data))


@dataclass
class Manifold:
    """Diffusion-map embedding of N events.

    Attributes
    ----------
    coords : (N, m) float64 diffusion coordinates (eigenvalue times right eigenvector).
    eigenvalues : (m,) Markov-matrix eigenvalues, descending, trivial 1 excluded.
    events : structured (N,) array with fields source, run, event.
    graph : (N, N) scipy.sparse.csr_matrix, symmetric kernel weights, zero diagonal.
    features : (N, d) float32 features the graph was built from.
    transform : the FeatureTransform that made the features (None for a raw array).
    params : dict of all parameters (knn, alpha, epsilon, ...).
    density : (N,) kernel sums q used by alpha normalisation (needed by :meth:`extend`).
    floor : (N,) per-event bandwidth floors (squared distance to a near neighbour), or None
        for files written before floors existed (global epsilon only).
    brightness : (N, 2) float32 per-hit brightness (features/brightness.py), which the
        features remove; used by the labels' classifier only. None for a manifold built
        from a feature array and for files written before it existed.
    reliability : (N,) float32 in [0, 1], how much of each hit's rings its features saw
        (``features.pipeline.ImagePipeline.reliability``) and, for events placed by
        :meth:`extend`, at most how near they lie to the events the manifold was built on
        (``kernel.nearness``); the shown confidence is capped where it is low
        (labelling/honest.py). None as for ``brightness``, and for files
        written before it existed.
    profile : (N, 40) float32 per-hit autocorrelation radial profile (features/autocorr.py),
        the labels' classifier's copy (the graph's features hold it only through the
        ``autocorr`` weight, in the PCA); None as for ``brightness``, with
        ``classifier_autocorr=False`` and for files written before it existed.
    """

    coords: np.ndarray
    eigenvalues: np.ndarray
    events: np.ndarray
    graph: sp.csr_matrix
    features: np.ndarray
    transform: Any = None
    params: dict = field(default_factory=dict)
    density: Optional[np.ndarray] = None
    floor: Optional[np.ndarray] = None
    brightness: Optional[np.ndarray] = None
    reliability: Optional[np.ndarray] = None
    profile: Optional[np.ndarray] = None

    def read_all(self) -> None:
        """Read now whatever is still on disk (a lazy manifold's fields; nothing here)."""

    def __len__(self) -> int:
        return len(self.coords)

    def __repr__(self) -> str:
        return (f"Manifold({len(self)} events, {self.coords.shape[1]} components, "
                f"knn={self.params.get('knn')}, epsilon={self.params.get('epsilon', 0):.4g})")

    def events_hash(self) -> str:
        """sha256 of the event table, to tie label files to this manifold."""
        h = hashlib.sha256()
        sources, codes = source_codes(self.events)
        h.update(json.dumps(sources.tolist()).encode("utf-8"))
        for col in (codes, self.events["run"], self.events["event"]):
            h.update(np.ascontiguousarray(col, dtype="<i8").tobytes())
        return h.hexdigest()

    # -- file ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the manifold to ``path`` (HDF5, replaced atomically)."""
        with atomic_h5(path, SCHEMA, SCHEMA_VERSION) as f:
            f.create_dataset("coords", data=self.coords)
            f.create_dataset("eigenvalues", data=self.eigenvalues)
            f.create_dataset("density", data=self.density)
            if self.floor is not None:
                f.create_dataset("bandwidth_floor", data=self.floor)
            if self.brightness is not None:
                f.create_dataset("brightness", data=self.brightness)
            if self.reliability is not None:
                f.create_dataset("reliability", data=self.reliability)
            if self.profile is not None:
                f.create_dataset("profile", data=self.profile)
            f.create_dataset("features", data=self.features,
                             chunks=(min(len(self.features), 4096), self.features.shape[1])
                             if len(self.features) else None)
            f.create_dataset("events", data=event_table_to_h5(self.events))
            g = f.create_group("graph")
            csr = sp.csr_matrix(self.graph)
            g.create_dataset("data", data=csr.data)
            g.create_dataset("indices", data=csr.indices)
            g.create_dataset("indptr", data=csr.indptr)
            g.attrs["shape"] = np.asarray(csr.shape, dtype=np.int64)
            f.attrs["params"] = json.dumps(self.params)
            if self.transform is not None:
                t = f.create_group("transform")
                t.attrs["class"] = type(self.transform).__name__
                self.transform.save(t)

    @classmethod
    def load(cls, path: str | os.PathLike, lazy: bool = False) -> Manifold:
        """Read a manifold written by :meth:`save`.

        Raises a one-line :class:`~psocake_labeler.errors.InputError` naming ``path`` when it
        is missing, a folder, not HDF5, truncated, or another kind of file. ``lazy``: read
        the coordinates, eigenvalues, events and parameters now, the graph, features,
        kernel sums, floors, brightness, reliability and profile on first use (:mod:`.lazy`; their
        checks then).
        """
        path = Path(path)
        if not path.exists():
            raise MissingFileError(f"{path}: no such manifold file; make one with "
                                   "'psocake-labeler embed RUN.cxi -o manifold.h5'")
        f = _open_manifold(path)
        keep = False
        try:
            kind = file_kind(f)
            if kind != "manifold":
                raise LayoutError(f"{path}: {kind_words(kind)}, not a manifold file (schema "
                                  f"{SCHEMA!r}); give the file written by 'psocake-labeler "
                                  "embed ... -o manifold.h5'")
            missing = [n for n in _REQUIRED if n not in f] + (
                [] if "params" in f.attrs else ["the params attribute"])
            try:
                if not missing:
                    m = cls._read(f, lazy)
                    keep = lazy
                    return m
            except KeyError as exc:
                missing = [first_line(exc)]
            except OSError as exc:
                raise NotHDF5Error(f"{path}: manifold file cannot be read ({first_line(exc)}"
                                   "); it is probably truncated: copy it again or re-run "
                                   "'psocake-labeler embed'") from None
            raise LayoutError(f"{path}: manifold file lacks {', '.join(missing)}; it is "
                              "truncated or from another program: re-run "
                              "'psocake-labeler embed'")
        finally:
            if not keep:
                f.close()

    @classmethod
    def _read(cls, f: h5py.File, lazy: bool = False) -> Manifold:
        path = Path(f.filename)
        n = check_shapes(f, path)   # from the headers, before anything is allocated
        params = parse_params(path, f.attrs["params"])
        transform = None
        if "transform" in f:
            from ..features import FeatureTransform

            transform = FeatureTransform.load(f["transform"])
        coords, eigenvalues = f["coords"][()], f["eigenvalues"][()]
        check_finite(path, {"coords": coords, "eigenvalues": eigenvalues})
        common = dict(coords=coords, eigenvalues=eigenvalues,
                      events=event_table_from_h5(f["events"][()]), transform=transform,
                      params=params)
        if lazy:
            m = LazyManifold(**common, **{name: UNREAD for name in LAZY_FIELDS})
            m.file_fields = FileFields(f, n)
            return m
        return cls(**common, **{name: read_field(f, path, n, name) for name in LAZY_FIELDS})

    # -- out of sample ---------------------------------------------------------------------
    def extend(self, run_or_array: Any, progress: Optional[ProgressCallback] = None
               ) -> Manifold:
        """Place new events on this manifold without recomputing it (Nystrom extension).

        A run (or path, or list) is transformed with the saved feature transform; a 2-D
        array is taken as features (its rows get source "array", run -1, event numbers
        continuing after this manifold's rows). Each new event is linked to its ``knn``
        nearest existing events; its coordinates are the alpha-normalised kernel average of
        theirs, divided by the eigenvalues (geometric harmonics).

        Returns a new Manifold over old + new rows; the graph links new events to old ones.
        """
        from ..neighbors.mpi import knn_query
        from .kernel import bandwidth_floor, nystrom_weights

        feats, events, bright, rel, prof = self._new_rows(run_or_array, progress)
        k = min(int(self.params.get("knn", 15)), len(self))
        idx, dist = knn_query(feats, self.features, k, progress=progress)
        alpha = float(self.params.get("alpha", 1.0))
        kernel, trans, q_new = nystrom_weights(idx, dist, float(self.params["epsilon"]), alpha,
                                               self.density, self.floor)
        new_floor = bandwidth_floor(dist)
        psi = self.coords / self.eigenvalues
        new_coords = np.asarray(trans @ psi)
        graph = sp.bmat([[self.graph, kernel.T], [kernel, None]], format="csr")
        graph.sort_indices()
        params = dict(self.params)
        params["extended_rows"] = list(params.get("extended_rows", [])) + [[len(self),
                                                                            len(feats)]]
        return Manifold(coords=np.vstack([self.coords, new_coords]),
                        eigenvalues=self.eigenvalues.copy(),
                        events=concat_event_tables([self.events, events]), graph=graph,
                        features=np.vstack([self.features, feats]), transform=self.transform,
                        params=params, density=np.concatenate([self.density, q_new]),
                        floor=None if self.floor is None else
                        np.concatenate([self.floor, new_floor]),
                        brightness=None if self.brightness is None or bright is None else
                        np.concatenate([self.brightness, bright]),
                        reliability=self._extended_reliability(rel, new_floor),
                        profile=None if self.profile is None or prof is None else
                        np.concatenate([self.profile, prof]))

    def _extended_reliability(self, rel: np.ndarray | None, new_floor: np.ndarray
                              ) -> np.ndarray | None:
        """Reliability of the old and new rows: a new row's at most its nearness to the
        events the manifold was built on (``kernel.nearness``), so that a run unlike them
        is not shown sure of its neighbours' labels."""
        from .kernel import nearness

        if self.floor is None:      # a file from before floors: nothing to compare with
            return None if self.reliability is None or rel is None else \
                np.concatenate([self.reliability, rel])
        extended = self.params.get("extended_rows") or [[len(self), 0]]
        near = nearness(new_floor, self.floor[:int(extended[0][0])])
        new = near if rel is None else np.minimum(rel, near)
        old = self.reliability if self.reliability is not None else \
            np.ones(len(self), dtype=np.float32)
        return np.concatenate([old, new]).astype(np.float32)

    def _new_rows(self, data: Any, progress: Optional[ProgressCallback]) -> tuple:
        """Features, events, brightness, reliability and profile (None: not kept) of new
        rows."""
        if isinstance(data, np.ndarray):
            if data.ndim != 2 or data.shape[1] != self.features.shape[1]:
                raise InputError(f"new features have shape {data.shape}; this manifold needs "
                                 f"(n, {self.features.shape[1]})")
            return (data.astype(np.float32), array_event_table(len(data), offset=len(self)),
                    None, None, None)
        if self.transform is None:
            raise InputError("this manifold was built from a feature array, so it has no "
                             "feature transform: extend it with a feature array, not a run")
        from ..features import compute_features

        run = as_run(data)
        events = np.asarray(run.event_table(), dtype=EVENT_DTYPE)
        check_new_events(self.events, events)   # before the features are computed
        if self.brightness is None:
            feats, _ = compute_features(run, transform=self.transform, progress=progress)
            return np.asarray(feats, dtype=np.float32), events, None, None, None
        from ..features.brightness import split_hit_columns

        feats, _, columns = compute_features(run, transform=self.transform, progress=progress,
                                             with_brightness=True)
        return (np.asarray(feats, dtype=np.float32), events) + split_hit_columns(columns)


@read_on_first_use
class LazyManifold(Manifold):
    """A :class:`Manifold` from ``Manifold.load(path, lazy=True)``: the fields of
    ``LAZY_FIELDS`` are read from the file on first use (:mod:`.lazy`)."""

    def read_all(self) -> None:
        """Read every field of ``LAZY_FIELDS`` now (the dock does it in the background)."""
        for name in LAZY_FIELDS:
            getattr(self, name)


# Datasets every manifold file holds (bandwidth_floor and transform are optional).
_REQUIRED = ("coords", "eigenvalues", "density", "features", "events", "graph/data",
             "graph/indices", "graph/indptr")

def _open_manifold(path: Path) -> h5py.File:
    """``path`` opened read-only; a folder, non-HDF5 or truncated file is one clear line."""
    try:
        return open_h5(check_file(path, what="manifold file (.h5)"))
    except MissingFileError:
        raise
    except NotHDF5Error as exc:
        raise NotHDF5Error(f"{exc}; a manifold file is written by 'psocake-labeler embed "
                           "RUN.cxi -o manifold.h5'") from None


def check_output(path: str | os.PathLike) -> bool:
    """Whether writing a manifold to ``path`` replaces an older manifold.

    Returns False when ``path`` does not exist and True when it is a manifold file (the
    documented default of ``embed -o``); raises
    :class:`~psocake_labeler.errors.InputError` for anything else (a label file, a run, a
    folder, a file we cannot identify), so that ``embed -o`` never destroys another file.
    """
    return check_output_kind(path, "manifold")
