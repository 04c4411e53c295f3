"""Builders of hostile inputs for benchmarks/probe_hostile.py: the healthy base files and the
functions that damage copies of them."""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

EVENTS = "LCLS/eventNumber"
IMAGES = "entry_1/instrument_1/detector_1/data"
LINKED = "entry_1/data_1/data"


@dataclass
class Case:
    """One hostile input and the command that meets it.

    ``build(base, out)`` writes the input under ``out`` and returns the command's arguments
    (after ``psocake-labeler``); ``refuse`` says exit 0 is wrong; ``keep`` lists files
    (relative to ``out``) whose bytes must not change; ``expect`` words the one error line
    must hold. A builder returning None does not apply (e.g. an HDF5 edit of a label store
    that is not HDF5) and the case is skipped.
    """

    name: str
    build: Callable[[Base, Path], list[str]]
    refuse: bool = True
    keep: tuple[str, ...] = ()
    expect: str = ""


@dataclass
class Base:
    """The healthy files every case starts from."""

    folder: Path
    run: Path
    manifold: Path
    labels: Path


def make_base(folder: Path) -> Base:
    """A 60-hit run, its manifold and a label file with a few labels and predictions."""
    from psocake_labeler import LabelSession, Manifold
    from psocake_labeler.simulate import simulate_run

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    run = folder / "amo06516_0093.cxi"
    simulate_run(run, hits=60, shape=(32, 32), seed=5, run=93)
    manifold = folder / "m.h5"
    subprocess.run(cli_command("embed", str(run), "-o", str(manifold), "-q", "--knn", "8",
                        "--n-components", "4"), check=True)
    labels = folder / "labels.h5"
    s = LabelSession(Manifold.load(manifold), path=labels)
    s.label([0, 1, 2], "Single")
    s.label([3, 4], "Multiple")
    s.label([5, 6], "Water/Unknown")
    s.propagate()
    s.save()
    return Base(folder, run, manifold, labels)


def cli_command(*args: str) -> list[str]:
    """The argv running ``psocake-labeler ARGS`` with this Python."""
    return [sys.executable, "-m", "psocake_labeler", *args]


# -- builders: run files ------------------------------------------------------------------
def _copy(src: Path, out: Path, name: str | None = None) -> Path:
    dst = out / (name or src.name)
    shutil.copy(src, dst)
    return dst


def edit_run(fn: Callable[[h5py.File], None], name: str = "amo06516_0093.cxi"):
    """A builder copying the base run and applying ``fn`` to it; the command is ``info``."""
    def build(base: Base, out: Path) -> list[str]:
        p = _copy(base.run, out, name)
        with h5py.File(p, "r+") as f:
            fn(f)
        return ["info", str(p)]
    return build


def hostile_replace(f: h5py.File, name: str, data, **kw) -> None:
    attrs = dict(f[name].attrs) if name in f else {}
    if name in f:
        del f[name]
    f.create_dataset(name, data=data, **kw)
    for k, v in attrs.items():
        f[name].attrs[k] = v


def _events(fn):
    return edit_run(lambda f: hostile_replace(f, EVENTS, fn(f[EVENTS][()])))


def both_ids(fn):
    def edit(f):
        ev = fn(f[EVENTS][()])
        hostile_replace(f, EVENTS, ev)
        hostile_replace(f, "entry_1/experimental_identifier", ev)
    return edit_run(edit)


def huge_images(f):
    del f[LINKED]
    del f[IMAGES]
    f.create_dataset(IMAGES, shape=(10**12, 32, 32), dtype=np.float32, chunks=(1, 32, 32))
    f[LINKED] = h5py.SoftLink("/" + IMAGES)


def huge_events(f):
    del f[EVENTS]
    f.create_dataset(EVENTS, shape=(10**12,), dtype=np.int64, chunks=(1024,))


def link_loop(f):
    del f[LINKED]
    del f[IMAGES]
    f[IMAGES] = h5py.SoftLink("/" + LINKED)
    f[LINKED] = h5py.SoftLink("/" + IMAGES)


