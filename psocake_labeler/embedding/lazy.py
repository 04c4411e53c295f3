"""A manifold file read on demand: what opening needs now, the rest when first used.

At 10^6 events a manifold file is 0.5 GB. Opening it in the dock needs the coordinates and
the event table (to draw, to tie the label store to it); the graph (17 M weights), the
features and the kernel sums are first needed by a propagation or an extension. With
``Manifold.load(path, lazy=True)`` those fields are read by :class:`FileFields` on first use,
checked as an eager load checks them (one LayoutError naming the dataset), under a lock (a
worker and the GUI may ask at once). The file stays open read-only until every field is
read: a manifold replaced meanwhile (``embed -o`` writes a new file and renames it over the
old one) is still read from the file that was opened.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import h5py
import scipy.sparse as sp

from .checks import check_finite, check_graph

#: Manifold fields a lazy load reads on first use, and the dataset each comes from.
LAZY_FIELDS = {"graph": "graph", "features": "features", "density": "density",
               "floor": "bandwidth_floor", "brightness": "brightness",
               "reliability": "reliability", "profile": "profile"}


def read_field(f: h5py.File, path: Path, n: int, name: str) -> Any:
    """One of ``LAZY_FIELDS`` from an open manifold file, checked (None when optional and
    absent)."""
    if name == "graph":
        g = f["graph"]
        indptr, indices, data = g["indptr"][()], g["indices"][()], g["data"][()]
        check_graph(path, indptr, indices, data, n)
        return sp.csr_matrix((data, indices, indptr), shape=(n, n))
    dataset = LAZY_FIELDS[name]
    if dataset not in f:
        return None
    values = f[dataset][()]
    if name != "features":
        check_finite(path, {dataset: values})
    return values


class FileFields:
    """The open file lazy fields come from; closed once every field has been read."""

    def __init__(self, f: h5py.File, n: int) -> None:
        self.f, self.n = f, n
        self.path = Path(f.filename)
        self.values: dict[str, Any] = {}
        self.lock = threading.Lock()

    def read(self, name: str) -> Any:
        """The field ``name``, read once (later calls return the same object)."""
        with self.lock:
            if name not in self.values:
                self.values[name] = read_field(self.f, self.path, self.n, name)
                if len(self.values) == len(LAZY_FIELDS):
                    self.f.close()
            return self.values[name]


class FromFile:
    """Descriptor of a lazy field: the value set, else read from the object's
    ``file_fields`` (a :class:`FileFields`) on first use. Setting ``UNREAD`` leaves it to
    the file."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        d = obj.__dict__
        if self.name not in d:
            d[self.name] = d["file_fields"].read(self.name)
        return d[self.name]

    def __set__(self, obj, value) -> None:
        if value is UNREAD:
            obj.__dict__.pop(self.name, None)
        else:
            obj.__dict__[self.name] = value


#: Placeholder of a field not read yet.
UNREAD = object()


def read_on_first_use(cls: type) -> type:
    """Class decorator: every field of ``LAZY_FIELDS`` becomes a :class:`FromFile` of
    ``cls``, so the list of lazy fields is written once."""
    for name in LAZY_FIELDS:
        descriptor = FromFile()
        descriptor.__set_name__(cls, name)
        setattr(cls, name, descriptor)
    return cls
