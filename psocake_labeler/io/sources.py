"""Image sources: where the pixels of a run's hits come from.

A :class:`~psocake_labeler.io.runs.Run` asks its source for rows and never knows whether they
come from an HDF5 dataset, from several per-rank files, or from psana inside Psocake. A new
backend only has to implement :class:`ImageSource`.
"""
from __future__ import annotations

import abc
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import LayoutError, NoImagesError, NotHDF5Error


def contiguous_segments(rows: np.ndarray) -> list[tuple[int, int]]:
    """Split sorted unique ``rows`` into ``[start, stop)`` runs of consecutive integers."""
    if len(rows) == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(rows)]])
    return [(int(rows[a]), int(rows[b - 1]) + 1) for a, b in zip(starts, stops)]


class ImageSource(abc.ABC):
    """Rows of images, read on demand.

    Attributes
    ----------
    has_images : bool
        False when the source only knows how many hits there are.
    shape : tuple of int or None
        ``(H, W)`` of one image, None when unknown or absent.
    """

    has_images: bool = True
    shape: tuple[int, int] | None = None

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of rows (hits)."""

    @abc.abstractmethod
    def read(self, rows: np.ndarray) -> np.ndarray:
        """Return float32 ``(len(rows), H, W)`` for valid row indices, in the order given."""

    def describe(self) -> str:
        """Where the images come from, in a few words."""
        return type(self).__name__

    def close(self) -> None:  # noqa: B027 (a source without files has nothing to close)
        """Release open files (reading again reopens them)."""


class H5DatasetSource(ImageSource):
    """Images stored as a 3-D dataset ``(hits, H, W)`` of one HDF5 file.

    Only the requested rows are read: consecutive rows in one hyperslab, so that a slice
    costs one read and memory stays proportional to the request.
    """

    def __init__(self, path: str | Path, dataset: str, length: int,
                 shape: tuple[int, int]) -> None:
        self.path = str(path)
        self.dataset = dataset
        self._len = int(length)
        self.shape = (int(shape[0]), int(shape[1]))
        self._file = None

    def __len__(self) -> int:
        return self._len

    def __getstate__(self) -> dict:
        # Open h5py handles cannot be pickled; the copy reopens the file on first read.
        state = self.__dict__.copy()
        state["_file"] = None
        return state

    def _ds(self):
        import h5py

        if self._file is None:
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as exc:
                raise NotHDF5Error(f"{self.path}: cannot be opened any more ({exc}); "
                                   "check that the file is complete") from None
        return self._file[self.dataset]

    def read(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return np.empty((0,) + self.shape, dtype=np.float32)
        uniq, inverse = np.unique(rows, return_inverse=True)
        in_order = len(uniq) == len(rows) and bool((uniq == rows).all())
        # Rows asked in increasing order (slices, blocks) are read straight into the
        # result; otherwise once each, then arranged as asked.
        block = np.empty((len(uniq),) + self.shape, dtype=np.float32)
        ds = self._ds()
        pos = 0
        try:
            for start, stop in contiguous_segments(uniq):
                if ds.dtype == np.float32:
                    ds.read_direct(block, np.s_[start:stop], np.s_[pos:pos + stop - start])
                else:  # integer photon counts: h5py converts on assignment
                    block[pos:pos + stop - start] = ds[start:stop]
                pos += stop - start
        except OSError as exc:
            raise NotHDF5Error(
                f"{self.path}: dataset {self.dataset} cannot be read (rows {uniq[0]}.."
                f"{uniq[-1]}): {exc}; the file is probably truncated or still being "
                "written") from None
        return block if in_order else block[inverse.reshape(-1)]

    def describe(self) -> str:
        return f"{self.path}:{self.dataset}"

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class NoImageSource(ImageSource):
    """A source that knows how many hits there are but has no pixels.

    Reading raises :class:`NoImagesError` with ``message``, which names the file and what
    to do about it.
    """

    has_images = False

    def __init__(self, length: int, message: str) -> None:
        self._len = int(length)
        self.message = message
        self.shape = None

    def __len__(self) -> int:
        return self._len

    def read(self, rows: np.ndarray) -> np.ndarray:
        raise NoImagesError(self.message)

    def describe(self) -> str:
        return "no images"


class ConcatSource(ImageSource):
    """Several sources one after the other (per-rank files, or several runs)."""

    def __init__(self, sources: Sequence[ImageSource]) -> None:
        self.sources = list(sources)
        self.offsets = np.cumsum([0] + [len(s) for s in self.sources]).astype(np.int64)
        self.has_images = all(s.has_images for s in self.sources)
        shapes = {s.shape for s in self.sources if s.has_images and len(s)}
        if len(shapes) > 1:
            raise LayoutError("the runs have different image shapes "
                              f"({', '.join(str(s) for s in sorted(shapes))}); open them "
                              "separately or with the same detector")
        self.shape = shapes.pop() if shapes else None

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def read(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if self.shape is None and len(rows):
            # Every part without images raises its own message naming its file.
            part = int(np.searchsorted(self.offsets, rows[0], side="right") - 1)
            return self.sources[part].read(rows[:1] - self.offsets[part])
        out = np.empty((len(rows),) + (self.shape or (0, 0)), dtype=np.float32)
        part = np.searchsorted(self.offsets, rows, side="right") - 1
        for p in np.unique(part):
            sel = np.flatnonzero(part == p)
            out[sel] = self.sources[p].read(rows[sel] - self.offsets[p])
        return out

    def describe(self) -> str:
        return f"{len(self.sources)} parts"

    def close(self) -> None:
        for s in self.sources:
            s.close()


def psana_available() -> bool:
    """True when LCLS's psana1 can be imported here (inside Psocake, on LCLS machines)."""
    import importlib.util

    return importlib.util.find_spec("psana") is not None


