"""``open_run``: whatever the user names (file, folder, glob, list) as one :class:`Run`."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError, LayoutError, MissingFileError
from . import litpixels, sfx, spi
from .h5files import open_h5
from .runs import Run, RunSet
from .schema import (
    LIT_PIXELS,
    SFX_ALL,
    SFX_HITS,
    SPI_HITS,
    file_kind,
    not_a_run,
    parse_name,
)


def _expand(path_or_paths) -> list[Path]:
    """Files named by a path, a folder, a glob, or a list of those (in order)."""
    import glob

    if isinstance(path_or_paths, (list, tuple)):
        out: list[Path] = []
        for p in path_or_paths:
            out.extend(_expand(p))
        return out
    p = Path(os.fspath(path_or_paths))
    if p.is_dir():
        files = sorted(q for q in p.iterdir()
                       if q.is_file() and q.suffix in (".cxi", ".h5")
                       and not q.name.startswith("."))
        return [_Folder(q) for q in files]  # marked: skip what is not a run
    if not p.exists() and glob.has_magic(str(p)):
        files = sorted(glob.glob(str(p)))
        if not files:
            raise MissingFileError(f"{p}: no file matches this pattern")
        return [_Folder(q) for q in map(Path, files)]
    return [p]


class _Folder(type(Path())):  # noqa: N801
    """A path found by listing a folder or a glob (not named by the user)."""


def open_run(path_or_paths, use_psana: bool | None = None) -> Run:
    """Open Psocake output as a :class:`Run`.

    Parameters
    ----------
    path_or_paths : path, folder, glob, or list of them
        An SPI hits file, an SFX master (gathers its per-rank files) or per-rank file, a
        litPixels ``.h5``, a run folder such as ``r0093/``, a glob, or a list; several runs
        give a :class:`RunSet`.
    use_psana : bool or None
        When a file has hits but no images ("Save hits" without --saveADU), read them
        through psana; None (default): when psana is importable (inside Psocake, at LCLS).

    Raises
    ------
    InputError
        A subclass naming the file (and dataset) and what to do.
    """
    paths = _expand(path_or_paths)
    if isinstance(path_or_paths, (list, tuple)) and not path_or_paths:
        raise InputError("no run files given: pass a .cxi/.h5 file, a run folder or a glob")
    kinds = {}
    for p in paths:
        if p.suffix == ".json" and p.exists():
            raise LayoutError(f"{p}: is a JSON file (a Psocake .label.json?), not a run; "
                              "give the run's .cxi")
        try:
            with open_h5(p) as f:
                kinds[str(p)] = file_kind(f)
        except InputError:
            # A folder may hold a stray broken file; a broken run file is still an error.
            if not isinstance(p, _Folder) or (p.suffix == ".cxi" and parse_name(p)):
                raise
            kinds[str(p)] = "unreadable"
    gathered: set[str] = set()
    for p in paths:
        if kinds[str(p)] == "sfx-master":
            gathered.update(str(q) for q in sfx.rank_files(p))
    image_kinds = ("spi", "sfx-master", "sfx-rank", "cxi")
    has_image_runs = any(k in image_kinds for k in kinds.values())
    runs: list[Run] = []
    for p in paths:
        kind = kinds[str(p)]
        if str(p) in gathered:
            continue  # read through its master
        if isinstance(p, _Folder) and not (kind in image_kinds or (
                kind == "litpixels" and not has_image_runs)):
            continue  # a folder also holds label, truth, metric and other files
        if kind in ("spi", "cxi", "spi-hitfinder", "class-cxi"):
            runs.append(spi.open_spi(Path(p), use_psana=use_psana))
        elif kind in ("sfx-master", "sfx-rank"):
            runs.append(sfx.open_sfx(Path(p)))
        elif kind == "litpixels":
            runs.append(litpixels.open_litpixels(Path(p)))
        else:
            raise not_a_run(Path(p), kind)
    if not runs:
        hitfinder = [p for p in paths if kinds[str(p)] == "spi-hitfinder"]
        if hitfinder:
            spi.open_spi(Path(hitfinder[0]))  # raises its own message (hits not saved)
        where = (", ".join(map(str, path_or_paths)) if isinstance(path_or_paths, (list, tuple))
                 else path_or_paths)
        raise LayoutError(f"{where}: holds no Psocake run file (looked for .cxi/.h5 "
                          f"with {SPI_HITS}, {SFX_ALL}, {SFX_HITS} or {LIT_PIXELS})")
    return runs[0] if len(runs) == 1 else RunSet(runs)
