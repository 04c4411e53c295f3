"""Atomic file writes: a crash or a full disk never leaves a half-written file behind.

Every file we write goes to a temporary file beside its target and is renamed over it only
when complete. A write that fails (no space, quota, permissions) becomes one
:class:`~psocake_labeler.errors.WriteError` naming the file, the space it needs and the
space free, after the temporary file is removed: the target is as it was.

HDF5 files are written through :class:`GuardedFile`. When the HDF5 library itself meets a
full disk it leaves its caches in a state in which closing the file (or Python's exit)
dies of SIGSEGV; the guard instead takes every write, remembers the first failure and lets
HDF5 finish as if all went well, and the file, which is then discarded, is never used.

The temporary file ``.<name>.<random>.tmp`` is locked (POSIX ``lockf``; HDF5 takes ``flock``
locks of its own, which would conflict) while it is written, so that
:func:`clean_stray_temps` can tell one a crashed writer left (no lock) from one being
written now.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import io
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

import h5py

from ..errors import InputError, WriteError

# Memory kept for writes after a failure (HDF5's metadata and the data in flight).
OVERLAY_LIMIT = 1 << 30
_GUARDS: dict[int, GuardedFile] = {}   # open HDF5 file id -> its guard
# this process's temporary files being written: POSIX locks do not stop their owner
_WRITING: set[Path] = set()


class GuardedFile(io.FileIO):
    """A file for h5py's ``fileobj`` driver whose failed writes are recorded, not raised.

    After the first failed write (``failed``), writes are kept in memory instead (up to
    :data:`OVERLAY_LIMIT` bytes) and reads see them, so that HDF5 reading back its own
    metadata finds what it wrote and finishes cleanly. ``wanted`` is the size the file
    would have had: the space the write needs. The file is discarded afterwards.
    """

    failed: OSError | None = None
    wanted: int = 0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._overlay: list[tuple[int, bytes]] = []
        self._kept = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        pos = self.tell()
        self.wanted = max(self.wanted, pos + view.nbytes)
        if self.failed is None:
            try:
                done = 0
                while done < view.nbytes:
                    done += super().write(view[done:]) or 0
                return view.nbytes
            except OSError as exc:
                self.failed = exc
        if self._kept + view.nbytes <= OVERLAY_LIMIT:
            self._overlay.append((pos, bytes(view)))
            self._kept += view.nbytes
        self.seek(pos + view.nbytes)   # as if written: HDF5 goes on to a clean close
        return view.nbytes

    def readinto(self, buffer) -> int:
        if self.failed is None:
            return super().readinto(buffer)
        view = memoryview(buffer).cast("B")
        pos = self.tell()
        got = super().readinto(view) or 0
        view[got:] = bytes(view.nbytes - got)
        for start, chunk in self._overlay:   # in write order: later writes win
            a, b = max(pos, start), min(pos + view.nbytes, start + len(chunk))
            if a < b:
                view[a - pos:b - pos] = chunk[a - start:b - start]
        self.seek(pos + view.nbytes)
        return view.nbytes

    def truncate(self, size: int | None = None) -> int:
        if self.failed is None:
            try:
                return super().truncate(size)
            except OSError as exc:
                self.failed = exc
        return self.tell() if size is None else size


def open_guarded(path: str | os.PathLike) -> h5py.File:
    """A new HDF5 file at ``path`` written through a :class:`GuardedFile`; end it with
    :func:`close_guarded`, which raises the first failed write."""
    raw = GuardedFile(os.fspath(path), "w+")
    try:
        f = h5py.File(raw, "w")
    except BaseException:
        raw.close()
        raise
    _GUARDS[f.id.id] = raw
    return f


def close_guarded(f: h5py.File) -> None:
    """Close a file of :func:`open_guarded`; raise OSError (``needed`` = the size the
    file needs) if any write failed."""
    raw = _GUARDS.pop(f.id.id, None) if f.id.valid else None
    try:
        f.close()
    finally:
        if raw is not None:
            raw.close()
    if raw is not None and raw.failed is not None:
        exc = OSError(raw.failed.errno, raw.failed.strerror, raw.name)
        exc.needed = raw.wanted
        raise exc


@contextlib.contextmanager
def guarded_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """:func:`open_guarded` as a context manager (closed, and checked, on exit)."""
    f = open_guarded(path)
    try:
        yield f
    finally:
        close_guarded(f)


def human_size(n: float) -> str:
    """``n`` bytes in words: 512 B, 3.2 kB, 1.5 MB, 7.3 TB."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000.0
    return f"{n:.3g} PB"