def self_group_loop(f):
    # a hard-linked cycle: a group that contains itself
    g = f.require_group("entry_1/loop")
    g["again"] = g


def external_images(base_name: str, broken: bool):
    def edit(f):
        path = Path(f.filename)
        other = path.with_name("images_elsewhere.h5")
        if not broken:
            with h5py.File(other, "w") as g:
                g.create_dataset("data", data=f[IMAGES][()])
        del f[LINKED]
        del f[IMAGES]
        f[IMAGES] = h5py.ExternalLink(other.name if not broken else "/nonexistent/x.h5",
                                      "/data")
        f[LINKED] = h5py.SoftLink("/" + IMAGES)
    return edit_run(edit, base_name)


def broken_soft(f):
    del f[IMAGES]   # /entry_1/data_1/data now dangles


def num_events(value):
    def edit(f):
        f["entry_1/result_1/nHits"].attrs["numEvents"] = value
    return edit


def string_events(v):
    return np.array([str(x).encode() for x in v])


# -- builders: manifolds ------------------------------------------------------------------
def edit_manifold(fn: Callable[[h5py.File], None], command: str = "propagate"):
    def build(base: Base, out: Path) -> list[str]:
        m = _copy(base.manifold, out)
        lab = _copy(base.labels, out)
        with h5py.File(m, "r+") as f:
            fn(f)
        if command == "propagate":
            return ["propagate", str(m), str(lab)]
        if command == "gui":
            return ["gui", str(m), "--labels", str(lab), "--screenshot", str(out / "s.png")]
        if command == "extend":
            return ["embed", "--extend", str(m), str(base.run), "-o", str(out / "big.h5"), "-q"]
        return ["info", str(m)]
    return build


def graph_index(f):
    idx = f["graph/indices"][()]
    idx[3] = 10**6
    hostile_replace(f, "graph/indices", idx)


def graph_negative(f):
    idx = f["graph/indices"][()]
    idx[0] = -5
    hostile_replace(f, "graph/indices", idx)


def hostile_indptr(f):
    p = f["graph/indptr"][()]
    p[5] = p[-1] + 100
    hostile_replace(f, "graph/indptr", p)


def graph_shape(f):
    f["graph"].attrs["shape"] = np.array([10**9, 10**9], np.int64)


def coords_nan(f):
    c = f["coords"][()]
    c[7, 1] = np.nan
    hostile_replace(f, "coords", c)


def coords_short(f):
    hostile_replace(f, "coords", f["coords"][()][:10])


def hostile_params(text):
    def edit(f):
        f.attrs["params"] = text
    return edit


def eigen_zero(f):
    e = f["eigenvalues"][()]
    e[:] = 0
    hostile_replace(f, "eigenvalues", e)


def density_short(f):
    hostile_replace(f, "density", f["density"][()][:5])


def features_2(f):
    hostile_replace(f, "features", f["features"][()][:, :2])


def events_string(f):
    hostile_replace(f, "events", np.array([b"x"] * f["coords"].shape[0]))


def huge_coords(f):
    del f["coords"]
    f.create_dataset("coords", shape=(10**11, 4), dtype=np.float64, chunks=(1024, 4))


# -- builders: label files ------------------------------------------------------------------
def edit_labels(fn: Callable[[h5py.File], None], command: str = "export"):
    def build(base: Base, out: Path) -> list[str]:
        m = _copy(base.manifold, out)
        lab = _copy(base.labels, out)
        if not h5py.is_hdf5(lab):
            return None   # the label store is not HDF5: this edit does not apply
        with h5py.File(lab, "r+") as f:
            fn(f)
        if command == "propagate":
            return ["propagate", str(m), str(lab)]
        return ["export", str(lab), "--format", "csv", "-o", str(out / "t.csv")]
    return build


