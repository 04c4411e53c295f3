"""Reading a run's rows block by block, with progress reports."""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..errors import InputError, NoImagesError
from ..progress import ProgressCallback, report

# Pixels per block read: about 32 MB of float32 images, whatever the detector size.
BLOCK_PIXELS = 2 ** 23
#: Pixels per sub-block a full-resolution step works on at once (4 MiB of float32): every
#: image is done on its own anyway, and small temporaries are reused by the allocator
#: instead of being mapped (and faulted in) afresh for every 32 MB block.
SUB_PIXELS = 2 ** 20


def chunk_rows(shape: tuple[int, int], pixels: int = BLOCK_PIXELS) -> int:
    """Images per block so that a block holds about ``pixels`` pixels (1 to 1024)."""
    return int(max(1, min(1024, pixels // max(1, shape[0] * shape[1]))))


def iter_blocks(run, start: int, stop: int) -> Iterator[np.ndarray]:
    """Yield float32 image blocks ``(k, H, W)`` of rows ``[start, stop)``."""
    rows = chunk_rows(run.image_shape)
    for a in range(start, stop, rows):
        yield np.asarray(run.images(slice(a, min(a + rows, stop))), dtype=np.float32)


def iter_part_blocks(run, start: int, stop: int, parts: list
                     ) -> Iterator[tuple[np.ndarray, Any]]:
    """``(images, tag)``: the blocks of rows ``start..stop`` as :func:`iter_blocks` gives
    them, cut where a part of ``parts`` (``(rows, tag)`` in row order, e.g. each run's
    geometry) ends, each with its part's tag."""
    first = 0
    for rows, tag in parts:
        lo, hi = max(start, first), min(stop, first + rows)
        if lo < hi:
            for images in iter_blocks(run, lo, hi):
                yield images, tag
        first += rows


class Tracker:
    """Counts images processed on this rank and reports them as stage ``features``."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self.progress = progress
        self.done = 0
        self.total = 0

    def plan(self, more: int) -> None:
        """Add ``more`` images still to process to the announced total."""
        self.total += int(more)
        report(self.progress, "features", self.done, self.total)

    def add(self, k: int) -> None:
        self.done += int(k)
        report(self.progress, "features", self.done, self.total)


class ImageArray:
    """Images held in memory ``(n, H, W)``, read like a run: no file mask, beam centre in
    the middle of the image, no geometry."""

    path = "the images"
    mask = None
    center = None
    has_images = True
    metadata: dict = {}

    def __init__(self, images: np.ndarray) -> None:
        x = np.asarray(images, dtype=np.float32)
        if x.ndim not in (2, 3):
            raise InputError(f"images must be an array (n, H, W) or one image (H, W), not of "
                             f"shape {x.shape}")
        self._x = x[None] if x.ndim == 2 else x
        self.image_shape = tuple(self._x.shape[1:])

    def __len__(self) -> int:
        return len(self._x)

    def images(self, sel) -> np.ndarray:
        # A copy: the caller's array is never touched, whatever a step does in place.
        return self._x[sel].copy()


def as_source(data):
    """``data`` as something read like a run: a run as is, an images array wrapped."""
    if hasattr(data, "images") and hasattr(data, "image_shape"):
        return data
    return ImageArray(data)


def require_images(run) -> None:
    """Raise :class:`NoImagesError` when ``run`` has no images, with the run's own remedy."""
    if run.image_shape is not None and getattr(run, "has_images", True):
        return
    path = getattr(run, "path", "the run")
    # Several runs read as one: blame the file without images, not the first file.
    for part in getattr(run, "runs", [run]):
        if getattr(part, "has_images", True) and part.image_shape is not None:
            continue
        path = getattr(part, "path", path)
        if len(part):
            try:
                part.image(0)   # a Run's image source says why (litPixels, no --saveADU)
            except NoImagesError:
                raise
            except Exception:  # noqa: BLE001 - anything else: the generic message below
                pass
        break
    raise NoImagesError(f"{path}: the run holds no images; save the hits with images "
                        f"(xtc2cxi --saveADU), or open the run inside Psocake, where images "
                        f"come from psana")