class PsanaSource(ImageSource):
    """Images of a run's hits read through psana (only inside Psocake or at LCLS).

    ``psana`` is imported on first read, so this class can be built, listed and tested
    anywhere; reading without psana raises :class:`NoImagesError` saying so.
    """

    def __init__(self, experiment: str, run: int, detector: str, events: np.ndarray,
                 shape: tuple[int, int] | None = None) -> None:
        self.experiment, self.run, self.detector = experiment, int(run), detector
        self.events = np.asarray(events, dtype=np.int64)
        self._shape = shape
        self._state = None

    def __len__(self) -> int:
        return len(self.events)

    @property
    def shape(self) -> tuple[int, int] | None:
        """``(H, W)`` of psana's assembled image (read from the first hit when first asked;
        None when psana cannot give it)."""
        if self._shape is None and len(self.events):
            try:
                self.read(np.array([0]))
            except NoImagesError:
                return None
        return self._shape

    def _open(self):
        if self._state is None:
            try:
                import psana  # noqa: F401  (only present on LCLS machines)
            except ImportError:
                raise NoImagesError(
                    f"psana is not installed, so the images of {self.experiment} run "
                    f"{self.run} ({self.detector}) cannot be read; open the run inside "
                    "Psocake or on an LCLS machine") from None
            ds = psana.DataSource(f"exp={self.experiment}:run={self.run}:idx")
            run = next(ds.runs())
            self._state = (run, run.times(), psana.Detector(self.detector))
        return self._state

    def read(self, rows: np.ndarray) -> np.ndarray:
        run, times, det = self._open()
        images = []
        for r in np.asarray(rows, dtype=np.int64):
            img = det.image(run.event(times[int(self.events[r])]))
            if img is None:
                raise NoImagesError(f"psana returned no image for event {self.events[r]} "
                                    f"of {self.experiment} run {self.run} ({self.detector})")
            images.append(np.asarray(img, dtype=np.float32))
        if images and self._shape is None:
            self._shape = tuple(int(n) for n in images[0].shape)
        return np.stack(images) if images else np.empty((0,) + (self._shape or (0, 0)),
                                                        dtype=np.float32)

    def describe(self) -> str:
        return f"psana exp={self.experiment}:run={self.run} {self.detector}"

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_state"] = None
        return state
