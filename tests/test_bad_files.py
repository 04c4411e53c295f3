"""Every bad file through every entry point that reads it: one line naming the file, exit 2.

A bad file (missing, a folder, empty, not HDF5, truncated, another kind of file, a damaged
layout) given where a run, a manifold or a label file is expected must give, from the API,
an ``InputError`` whose message is one line naming the file and saying what is wrong; from
the command line, exit 2 and that line on stderr with no traceback. Nothing may be written:
the bad file, the good files beside it and the output folder are the same bytes afterwards.
"""
from __future__ import annotations

import hashlib
import re
import shutil
from functools import partial
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest
from test_hostile_files import EDITS
from test_io_layouts import DET, write_litpixels, write_spi

import psocake_labeler as pl
from psocake_labeler.cli import main
from psocake_labeler.labelfiles.merge import read_label_set


# -- the good files the entry points are given beside the bad one ---------------------------
@pytest.fixture(scope="module")
def goods(tmp_path_factory) -> dict[str, Path]:
    """A run, a manifold and a label file of that manifold (ours, with user labels)."""
    d = tmp_path_factory.mktemp("goods")
    run = d / "amo06516_0093.cxi"
    write_spi(run, hits=30, shape=(16, 16))
    m = pl.build_manifold(np.random.default_rng(0).random((40, 4)), n_components=3, knn=5)
    manifold = d / "good.manifold.h5"
    m.save(manifold)
    labels = d / "good.labels.h5"
    s = pl.LabelSession(pl.Manifold.load(manifold), path=labels, user="ada")
    s.label([0, 1], "Single")
    s.label([2], "Multiple")
    s.save()
    return {"run": run, "manifold": manifold, "labels": labels}


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` with its bytes' hash ("dir" for a folder)."""
    return {str(p.relative_to(folder)): "dir" if p.is_dir() else
            hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))}


# -- bad files: name -> (make(folder, goods) -> path, regex the message must match) ----------
def _h5(path: Path, fill: Callable[[h5py.File], None]) -> Path:
    with h5py.File(path, "w") as f:
        fill(f)
    return path


def _cut(src: Path, path: Path) -> Path:
    path.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return path


def _spi(path: Path, edit: Callable[[h5py.File], None] | None = None, **kw) -> Path:
    write_spi(path, **kw)
    if edit is not None:
        with h5py.File(path, "a") as f:
            edit(f)
    return path


def _replace(name: str, data) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        del f[name]
        f[name] = data
    return edit


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _text(path: Path) -> Path:
    path.write_text("event,label\n1,Single\n")
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _litpixels(path: Path, events: int | None = None) -> Path:
    write_litpixels(path, **({} if events is None else {"events": events}))
    if events is not None:
        with h5py.File(path, "a") as f:
            _replace("/litPixels/event", np.arange(events - 1))(f)
    return path


def _json(path: Path) -> Path:
    path.write_text('{"3": "Single"}')
    return path


def _none_saved(folder: Path) -> Path:
    """The hit finder's counts of a run whose hits were never saved ("Save hits")."""
    folder.mkdir(exist_ok=True)
    return _h5(folder / "amo06516_0093.cxi", lambda f: f.create_dataset(
        "/entry_1/result_1/nHitsAll", data=np.array([3, 50, -1, 7])))


def _schema(schema: str) -> Callable[[h5py.File], None]:
    def fill(f: h5py.File) -> None:
        f.attrs["schema"] = schema
    return fill


def _copy(role: str) -> Callable:
    return lambda d, g: Path(shutil.copy(g[role], d / f"given.{role}.h5"))


def _damaged(edit: Callable[[h5py.File], None]) -> Callable:
    def make(d: Path, g: dict) -> Path:
        path = Path(shutil.copy(g["manifold"], d / "m.h5"))
        with h5py.File(path, "r+") as f:
            edit(f)
        return path
    return make


def _images(f: h5py.File) -> None:
    f.create_dataset("/images/stack", data=np.zeros((3, 4, 4)))


def common(role: str, name: str, folder: str, other: str) -> dict:
    """What every role shares: missing, a folder, empty, not HDF5, truncated, other HDF5
    (a file named ``name``; ``folder`` and ``other``: what the message says of the last)."""
    return {
        "missing": (lambda d, g: d / name, "no such"),
        "folder": (lambda d, g: _folder(d / name), folder),
        "empty": (lambda d, g: _empty(d / name), r"empty \(0 bytes\)"),
        "not HDF5": (lambda d, g: _text(d / name), "not an HDF5 file"),
        "truncated": (lambda d, g: _cut(g[role], d / name), "truncated"),
        "other HDF5": (lambda d, g: _h5(d / name, _images), other),
    }


RUN_FILES = {
    **common("run", "amo06516_0093.cxi", "holds no Psocake run file",
             r"not a Psocake hit-finder output.*/entry_1/result_1/nHits.*/LCLS/eventNumber"
             r".*holds: images"),
    "a manifold": (_copy("manifold"), "is a psocake-labeler manifold file, not a run"),
    "an old label file": (lambda d, g: _h5(d / "l.h5", _schema("psocake-labeler/labels")),
                          "is a psocake-labeler label file"),
    # our label store is SQLite: said to be one, where a run belongs
    "a label file": (_copy("labels"), r"an SQLite database \(psocake-labeler's label files "
                     r"are SQLite\), not HDF5; give a Psocake \.cxi or \.h5"),
    "Psocake label json": (lambda d, g: _json(d / "amo06516_0093.label.json"), "not a run"),
    "images of wrong rank": (lambda d, g: _spi(
        d / "amo06516_0093.cxi", lambda f: f.create_dataset(f"{DET}/data",
                                                            data=np.zeros((4, 16))),
        images=None, hits=4), f"{DET}/data has shape"),
    "lengths disagree": (lambda d, g: _spi(
        d / "amo06516_0093.cxi", lambda f: f.create_dataset(
            f"{DET}/data", data=np.zeros((9, 4, 4), np.float32)),
        images=None, hits=10, experiment_id=False),
        rf"disagree in length.*{DET}/data has 9"),
    "lengths disagree, no numEvents": (lambda d, g: _spi(
        d / "amo06516_0093.cxi", lambda f: f.create_dataset(
            f"{DET}/data", data=np.zeros((9, 4, 4), np.float32)),
        images=None, hits=10, experiment_id=False, num_events_attr=False),
        rf"disagree in length.*{DET}/data has 9"),
    "event numbers too long": (lambda d, g: _spi(
        d / "amo06516_0093.cxi", _replace("/LCLS/eventNumber", np.arange(12)), hits=10,
        num_events_attr=False), "/LCLS/eventNumber has 12 rows but"),
    "0 hits": (lambda d, g: _spi(d / "amo06516_0093.cxi", hits=0),
               "0 hits.*/LCLS/eventNumber"),
    "hits found, none saved": (lambda d, g: _none_saved(d),
                               r"/entry_1/result_1/nHitsAll.*4 events, 3 processed.*Save hits"),
    "folder, hits found, none saved": (lambda d, g: _none_saved(d / "r0093").parent,
                                       "Save hits"),
    "litPixels of wrong length": (lambda d, g: _litpixels(d / "amo06516_93.h5", events=5),
                                  "/litPixels/event has 4"),
}

# Runs that open (their events are usable) but hold no images.
IMAGELESS_RUNS = {
    "no images": (lambda d, g: _spi(d / "amo06516_0093.cxi", images=None, hits=9),
                  rf"{DET}/data.*re-run xtc2cxi with --saveADU.*inside Psocake.*psana"),
    "litPixels": (lambda d, g: _litpixels(d / "amo06516_93.h5"), "/litPixels/hitMetric"),
}

MANIFOLD_FILES = {
    **common("manifold", "m.h5", "is a folder", "a file of unknown content, not a manifold file"),
    "a run": (_copy("run"), r"a Psocake run \(hits file\), not a manifold file"),
    "an old label file": (lambda d, g: _h5(d / "l.h5", _schema("psocake-labeler/labels")),
                          "not a manifold file"),
    "a label file": (_copy("labels"), "an SQLite database.*not HDF5; give a manifold file"),
    "schema only": (lambda d, g: _h5(d / "m.h5", _schema("psocake-labeler/manifold")),
                    "lacks coords, eigenvalues"),
    # damaged datasets and attributes (issue 11's hostile manifolds)
    **{f"damaged: {name}": (_damaged(edit), re.escape(words))
       for name, (edit, words) in EDITS.items()},
}

LABEL_FILES = {
    **common("labels", "l.h5", "is a folder", "not a (psocake-labeler )?label file"),
    "a run": (_copy("run"), "not a (psocake-labeler )?label file"),
    "a manifold": (_copy("manifold"), "not a (psocake-labeler )?label file"),
}


def _psocake_h5(d: Path, labels: np.ndarray) -> Path:
    """Psocake's per-run label file: /labels and /propLabels, one row per event."""
    return _h5(d / "amo06516_0093_labels.h5", lambda f: (
        f.create_dataset("labels", data=labels),
        f.create_dataset("propLabels", data=np.zeros(np.shape(labels), np.int64))))


def _psocake_json(d: Path, text: str) -> Path:
    path = d / "amo06516_0093.label.json"
    path.write_text(text)
    return path


PSOCAKE_LABEL_FILES = {
    "string codes": (lambda d, g: _psocake_h5(d, np.array([[b"Single"]] * 10)),
                     "dataset /labels holds |S6 values, not class codes"),
    "code 77": (lambda d, g: _psocake_h5(d, np.full((10, 1), 77, np.int64)),
                "/labels holds class code 77 at event 0, but 3 classes"),
    "code -3": (lambda d, g: _psocake_h5(d, np.full((10, 1), -3, np.int64)),
                "/labels holds class code -3"),
    "float codes": (lambda d, g: _psocake_h5(d, np.full((10, 1), 1.5)),
                    "/labels holds float64 values"),
    "3 columns": (lambda d, g: _psocake_h5(d, np.ones((10, 3), np.int64)),
                  r"/labels has shape \(10, 3\)"),
    "not JSON": (lambda d, g: _psocake_json(d, "{not json"),
                 "not a (valid )?Psocake (label JSON file|.label.json)"),
    "nested JSON": (lambda d, g: _psocake_json(d, "[" * 100000 + "]" * 100000),
                    "nested too deeply"),
    "JSON list": (lambda d, g: _psocake_json(d, "[1, 2]"),
                  "JSON list|must map event numbers to labels"),
    "event 'seven'": (lambda d, g: _psocake_json(d, '{"seven": "Single"}'), "'seven'"),
    "event -4": (lambda d, g: _psocake_json(d, '{"-4": "Single"}'), "'-4'"),
    "label a dict": (lambda d, g: _psocake_json(d, '{"4": {"a": 1}}'), "entry '4'"),
}


# -- entry points: name -> (API | CLI argv template, cases it does not apply to) -------------
# An API entry takes (bad path, goods) and returns the one call expected to raise. In argv
# templates {bad} is the bad file, {out} the output folder, {run}/{manifold}/{labels} the
# good files.
RUN_ENTRIES = {
    "open_run": (lambda p, g: partial(pl.open_run, p), ()),
    "open_run([...])": (lambda p, g: partial(pl.open_run, [p]), ()),
    # info describes any file we know (manifolds, label files)
    "info": (["info", "{bad}"], ("a manifold", "an old label file", "a label file",
                                 "Psocake label json")),
    "embed": (["embed", "{bad}", "-o", "{out}/m.h5"], ()),
}
IMAGE_ENTRIES = {
    "Run.image": (lambda p, g: partial(pl.open_run(p).image, 0), ()),
    "Run.images": (lambda p, g: partial(pl.open_run(p).images, slice(0, 3)), ()),
    # a litPixels file is fine to describe, unless --require-images (below)
    "info": (["info", "{bad}"], ("litPixels",)),
    "info --require-images": (["info", "--require-images", "{bad}"], ()),
    "embed": (["embed", "{bad}", "-o", "{out}/m.h5"], ()),
}
MANIFOLD_ENTRIES = {
    "Manifold.load": (lambda p, g: partial(pl.Manifold.load, p), ()),
    "gui": (["gui", "{bad}", "--screenshot", "{out}/shot.png"], ()),
    "propagate": (["propagate", "{bad}", "{labels}"], ()),
    "embed --extend": (["embed", "--extend", "{bad}", "{run}", "-o", "{out}/big.h5"], ()),
}
LABEL_ENTRIES = {
    "LabelSession.load": (lambda p, g: partial(pl.LabelSession.load, p,
                                               pl.Manifold.load(g["manifold"])), ()),
    "propagate": (["propagate", "{manifold}", "{bad}"], ()),
    "merge": (["merge", "{labels}", "{bad}", "-o", "{out}/merged.h5"], ()),
    "export": (["export", "{bad}", "--format", "json", "-o", "{out}/labels.json"], ()),
}

PSOCAKE_ENTRIES = {
    "read_label_set": (lambda p, g: partial(read_label_set, p), ()),
    "import_labels": (lambda p, g: partial(pl.LabelSession(
        pl.Manifold.load(g["manifold"])).import_labels, p), ()),
    "merge": (["merge", "{labels}", "{bad}", "-o", "{out}/merged.h5"], ()),
    # info describes what a label file holds (codes 77 or -3 included) without judging it
    "info": (["info", "{bad}"], ("code 77", "code -3", "float codes", "3 columns",
                                 "event 'seven'", "event -4", "label a dict")),
}

# Known defects, kept visible: the case fails today and must pass once fixed (strict).
XFAIL: dict[tuple[str, str, str], str] = {}

CASES = [
    pytest.param(files[case], entries[entry], id=f"{role}:{case}:{entry}",
                 marks=[pytest.mark.xfail(strict=True, reason=XFAIL[role, case, entry])]
                 if (role, case, entry) in XFAIL else [])
    for role, files, entries in (("run", RUN_FILES, RUN_ENTRIES),
                                 ("images", IMAGELESS_RUNS, IMAGE_ENTRIES),
                                 ("manifold", MANIFOLD_FILES, MANIFOLD_ENTRIES),
                                 ("labels", LABEL_FILES, LABEL_ENTRIES),
                                 ("psocake labels", PSOCAKE_LABEL_FILES, PSOCAKE_ENTRIES))
    for case in files for entry in entries if case not in entries[entry][1]
]


def error_of(entry, bad: Path, goods: dict[str, Path], out: Path, capsys) -> str:
    """The one-line message ``entry`` gives for ``bad`` (asserting the CLI's exit 2)."""
    call, _ = entry
    if callable(call):
        act = call(bad, goods)
        with pytest.raises(pl.InputError) as err:
            act()
        return str(err.value)
    argv = [a.format(bad=bad, out=out, **goods) for a in call]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, code, err)
    assert "Traceback" not in err
    prefix = f"psocake-labeler {argv[0]}: error: "
    assert err.count("\n") == 1 and err.startswith(prefix), err
    return err[len(prefix):-1]


@pytest.mark.parametrize("bad_file, entry", CASES)
def test_bad_file_is_one_line_and_changes_nothing(bad_file, entry, goods, tmp_path, capsys):
    make, words = bad_file
    bad = make(tmp_path, goods)
    before, goods_before = snapshot(tmp_path), snapshot(goods["run"].parent)
    msg = error_of(entry, bad, goods, tmp_path, capsys)
    assert "\n" not in msg and str(bad) in msg, msg
    assert f"['{bad}" not in msg, msg           # the path, not a list's repr
    assert re.search(words, msg), (words, msg)
    assert snapshot(tmp_path) == before         # no output, no temporary, the bad file as was
    assert snapshot(goods["run"].parent) == goods_before


@pytest.mark.parametrize("case, cls", [
    ("missing", pl.MissingFileError), ("empty", pl.NotHDF5Error),
    ("not HDF5", pl.NotHDF5Error), ("truncated", pl.NotHDF5Error),
    ("other HDF5", pl.LayoutError), ("lengths disagree", pl.LayoutError),
    ("0 hits", pl.EmptyRunError), ("hits found, none saved", pl.EmptyRunError),
])
def test_run_errors_have_their_own_class(case, cls, goods, tmp_path):
    bad = RUN_FILES[case][0](tmp_path, goods)
    with pytest.raises(cls):
        pl.open_run(bad)


@pytest.mark.parametrize("case", list(IMAGELESS_RUNS))
def test_a_run_without_images_opens_and_its_images_say_so(case, goods, tmp_path):
    run = pl.open_run(IMAGELESS_RUNS[case][0](tmp_path, goods))
    assert len(run) > 0 and not run.has_images
    with pytest.raises(pl.NoImagesError):
        run.image(0)


def test_missing_file_is_also_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        pl.open_run(tmp_path / "amo06516_0093.cxi")
