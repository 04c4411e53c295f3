"""Opening HDF5 inputs safely: each way a file can be unusable becomes one clear error.

Missing, a folder, empty, not HDF5, truncated: the specific
:class:`~psocake_labeler.errors.InputError` names the file and what to do. Used for runs,
label files and manifold files alike.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import LayoutError, MissingFileError, NotHDF5Error

# HDF5 gives up after 16 nested soft links; we stop there too, with the path in the message.
MAX_LINK_DEPTH = 16
# Whole datasets we read into memory (event numbers, metric, mask) are at most this big: a
# header may declare 10^12 elements in a file of a few kB, and reading it would try to
# allocate terabytes. Psocake's largest per-event array (10^7 events, int64) is 80 MB.
MAX_READ_BYTES = 1 << 30
_FOLLOW_EXTERNAL = {"allowed": False}
# Our label store is an SQLite database (its ``meta`` table holds the schema), not HDF5.
SQLITE_MAGIC = b"SQLite format 3\x00"


def allow_external_links(allowed: bool = True) -> None:
    """Follow HDF5 external links (data in another file) when reading runs.

    Off by default: a run whose datasets point into other files is refused with one line
    naming the link, since the data then depends on files the user did not name
    (``--external-links`` on the command line turns this on).
    """
    _FOLLOW_EXTERNAL["allowed"] = bool(allowed)


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
        with open(p, "rb") as fh:
            sqlite = fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
        # A label store handed where a run or manifold belongs is a common slip: say so.
        found = ("an SQLite database (psocake-labeler's label files are SQLite), not HDF5"
                 if sqlite else f"not an HDF5 file ({size} bytes without the HDF5 signature)")
        raise NotHDF5Error(f"{p}: is {found}; give a {what or 'Psocake .cxi or .h5 output'}")
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
    """The dataset ``name``, or None when there is none (or a group is there).

    Links on the way are followed one by one, so that a soft link to nothing, a loop of
    soft links, or an external link (unless :func:`allow_external_links`) is a
    :class:`LayoutError` naming the link, not a missing dataset or a RuntimeError.
    """
    import h5py

    obj = resolve(f, name)
    return obj if isinstance(obj, h5py.Dataset) else None


def resolve(f, name: str, depth: int = 0):
    """The object at ``name`` in the open file ``f`` (None if absent), links checked."""
    import h5py

    parts = [p for p in name.split("/") if p]
    group = f["/"]
    obj = group
    for i, part in enumerate(parts):
        here = "/" + "/".join(parts[:i + 1]) if group.name == "/" else \
            f"{group.name}/{part}"
        try:
            link = group.get(part, getlink=True)
        except (KeyError, OSError, RuntimeError, ValueError):
            return None
        if link is None:
            return None
        if isinstance(link, h5py.SoftLink):
            obj = _follow_soft(f, here, link.path, group.name, depth)
        elif isinstance(link, h5py.ExternalLink):
            obj = _follow_external(f, group, part, here, link)
        else:
            try:
                obj = group[part]
            except (KeyError, OSError, RuntimeError, ValueError):
                return None
        if i < len(parts) - 1:
            if not isinstance(obj, h5py.Group):
                return None
            group = obj
    return obj


def _follow_soft(f, here: str, target: str, parent: str, depth: int):
    if depth >= MAX_LINK_DEPTH:
        raise LayoutError(f"{f.filename}: {here} is part of a loop of soft links (more than "
                          f"{MAX_LINK_DEPTH} links deep); the file is damaged: write it again")
    full = target if target.startswith("/") else f"{parent.rstrip('/')}/{target}"
    obj = resolve(f, full, depth + 1)
    if obj is None:
        raise LayoutError(f"{f.filename}: {here} is a broken soft link (it points to "
                          f"{target}, which does not exist); the file is incomplete: write "
                          "it again")
    return obj


def _follow_external(f, group, part: str, here: str, link):
    where = f"{link.filename}:{link.path}"
    if not _FOLLOW_EXTERNAL["allowed"]:
        raise LayoutError(f"{f.filename}: {here} is an external link to {where}; external "
                          "links are not followed unless asked for (--external-links)")
    target = Path(link.filename)
    if not target.is_absolute():
        target = Path(f.filename).parent / target
    try:
        return group[part]
    except (KeyError, OSError, RuntimeError, ValueError):
        missing = "does not exist" if not target.exists() else "has no such dataset"
        raise LayoutError(f"{f.filename}: {here} is a broken external link ({where}: the "
                          f"file {missing})") from None


def read_dataset(f, name: str, path: str | Path) -> np.ndarray:
    """Read a whole small dataset, turning low-level read failures into NotHDF5Error.

    A dataset declared larger than :data:`MAX_READ_BYTES` is refused before any memory is
    allocated (its header, not its contents, says how big it is).
    """
    ds = get_dataset(f, name)
    if ds is None:
        raise LayoutError(f"{path}: no dataset {name}")
    nbytes = int(np.prod(ds.shape, dtype=np.float64) * ds.dtype.itemsize) if ds.shape else 0
    if nbytes > MAX_READ_BYTES:
        raise LayoutError(f"{path}: dataset {name} declares {ds.shape} elements "
                          f"({nbytes / 2**30:.3g} GiB), far more than a run holds; the file "
                          "is damaged or not a Psocake output")
    try:
        return ds[()]
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
