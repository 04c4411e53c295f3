"""Opening HDF5 inputs safely: each way a file can be unusable becomes one clear error.

Missing, a folder, empty, not HDF5, truncated: the specific
:class:`~psocake_labeler.errors.InputError` names the file and what to do. Used for runs,
label files and manifold files alike.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MissingFileError, NotHDF5Error


def check_file(path: str | Path, what: str | None = None) -> Path:
    """Raise the specific :class:`InputError` if ``path`` cannot be an HDF5 file.

    Missing, a folder, empty (0 bytes), or not HDF5 by its signature. A file whose
    signature is right but whose body is cut off is caught by :func:`open_h5`. ``what``
    names the file expected (e.g. "label file") when it is not a Psocake output.
    """
    import h5py

    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{p}: no such file; check the path" + (
            f" of the {what}" if what else " (Psocake writes hits to "
            "<psocakeDir>/r<run:04d>/<exp>_<run:04d>.cxi)"))
    if p.is_dir():
        raise NotHDF5Error(f"{p}: is a folder, not a file; give the {what or 'file itself'}")
    size = p.stat().st_size
    if size == 0:
        raise NotHDF5Error(f"{p}: the file is empty (0 bytes); the job that writes it "
                           "probably failed or is still starting: re-run it")
    try:
        ok = h5py.is_hdf5(str(p))
    except OSError as exc:
        raise NotHDF5Error(f"{p}: cannot be read ({first_line(exc)})") from None
    if not ok:
        raise NotHDF5Error(f"{p}: is not an HDF5 file ({size} bytes without the HDF5 "
                           f"signature); give a {what or 'Psocake .cxi or .h5 output'}")
    return p


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (HDF5's own messages can span several)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_h5(path: str | Path):
    """Open ``path`` read-only after :func:`check_file`; truncation becomes NotHDF5Error."""
    import h5py

    p = check_file(path)
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise NotHDF5Error(f"{p}: HDF5 signature present but the file cannot be opened "
                           f"({first_line(exc)}); it is probably truncated (copy interrupted "
                           "or job killed): copy or write it again") from None


def get_dataset(f, name: str):
    """The dataset ``name`` or None (dangling soft links and groups count as absent)."""
    import h5py

    try:
        obj = f.get(name)
    except (KeyError, OSError):
        return None
    return obj if isinstance(obj, h5py.Dataset) else None


def read_dataset(f, name: str, path: str | Path) -> np.ndarray:
    """Read a whole small dataset, turning low-level read failures into NotHDF5Error."""
    try:
        return f[name][()]
    except OSError as exc:
        raise NotHDF5Error(f"{path}: dataset {name} cannot be read ({exc}); the file is "
                           "probably truncated: copy or write it again") from None


def attr_text(value) -> str | None:
    """A scalar or 1-element string dataset/attribute as str."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return None
        value = value.reshape(-1)[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def median_number(f, name: str, n: int | None = None) -> float | None:
    """Median of the finite values of a scalar or per-hit numeric dataset, or None."""
    ds = get_dataset(f, name)
    if ds is None or ds.dtype.kind not in "iuf":
        return None
    try:
        values = np.asarray(ds[()], dtype=np.float64).reshape(-1)
    except OSError:
        return None
    if n is not None and len(values) > 1:
        values = values[:n]
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None


def row_count(ds) -> int:
    """Length of a per-hit dataset (a scalar counts as one row)."""
    return int(ds.shape[0]) if ds.ndim else 1


def attr_str(obj, name: str) -> str:
    """The attribute ``name`` of an HDF5 object as str ("" when absent)."""
    return attr_text(obj.attrs.get(name)) or ""