def hostile_predictions(f):
    p = f["predictions/predicted"][()]
    p[:] = 77
    hostile_replace(f, "predictions/predicted", p)


def psocake_h5(labels, name="amo06516_0093_labels.h5", command="merge"):
    def build(base: Base, out: Path) -> list[str]:
        p = out / name
        with h5py.File(p, "w") as f:
            f.create_dataset("labels", data=labels)
            f.create_dataset("propLabels", data=np.zeros(np.shape(labels), np.int64))
        if command == "merge":
            return ["merge", str(p), "-o", str(out / "merged.h5")]
        return ["info", str(p)]
    return build


def label_json(text: str, command: str = "merge"):
    def build(base: Base, out: Path) -> list[str]:
        p = out / "amo06516_0093.label.json"
        p.write_text(text)
        if command == "merge":
            return ["merge", str(p), "-o", str(out / "merged.h5")]
        return ["info", str(p)]
    return build


# -- builders: outputs onto files we do not own --------------------------------------------
def hostile_onto(target: str, args: Callable[[Base, Path, Path], list[str]]):
    """Copy a base file (or write notes.txt) as ``target`` and aim ``args`` at it."""
    def build(base: Base, out: Path) -> list[str]:
        src = {"run": base.run, "manifold": base.manifold, "labels": base.labels}
        kind, _, name = target.partition(":")
        if kind == "notes":
            dst = out / name
            dst.write_text("my notes, not yours\n")
        elif kind == "link":
            dst = out / name
            real = _copy(base.run, out, "real_run.cxi")
            dst.symlink_to(real.name)
        else:
            dst = _copy(src[kind], out, name)
        lab = _copy(base.labels, out, "in_labels.h5")
        return args(base, lab, dst)
    return build


def psocake_export_onto_own(base: Base, out: Path) -> list[str]:
    lab = _copy(base.labels, out, "in_labels.h5")
    with h5py.File(out / "amo06516_0093_labels.h5", "w") as f:   # Psocake's own, no schema
        f.create_dataset("labels", data=np.ones((100, 1), np.int64))
        f.create_dataset("propLabels", data=np.zeros((100, 1), np.int64))
    return ["export", str(lab), "--format", "psocake", "-o", str(out)]


def bad_events_embed(fn):
    def build(base: Base, out: Path) -> list[str]:
        p = _copy(base.run, out)
        with h5py.File(p, "r+") as f:
            ev = fn(f[EVENTS][()])
            hostile_replace(f, EVENTS, ev)
            hostile_replace(f, "entry_1/experimental_identifier", ev)
        return ["embed", str(p), "-o", str(out / "m.h5"), "-q", "--knn", "8",
                "--n-components", "4"]
    return build


def dup(v):
    v = v.copy()
    v[1] = v[0]
    return v


def neg(v):
    return v - v.max() - 2


def hostile_big(v):
    v = v.copy()
    v[-1] = 2**62
    return v


def hostile_beyond(f):
    n = f["entry_1/result_1/nHitsAll"].shape[0]
    for name in (EVENTS, "entry_1/experimental_identifier"):
        v = f[name][()]
        v[-1] = n + 50
        hostile_replace(f, name, v)


def hostile_deep(n):
    return "[" * n + "]" * n


def extend_same(base: Base, out: Path) -> list[str]:
    return ["embed", "--extend", str(base.manifold), str(base.run), "-o", str(out / "big.h5"),
            "-q"]


def hostile_notes(name: str, text: str = "notes\n"):
    def build(base: Base, out: Path) -> list[str]:
        p = out / name
        p.write_text(text)
        return ["info", str(p)]
    return build


def truncate(src: Path, out: Path) -> list[str]:
    p = out / src.name
    p.write_bytes(src.read_bytes()[:4000])
    return ["info", str(p)]


def embed_of(build, base: Base, out: Path) -> list[str]:
    args = build(base, out)
    return ["embed", args[1], "-o", str(out / "m_out.h5"), "-q", "--knn", "8",
            "--n-components", "4"]
