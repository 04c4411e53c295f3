"""``Run``: the hits of one run (or of several), read lazily from Psocake's output.

The format readers (``spi``, ``sfx``, ``litpixels``) check a file and build a ``Run`` from
an :class:`~psocake_labeler.io.sources.ImageSource`; this module holds the ``Run`` and
``RunSet`` classes and the recognition of which Psocake output a file is (the checks every
file goes through before h5py opens it are in :mod:`.h5files`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import EmptyRunError, LayoutError
from .events import concat_event_tables, make_event_table
from .sources import ConcatSource, ImageSource

METADATA_KEYS = ("kind", "experiment", "run", "detector", "photon_energy_eV",
                 "distance_m", "pixel_size_m")


def normalise_selection(sel, n: int) -> np.ndarray:
    """Row indices for a slice, integer array, or boolean mask over ``n`` rows."""
    if isinstance(sel, slice):
        return np.arange(*sel.indices(n), dtype=np.int64)
    arr = np.asarray(sel)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise IndexError(f"boolean selection of shape {arr.shape} for {n} rows")
        return np.flatnonzero(arr).astype(np.int64)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise IndexError(f"rows must be integers, a slice or a boolean mask, got {arr.dtype}")
    rows = arr.astype(np.int64).reshape(-1)
    if rows.size and (rows.min() < -n or rows.max() >= n):
        bad = rows[(rows < -n) | (rows >= n)][0]
        raise IndexError(f"row {bad} out of range for a run of {n} hits")
    return np.where(rows < 0, rows + n, rows)


class Run:
    """The hits of a run: event numbers, lazily read images, mask, geometry, metadata.

    Built by :func:`open_run`; see docs/architecture.md for the contract.

    Attributes
    ----------
    path : str
        The file (or the master file, folder or first file) the run was opened from.
    events : numpy.ndarray
        int64 ``(n,)`` event numbers of the hits, in file order.
    metadata : dict
        ``kind``, ``experiment``, ``run``, ``detector``, ``photon_energy_eV``,
        ``distance_m``, ``pixel_size_m`` (None where the file does not say).
    info : dict
        Further facts for ``info`` (datasets used, number of events in the run, ...).
    """

    def __init__(self, path: str | Path, source: ImageSource, events: np.ndarray,
                 metadata: dict, mask: np.ndarray | None = None,
                 center: tuple[float, float] | None = None,
                 row_sources: Sequence[str] | None = None, info: dict | None = None) -> None:
        self.path = str(path)
        self.image_source = source
        self.events = np.asarray(events, dtype=np.int64).reshape(-1)
        if len(source) != len(self.events):
            raise LayoutError(f"{path}: {len(self.events)} event numbers but "
                              f"{len(source)} images")
        self.metadata = {k: metadata.get(k) for k in METADATA_KEYS}
        self.metadata.update({k: v for k, v in metadata.items() if k not in METADATA_KEYS})
        self._mask = None if mask is None else np.asarray(mask, dtype=bool)
        self._center = center
        self._row_sources = row_sources
        self.info = dict(info or {})

    # -- size and events ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        md = self.metadata
        return (f"<{type(self).__name__} {md.get('kind')} {md.get('experiment')} "
                f"run {md.get('run')}: {len(self)} hits, images "
                f"{self.image_shape if self.has_images else 'absent'}, {self.path}>")

    def event_table(self) -> np.ndarray:
        """Structured array (source, run, event), one row per hit."""
        # A one-class CXI export may gather hits of several runs: it stores each hit's run.
        run = self.info.get("row_runs", self.metadata.get("run"))
        # Absolute paths: the manifold must find its runs again from any working folder
        # (CXI export, GUI), not only from the one embed ran in.
        source = (os.path.abspath(self.path) if self._row_sources is None
                  else [os.path.abspath(s) for s in self._row_sources])
        return make_event_table(source, -1 if run is None else run, self.events)

    # -- images ---------------------------------------------------------------------
    @property
    def has_images(self) -> bool:
        """False for litPixels files and for hits saved without --saveADU."""
        return bool(self.image_source.has_images)

    @property
    def image_shape(self) -> tuple[int, int] | None:
        """``(H, W)`` of one image, or None when the run has no images."""
        shape = self.image_source.shape
        return None if shape is None else (int(shape[0]), int(shape[1]))

    def image(self, i: int) -> np.ndarray:
        """float32 ``(H, W)`` image of the ``i``-th hit; NaN/inf pixels are left as read."""
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"hit {i} out of range for a run of {n} hits")
        return self.image_source.read(np.array([int(i) % n]))[0]

    def images(self, sel=slice(None)) -> np.ndarray:
        """float32 ``(k, H, W)`` images of the selected hits (slice, indices or bool mask).

        Only those rows are read from disk.
        """
        return self.image_source.read(normalise_selection(sel, len(self)))

    def iter_images(self, block: int = 256, start: int = 0,
                    stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_row, images)`` blocks of at most ``block`` hits."""
        stop = len(self) if stop is None else min(stop, len(self))
        for a in range(start, stop, block):
            yield a, self.images(slice(a, min(a + block, stop)))

    def bad_pixel_mask(self, sel=slice(None)) -> np.ndarray:
        """bool ``(k, H, W)``: True where a selected image has a NaN or infinite pixel."""
        return ~np.isfinite(self.images(sel))

    # -- geometry -------------------------------------------------------------------
    @property
    def mask(self) -> np.ndarray | None:
        """bool ``(H, W)``, True = good pixel, or None when the file has no mask."""
        return self._mask

    @property
    def center_from_file(self) -> bool:
        """True when the file gives the beam centre (else :attr:`center` is the image's)."""
        return self._center is not None

    @property
    def center(self) -> tuple[float, float] | None:
        """Beam centre ``(row, col)`` in pixels: from the file, else the image centre."""
        if self._center is not None:
            return (float(self._center[0]), float(self._center[1]))
        shape = self.image_shape
        if shape is None:
            return None
        return ((shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0)

    # -- resources ------------------------------------------------------------------
    def close(self) -> None:
        """Close open files; the run reopens them if read again."""
        self.image_source.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RunSet(Run):
    """Several runs as one: rows are the runs' hits, run after run.

    ``events`` holds the event numbers (not unique across runs); ``event_table()`` tells
    the rows apart by (source, run, event). The mask is the AND of the runs' masks.
    """

    def __init__(self, runs: Sequence[Run]) -> None:
        self.runs = list(runs)
        if not self.runs:
            raise EmptyRunError("no runs given")
        shapes = {r.image_shape for r in self.runs if r.has_images and len(r)}
        if len(shapes) > 1:   # name the files: ConcatSource alone cannot
            which = ", ".join(f"{r.path} ({r.image_shape[0]}x{r.image_shape[1]})"
                              for r in self.runs if r.has_images and len(r))
            raise LayoutError(f"{which}: runs of different image shapes cannot be read as "
                              "one; open (or embed) each image shape separately")
        source = ConcatSource([r.image_source for r in self.runs])
        events = np.concatenate([r.events for r in self.runs])

        def common(key):
            values = {r.metadata.get(key) for r in self.runs}
            return values.pop() if len(values) == 1 else None

        metadata = {k: common(k) for k in METADATA_KEYS}
        metadata["kind"] = common("kind") or "mixed"
        metadata["runs"] = [r.metadata.get("run") for r in self.runs]
        masks = [r.mask for r in self.runs if r.mask is not None]
        mask = None
        if masks and source.shape is not None and all(m.shape == source.shape for m in masks):
            mask = np.logical_and.reduce(masks)
        super().__init__(self.runs[0].path, source, events, metadata, mask=mask,
                         center=self.runs[0]._center,
                         info={"paths": [r.path for r in self.runs]})

    def event_table(self) -> np.ndarray:
        return concat_event_tables([r.event_table() for r in self.runs])

    def close(self) -> None:
        for r in self.runs:
            r.close()
