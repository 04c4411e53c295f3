"""Run a corpus of hostile inputs through every command; count tracebacks and signals.

    python benchmarks/probe_hostile.py [--keep DIR] [--only NAME,...] [-v]

Each case builds one damaged, hostile or unlucky input from a small simulated run (real
HDF5 files), runs one ``psocake-labeler`` command on it in a fresh process, and sorts the
outcome: ``ok`` (exit 0 where that is right, or exit 2 with one line), ``traceback``,
``signal`` (the process died of one), ``multiline`` (exit 2 but more than one line on
stderr), ``accepted`` (exit 0 where the input had to be refused), ``damaged`` (a file that
had to stay untouched changed), ``exit`` (any other exit code). The last line prints the
counts; the project's promise is 0 tracebacks and 0 signals, and every other count 0 too.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
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
    subprocess.run(_cli("embed", str(run), "-o", str(manifold), "-q", "--knn", "8",
                        "--n-components", "4"), check=True)
    labels = folder / "labels.h5"
    s = LabelSession(Manifold.load(manifold), path=labels)
    s.label([0, 1, 2], "Single")
    s.label([3, 4], "Multiple")
    s.label([5, 6], "Water/Unknown")
    s.propagate()
    s.save()
    return Base(folder, run, manifold, labels)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "psocake_labeler", *args]


# -- builders: run files ------------------------------------------------------------------
def _copy(src: Path, out: Path, name: str | None = None) -> Path:
    dst = out / (name or src.name)
    shutil.copy(src, dst)
    return dst


def _edit_run(fn: Callable[[h5py.File], None], name: str = "amo06516_0093.cxi"):
    """A builder copying the base run and applying ``fn`` to it; the command is ``info``."""
    def build(base: Base, out: Path) -> list[str]:
        p = _copy(base.run, out, name)
        with h5py.File(p, "r+") as f:
            fn(f)
        return ["info", str(p)]
    return build


def _replace(f: h5py.File, name: str, data, **kw) -> None:
    attrs = dict(f[name].attrs) if name in f else {}
    if name in f:
        del f[name]
    f.create_dataset(name, data=data, **kw)
    for k, v in attrs.items():
        f[name].attrs[k] = v


def _events(fn):
    return _edit_run(lambda f: _replace(f, EVENTS, fn(f[EVENTS][()])))


def _both_ids(fn):
    def edit(f):
        ev = fn(f[EVENTS][()])
        _replace(f, EVENTS, ev)
        _replace(f, "entry_1/experimental_identifier", ev)
    return _edit_run(edit)


def _huge_images(f):
    del f[LINKED]
    del f[IMAGES]
    f.create_dataset(IMAGES, shape=(10**12, 32, 32), dtype=np.float32, chunks=(1, 32, 32))
    f[LINKED] = h5py.SoftLink("/" + IMAGES)


def _huge_events(f):
    del f[EVENTS]
    f.create_dataset(EVENTS, shape=(10**12,), dtype=np.int64, chunks=(1024,))


def _link_loop(f):
    del f[LINKED]
    del f[IMAGES]
    f[IMAGES] = h5py.SoftLink("/" + LINKED)
    f[LINKED] = h5py.SoftLink("/" + IMAGES)


def _self_group_loop(f):
    # a hard-linked cycle: a group that contains itself
    g = f.require_group("entry_1/loop")
    g["again"] = g


def _external_images(base_name: str, broken: bool):
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
    return _edit_run(edit, base_name)


def _broken_soft(f):
    del f[IMAGES]   # /entry_1/data_1/data now dangles


def _num_events(value):
    def edit(f):
        f["entry_1/result_1/nHits"].attrs["numEvents"] = value
    return edit


def _string_events(v):
    return np.array([str(x).encode() for x in v])


# -- builders: manifolds ------------------------------------------------------------------
def _edit_manifold(fn: Callable[[h5py.File], None], command: str = "propagate"):
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


def _graph_index(f):
    idx = f["graph/indices"][()]
    idx[3] = 10**6
    _replace(f, "graph/indices", idx)


def _graph_negative(f):
    idx = f["graph/indices"][()]
    idx[0] = -5
    _replace(f, "graph/indices", idx)


def _indptr(f):
    p = f["graph/indptr"][()]
    p[5] = p[-1] + 100
    _replace(f, "graph/indptr", p)


def _graph_shape(f):
    f["graph"].attrs["shape"] = np.array([10**9, 10**9], np.int64)


def _coords_nan(f):
    c = f["coords"][()]
    c[7, 1] = np.nan
    _replace(f, "coords", c)


def _coords_short(f):
    _replace(f, "coords", f["coords"][()][:10])


def _params(text):
    def edit(f):
        f.attrs["params"] = text
    return edit


def _eigen_zero(f):
    e = f["eigenvalues"][()]
    e[:] = 0
    _replace(f, "eigenvalues", e)


def _density_short(f):
    _replace(f, "density", f["density"][()][:5])


def _features_2(f):
    _replace(f, "features", f["features"][()][:, :2])


def _events_string(f):
    _replace(f, "events", np.array([b"x"] * f["coords"].shape[0]))


def _huge_coords(f):
    del f["coords"]
    f.create_dataset("coords", shape=(10**11, 4), dtype=np.float64, chunks=(1024, 4))


# -- builders: label files ------------------------------------------------------------------
def _edit_labels(fn: Callable[[h5py.File], None], command: str = "export"):
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


def _predictions(f):
    p = f["predictions/predicted"][()]
    p[:] = 77
    _replace(f, "predictions/predicted", p)


def _psocake_h5(labels, name="amo06516_0093_labels.h5", command="merge"):
    def build(base: Base, out: Path) -> list[str]:
        p = out / name
        with h5py.File(p, "w") as f:
            f.create_dataset("labels", data=labels)
            f.create_dataset("propLabels", data=np.zeros(np.shape(labels), np.int64))
        if command == "merge":
            return ["merge", str(p), "-o", str(out / "merged.h5")]
        return ["info", str(p)]
    return build


def _label_json(text: str, command: str = "merge"):
    def build(base: Base, out: Path) -> list[str]:
        p = out / "amo06516_0093.label.json"
        p.write_text(text)
        if command == "merge":
            return ["merge", str(p), "-o", str(out / "merged.h5")]
        return ["info", str(p)]
    return build


# -- builders: outputs onto files we do not own --------------------------------------------
def _onto(target: str, args: Callable[[Base, Path, Path], list[str]]):
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


def _psocake_export_onto_own(base: Base, out: Path) -> list[str]:
    lab = _copy(base.labels, out, "in_labels.h5")
    with h5py.File(out / "amo06516_0093_labels.h5", "w") as f:   # Psocake's own, no schema
        f.create_dataset("labels", data=np.ones((100, 1), np.int64))
        f.create_dataset("propLabels", data=np.zeros((100, 1), np.int64))
    return ["export", str(lab), "--format", "psocake", "-o", str(out)]


def _bad_events_embed(fn):
    def build(base: Base, out: Path) -> list[str]:
        p = _copy(base.run, out)
        with h5py.File(p, "r+") as f:
            ev = fn(f[EVENTS][()])
            _replace(f, EVENTS, ev)
            _replace(f, "entry_1/experimental_identifier", ev)
        return ["embed", str(p), "-o", str(out / "m.h5"), "-q", "--knn", "8",
                "--n-components", "4"]
    return build


def _dup(v):
    v = v.copy()
    v[1] = v[0]
    return v


def _neg(v):
    return v - v.max() - 2


def _big(v):
    v = v.copy()
    v[-1] = 2**62
    return v


def _beyond(f):
    n = f["entry_1/result_1/nHitsAll"].shape[0]
    for name in (EVENTS, "entry_1/experimental_identifier"):
        v = f[name][()]
        v[-1] = n + 50
        _replace(f, name, v)


def _deep(n):
    return "[" * n + "]" * n


def _extend_same(base: Base, out: Path) -> list[str]:
    return ["embed", "--extend", str(base.manifold), str(base.run), "-o", str(out / "big.h5"),
            "-q"]


def _notes(name: str, text: str = "notes\n"):
    def build(base: Base, out: Path) -> list[str]:
        p = out / name
        p.write_text(text)
        return ["info", str(p)]
    return build


# A few of every kind, for tests/test_probe_hostile.py (the whole corpus takes minutes).
SUBSET = ("run-string-events", "run-soft-link-loop", "manifold-graph-index-out-of-range",
          "psocake-labels-class-77", "merge-onto-run", "simulate-huge")


def corpus() -> list[Case]:
    """Every case of the probe (>= 40)."""
    return [
        # run files
        Case("run-duplicate-events", _both_ids(_dup)),
        Case("run-negative-events", _both_ids(_neg)),
        Case("run-string-events", _both_ids(_string_events)),
        Case("run-float-events", _both_ids(lambda v: v + 0.5)),
        Case("run-event-2^62", _both_ids(_big)),
        Case("run-event-beyond-run", _edit_run(_beyond)),
        Case("run-2d-events", _both_ids(lambda v: np.stack([v, v], 1))),
        # rows past numEvents are pre-allocated space: never read, so not refused
        Case("run-declared-1e12-images", _edit_run(_huge_images), refuse=False),
        Case("run-declared-1e12-events", _edit_run(_huge_events)),
        Case("run-soft-link-loop", _edit_run(_link_loop)),
        Case("run-group-cycle", _edit_run(_self_group_loop), refuse=False),
        Case("run-external-link", _external_images("amo06516_0093.cxi", False)),
        Case("run-broken-external-link", _external_images("amo06516_0093.cxi", True),
             expect="external link"),
        Case("run-broken-soft-link", _edit_run(_broken_soft), expect="broken soft link"),
        Case("run-images-strings", _edit_run(lambda f: _replace(
            f, IMAGES, np.array([b"x"] * 60)))),
        Case("run-images-zero-size", _edit_run(lambda f: _replace(
            f, IMAGES, np.zeros((60, 0, 0), np.float32)))),
        Case("run-numEvents-huge", _edit_run(_num_events(10**15))),
        Case("run-numEvents-string", _edit_run(_num_events("lots")), refuse=False),
        Case("run-distance-string", _edit_run(lambda f: _replace(
            f, "entry_1/instrument_1/detector_1/distance", b"far")), refuse=False),
        Case("run-mask-wrong-shape", _edit_run(lambda f: _replace(
            f, "entry_1/instrument_1/detector_1/mask", np.zeros((3, 3), np.int32))),
            refuse=False),
        Case("run-truncated", lambda b, o: _truncate(b.run, o)),
        Case("embed-duplicate-events", _bad_events_embed(_dup)),
        Case("embed-negative-events", _bad_events_embed(_neg)),
        Case("embed-event-2^62", _bad_events_embed(_big)),
        Case("embed-string-events", _bad_events_embed(_string_events)),
        Case("embed-1e12-images", lambda b, o: _embed_of(_edit_run(_huge_images), b, o)),
        Case("embed-link-loop", lambda b, o: _embed_of(_edit_run(_link_loop), b, o)),
        Case("embed-broken-external", lambda b, o: _embed_of(
            _external_images("amo06516_0093.cxi", True), b, o)),
        Case("embed-extend-same-run", _extend_same),
        # manifolds
        Case("manifold-graph-index-out-of-range", _edit_manifold(_graph_index)),
        Case("manifold-graph-index-out-of-range-gui", _edit_manifold(_graph_index, "gui")),
        Case("manifold-graph-index-negative", _edit_manifold(_graph_negative)),
        Case("manifold-indptr-bad", _edit_manifold(_indptr)),
        Case("manifold-graph-shape", _edit_manifold(_graph_shape)),
        Case("manifold-coords-nan", _edit_manifold(_coords_nan)),
        Case("manifold-coords-nan-gui", _edit_manifold(_coords_nan, "gui")),
        Case("manifold-coords-short", _edit_manifold(_coords_short)),
        Case("manifold-params-not-json", _edit_manifold(_params("{knn: 15"))),
        Case("manifold-params-list", _edit_manifold(_params("[1, 2]"))),
        Case("manifold-params-deep", _edit_manifold(_params(_deep(100000)))),
        Case("manifold-params-huge", _edit_manifold(_params(
            json.dumps({"knn": 8, "pad": "x" * (20 << 20)})))),
        Case("manifold-params-epsilon-string", _edit_manifold(_params(
            json.dumps({"knn": 8, "epsilon": "wide", "alpha": 1.0})), "extend")),
        Case("manifold-eigenvalues-zero", _edit_manifold(_eigen_zero, "extend")),
        Case("manifold-density-short", _edit_manifold(_density_short, "extend")),
        Case("manifold-features-narrow", _edit_manifold(_features_2, "extend")),
        Case("manifold-events-strings", _edit_manifold(_events_string)),
        Case("manifold-declared-1e11-coords", _edit_manifold(_huge_coords)),
        # label files
        Case("labels-predictions-out-of-range", _edit_labels(_predictions)),
        Case("labels-predictions-out-of-range-propagate", _edit_labels(_predictions,
                                                                        "propagate"),
             refuse=False),
        Case("psocake-labels-strings", _psocake_h5(np.array([[b"Single"]] * 10))),
        Case("psocake-labels-class-77", _psocake_h5(np.full((10, 1), 77, np.int64))),
        Case("psocake-labels-negative", _psocake_h5(np.full((10, 1), -3, np.int64))),
        Case("psocake-labels-float", _psocake_h5(np.full((10, 1), 1.5))),
        Case("label-json-deep", _label_json(_deep(100000))),
        Case("label-json-huge", _label_json(json.dumps({str(i): "Single" * 1000
                                                        for i in range(20000)})),
             refuse=False),
        Case("label-json-list", _label_json("[1, 2, 3]")),
        Case("label-json-bad-key", _label_json('{"seven": "Single"}')),
        Case("label-json-negative-key", _label_json('{"-4": "Single"}')),
        Case("label-json-value-object", _label_json('{"4": {"a": 1}}')),
        Case("info-notes", _notes("notes.txt")),
        Case("info-binary", _notes("junk.h5", "\x89HDF\r\n\x1a\n" + "x" * 100)),
        # outputs onto files we do not own
        Case("merge-onto-run", _onto("run:amo06516_0094.cxi", lambda b, lab, d: [
            "merge", str(lab), "-o", str(d)]), keep=("amo06516_0094.cxi",)),
        Case("merge-onto-manifold", _onto("manifold:other.h5", lambda b, lab, d: [
            "merge", str(lab), "-o", str(d)]), keep=("other.h5",)),
        Case("merge-onto-labels", _onto("labels:bob.labels.h5", lambda b, lab, d: [
            "merge", str(lab), "-o", str(d)]), keep=("bob.labels.h5",)),
        Case("merge-onto-link-to-run", _onto("link:link.h5", lambda b, lab, d: [
            "merge", str(lab), "-o", str(d)]), keep=("real_run.cxi",)),
        Case("merge-report-onto-notes", _onto("notes:notes.txt", lambda b, lab, d: [
            "merge", str(lab), "-o", str(d.with_name("new.h5")), "--report", str(d)]),
             keep=("notes.txt",)),
        Case("export-csv-onto-run", _onto("run:amo06516_0094.cxi", lambda b, lab, d: [
            "export", str(lab), "--format", "csv", "-o", str(d)]), keep=("amo06516_0094.cxi",)),
        Case("export-json-onto-notes", _onto("notes:notes.txt", lambda b, lab, d: [
            "export", str(lab), "--format", "json", "-o", str(d)]), keep=("notes.txt",)),
        Case("export-blacklist-onto-notes", _onto("notes:notes.dat", lambda b, lab, d: [
            "export", str(lab), "--format", "blacklist", "-o", str(d)]), keep=("notes.dat",)),
        Case("export-cxi-onto-link-to-run", _onto("link:single.cxi", lambda b, lab, d: [
            "export", str(lab), "--format", "cxi", "-o", str(d)]), keep=("real_run.cxi",)),
        Case("export-psocake-onto-psocake", _psocake_export_onto_own,
             keep=("amo06516_0093_labels.h5",)),
        Case("simulate-onto-manifold", _onto("manifold:other.h5", lambda b, lab, d: [
            "simulate", str(d), "--hits", "5", "--shape", "16", "--quiet"]), keep=("other.h5",)),
        Case("simulate-huge", lambda b, o: ["simulate", str(o / "x.cxi"), "--hits",
                                            str(10**13), "--shape", "16", "--quiet"]),
        Case("simulate-shape-zero", lambda b, o: ["simulate", str(o / "x.cxi"), "--hits",
                                                  "5", "--shape", "0", "--quiet"]),
    ]


def _truncate(src: Path, out: Path) -> list[str]:
    p = out / src.name
    p.write_bytes(src.read_bytes()[:4000])
    return ["info", str(p)]


def _embed_of(build, base: Base, out: Path) -> list[str]:
    args = build(base, out)
    return ["embed", args[1], "-o", str(out / "m_out.h5"), "-q", "--knn", "8",
            "--n-components", "4"]


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "absent"


def run_case(case: Case, base: Base, folder: Path, timeout: float = 120.0) -> dict:
    """Build the case in ``folder``, run its command, sort the outcome."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    args = case.build(base, folder)
    if args is None:
        return {"name": case.name, "rc": None, "outcome": "skipped", "seconds": 0.0,
                "command": "-", "last": "does not apply"}
    before = {k: _digest(folder / k) for k in case.keep}
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONFAULTHANDLER="")
    t0 = time.monotonic()
    try:
        p = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=timeout,
                           env=env, cwd=folder)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        rc, err = None, "timeout"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if rc is None:
        outcome = "timeout"
    elif rc < 0 or rc >= 128:
        outcome = "signal"
    elif "Traceback (most recent call last)" in err:
        outcome = "traceback"
    elif any(_digest(folder / k) != v for k, v in before.items()):
        outcome = "damaged"
    elif rc == 2:
        outcome = "multiline" if len(lines) != 1 else (
            "ok" if case.expect in lines[0] else "wrong-message")
    elif rc == 0:
        outcome = "accepted" if case.refuse else "ok"
    else:
        outcome = "exit"
    return {"name": case.name, "rc": rc, "outcome": outcome, "seconds": time.monotonic() - t0,
            "command": args[0], "last": lines[-1][:200] if lines else ""}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", default=None, help="work folder to keep (default: a temporary)")
    ap.add_argument("--only", default=None, help="comma-separated case names")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = ap.parse_args(argv)
    work = (Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="probe-"))).resolve()
    cases = corpus()
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c.name in wanted]
    base = make_base(work / "base")
    counts: dict[str, int] = {}
    commands = set()
    for case in cases:
        r = run_case(case, base, work / case.name)
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        if r["outcome"] != "skipped":
            commands.add(r["command"])
        if args.verbose or r["outcome"] not in ("ok", "skipped"):
            print(f"{r['outcome']:9s} rc={r['rc']!s:4s} {r['name']:45s} {r['last']}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    bad = sum(v for k, v in counts.items() if k not in ("ok", "skipped"))
    print(f"{len(cases)} hostile inputs through {', '.join(sorted(commands))}: "
          f"tracebacks {counts.get('traceback', 0)}, signals {counts.get('signal', 0)}, "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())
                      if k not in ("traceback", "signal")))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