def free_space(folder: str | os.PathLike) -> int | None:
    """Bytes free for us in ``folder``'s file system, None when it cannot be told."""
    try:
        return int(shutil.disk_usage(folder).free)
    except OSError:
        return None


def write_error(path: str | os.PathLike, exc: OSError, needed: int | None = None,
                existed: bool | None = None) -> WriteError:
    """The one-line error for a failed write of ``path``: what, how much space, and that
    nothing was lost (the caller has removed the temporary file)."""
    path = Path(path)
    existed = path.exists() if existed is None else existed
    free = free_space(path.parent if path.parent.exists() else Path.cwd())
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left" if exc.errno == errno.ENOSPC else "disk quota exceeded"
        room = (f"needs {human_size(needed)}" if needed else "needs more space") + (
            f", {human_size(free)} free in {path.parent}" if free is not None else "")
        what = f"cannot be written: {what} ({room})"
    else:
        what = (f"cannot write there ({exc.strerror or str(exc).splitlines()[0]}); choose a "
                "writable folder")
    kept = "the existing file is unchanged" if existed else "no file was created"
    return WriteError(f"{path}: {what}; nothing was lost: {kept} and the temporary file was "
                      "removed")


def check_room(path: str | os.PathLike, needed: int) -> None:
    """Raise :class:`WriteError` before any work when ``needed`` bytes do not fit."""
    path = Path(path)
    free = free_space(path.parent if path.parent.exists() else Path.cwd())
    if free is not None and needed > free:
        raise write_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), needed)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, size_hint: int = 0,
                exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    The temporary file lives in the same folder so that the final ``os.replace`` is a
    rename on one file system, which POSIX makes atomic. ``size_hint`` (bytes) is checked
    against the free space first; any OSError while writing becomes a WriteError.
    ``exclusive``: put it in place only if ``path`` does not exist (a hard link, atomic
    too); FileExistsError otherwise.
    """
    path = Path(path)
    if path.exists() and not path.is_file():   # follows links: /dev/stdout is a pipe
        what = "a folder" if path.is_dir() else "not a regular file (a device or pipe)"
        raise InputError(f"{path}: is {what}; give the path of a file to write")
    if path.is_symlink():
        path = Path(os.path.realpath(path))   # replace the file the link names, keep the link
    existed = path.exists()
    if size_hint:
        check_room(path, size_hint)
    tmp, fd = None, None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        fcntl.lockf(fd, fcntl.LOCK_EX)    # held to the end: "being written, not stray"
        tmp = Path(name)
        _WRITING.add(tmp)
        _set_mode(tmp, path)
        yield tmp
        fcntl.lockf(fd, fcntl.LOCK_EX)    # again: the writer closing its handle released it
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if exclusive:
            _link_new(tmp, path)
        else:
            os.replace(tmp, path)
    except FileExistsError:
        raise                             # exclusive: the caller says what exists
    except OSError as exc:
        _remove(tmp)   # first, so that the free space said is the space there is
        raise write_error(path, exc, getattr(exc, "needed", None) or size_hint or None,
                          existed) from None
    finally:
        _remove(tmp)
        if fd is not None:
            os.close(fd)
        _WRITING.discard(tmp)


def _link_new(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)            # atomic, and fails when path exists
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP) or path.exists():
            raise
        os.replace(tmp, path)         # a file system without hard links: best effort


def clean_stray_temps(path: str | os.PathLike) -> int:
    """Delete the temporary files of ``path`` that crashed writers left; returns how many.

    A temporary file whose lock can be taken has no writer any more. Files we cannot
    delete (another user's folder) are left.
    """
    path = Path(path)
    count = 0
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if tmp in _WRITING:
            continue
        try:
            fd = os.open(tmp, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            tmp.unlink()
            count += 1
        except OSError:
            pass    # locked: being written right now; or not ours to delete
        finally:
            os.close(fd)
    return count


def _remove(tmp: Path | None) -> None:
    if tmp is not None and tmp.exists():
        tmp.unlink()


def _set_mode(tmp: Path, path: Path) -> None:
    # mkstemp makes the file private (0600); label files are shared between users, so
    # give it the mode of the file it replaces, else the usual one under the umask.
    if path.exists():
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, schema: str, version: int,
              size_hint: int = 0) -> Iterator[h5py.File]:
    """Open a new HDF5 file for writing that replaces ``path`` atomically on close.

    The root gets ``schema`` and ``schema_version`` attributes naming the format.
    """
    with atomic_path(path, size_hint) as tmp:
        with guarded_h5(tmp) as f:
            f.attrs["schema"] = schema
            f.attrs["schema_version"] = version
            yield f


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    data = text.encode("utf-8")
    with atomic_path(path, len(data)) as tmp:
        tmp.write_bytes(data)
