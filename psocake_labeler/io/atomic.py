"""Atomic file writes: a crash never leaves a half-written file behind."""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator

import h5py


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    The temporary file lives in the same folder so that the final ``os.replace`` is a
    rename on one file system, which POSIX makes atomic.
    """
    path = Path(path)
    if path.exists() and not path.is_file():   # follows links: /dev/stdout is a pipe
        from ..errors import InputError
        what = "a folder" if path.is_dir() else "not a regular file (a device or pipe)"
        raise InputError(f"{path}: is {what}; give the path of a file to write")
    if path.is_symlink():
        path = Path(os.path.realpath(path))   # replace the file the link names, keep the link
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp makes the file private (0600); label files are shared between users, so
    # give it the mode of the file it replaces, else the usual one under the umask.
    if path.exists():
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, schema: str, version: int) -> Iterator[h5py.File]:
    """Open a new HDF5 file for writing that replaces ``path`` atomically on close.

    The root gets ``schema`` and ``schema_version`` attributes naming the format.
    """
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema"] = schema
            f.attrs["schema_version"] = version
            yield f


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
