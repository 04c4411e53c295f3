"""Where an output may go: no command writes over a file it did not create as that kind.

Every command that writes (``embed -o``, ``merge -o`` and ``--report``, ``export -o``,
``simulate``) asks :func:`check_output` first. A file already at the path (after symlinks)
is identified by :func:`output_kind`: HDF5 files by :func:`~.schema.file_kind`, our text
outputs by their first bytes. Another kind is refused with one line; our own output of
the same kind is replaced when that is the command's documented default, else only with
``--force``. See docs/labels.md, "Outputs never replace other files".
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import InputError
from .h5files import SQLITE_MAGIC
from .schema import CONFLICT_FIELDS, TABLE_FIELDS, kind_words, path_kind

_PSOCAKE_JSON = re.compile(rb'^\s*\{\s*(\}|"-?\d+"\s*:\s*")')
_HEAD = 64 * 1024


def output_kind(path: str | os.PathLike) -> str:
    """What the existing file at ``path`` is: a :func:`~.schema.file_kind` for HDF5,
    else ``label-table-csv``, ``label-table-json``, ``conflict-report``, ``blacklist``,
    ``psocake-json``, ``sqlite``, ``empty`` or ``unknown``."""
    p = Path(path)
    kind = path_kind(p)
    if kind != "unreadable":
        return kind
    try:
        with open(p, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return "unknown"
    return _text_kind(head)


def _text_kind(head: bytes) -> str:
    if not head:
        return "empty"
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    first = head.split(b"\n", 1)[0].strip()
    if first == ",".join(TABLE_FIELDS).encode():
        return "label-table-csv"
    if first == ",".join(CONFLICT_FIELDS).encode():
        return "conflict-report"
    text = head.lstrip()
    if text.startswith(b"["):
        keys = [f'"{k}"'.encode() for k in TABLE_FIELDS]
        if text.rstrip() == b"[]" or all(k in head for k in keys):
            return "label-table-json"
        return "unknown"
    if _PSOCAKE_JSON.match(head):
        return "psocake-json"
    lines = head.splitlines()
    if len(head) == _HEAD:
        lines = lines[:-1]   # the last line may be cut
    if lines and all(ln in (b"0", b"1") for ln in lines):
        return "blacklist"
    return "unknown"


def check_output(path: str | os.PathLike, kind: str, force: bool = False,
                 replace: bool = True) -> bool:
    """Whether writing an output of ``kind`` to ``path`` replaces a file there.

    Returns False when nothing is there. Raises :class:`InputError` (one line) when the
    path, after symlinks, is a folder or a file of another kind, or when it is of the same
    kind but ``replace`` is False (the command replaces its outputs only with --force)
    and ``force`` is not given.
    """
    p = Path(path)
    real = Path(os.path.realpath(p))
    via = f" (the link {p} points to {real})" if p.is_symlink() else ""
    if not real.exists():
        return False
    if real.is_dir():
        raise InputError(f"{p}: is a folder{via}; refusing to write there: give another -o "
                         "name (of a file)")
    found = output_kind(real)
    if found != kind:
        raise InputError(f"{p}: exists and is {kind_words(found)}{via}; refusing to replace "
                         f"it with {kind_words(kind)}: give another -o name (or move it away "
                         "first)")
    if not (replace or force):
        raise InputError(f"{p}: exists and is already {kind_words(kind)}{via}; replace it "
                         "with --force, or give another -o name")
    return True
