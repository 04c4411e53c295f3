"""Exports of labels: JSON/CSV tables, a one-class CXI for reconstruction, an EMC blacklist.

Every export uses the *final* label of each event: the user's label where there is one
(source ``user``, confidence 1), else the propagated one (source ``propagated``) when it is
at least ``min_confidence`` sure, else none (source ``unsure``); see
:mod:`psocake_labeler.labelfiles.export_plan`, which also refuses exports of predictions
while a class has no label (unless ``force``).
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError, LayoutError, NoImagesError
from ..io.atomic import atomic_h5, atomic_write_text
from ..io.events import check_event_numbers
from ..io.outputs import check_output
from ..io.schema import SCHEMA_CLASS_CXI as CXI_SCHEMA
from ..io.schema import SCHEMA_PSOCAKE_LABELS, TABLE_FIELDS, path_schema
from ..io.spi import IMAGE_PATHS
from ..labelling.quality import CONFIDENT
from ..labelling.state import LabelData
from ..progress import ProgressCallback, report
from .export_plan import DEFAULT_EXPORT_CLASS, plan_export, require_plan, trusted_final
from .psocake import (
    events_in_run,
    parse_run_name,
    psocake_h5_name,
    psocake_json_name,
    write_psocake_h5,
    write_psocake_json,
)

FORMATS = ("json", "csv", "cxi", "blacklist")
# Per-run (not per-hit) arrays that may happen to have as many rows as there are hits.
_PER_RUN = ("nHitsAll", "nPeaksAll", "powderHits", "powderMisses", "mask")
_CHUNK = 256
_COPY_BYTES = 16 * 2**20


def export_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """``fmt`` if given, else the format of ``path``'s suffix; InputError if unknown."""
    path = Path(path)
    fmt = fmt or {".json": "json", ".csv": "csv", ".cxi": "cxi", ".dat": "blacklist",
                  ".txt": "blacklist"}.get(path.suffix.lower())
    if fmt not in FORMATS:
        what = f"format {fmt!r}" if fmt else f"suffix {path.suffix or '(none)'!r}"
        raise InputError(f"{path}: unknown export {what}; use one of {', '.join(FORMATS)}"
                         f" (or the suffixes .json .csv .cxi .dat)")
    return fmt


def export(data: LabelData, path: str | os.PathLike, fmt: str | None = None,
           class_name: str | None = None, min_confidence: float = CONFIDENT,
           force: bool = False, progress: ProgressCallback | None = None) -> Path:
    """Export by ``fmt`` or by suffix: .json, .csv, .cxi (one class), .dat (blacklist).

    Parameters
    ----------
    data : the label file's content (``LabelSession.to_data()`` or ``read_label_file``).
    path : output file.
    fmt : json, csv, cxi or blacklist (default: from the suffix).
    class_name : class of cxi and blacklist (default Single; any case).
    min_confidence : propagated labels below it are exported as unsure (no class).
    force : export predictions even while a class has no user label.
    progress : ``progress(stage, done, total)`` while the CXI's images are copied.

    Raises UnlabelledClassError (an InputError) when predictions would be exported while a
    class has no label and ``force`` is False; nothing is written then.
    """
    path = Path(path)
    fmt = export_format(path, fmt)
    plan = plan_export(data, fmt, class_name, min_confidence)
    require_plan(plan, force)
    if fmt in ("json", "csv"):
        write_table(data, path, fmt, min_confidence)
    elif fmt == "cxi":
        write_class_cxi(data, path, plan.class_name, min_confidence, progress)
    else:
        write_blacklist(data, path, plan.class_name, min_confidence)
    return path


def table_rows(data: LabelData, min_confidence: float = CONFIDENT) -> list[dict]:
    """One dict per event: exp, run, event, label, source, confidence.

    ``source`` is user, propagated (at least ``min_confidence``), unsure (propagated below
    it: ``label`` is empty) or empty (never propagated).
    """
    label, source, conf = trusted_final(data, min_confidence)
    names = data.classes.names
    ev = data.events
    exps = {s: _experiment(s) for s in set(ev["source"])}
    return [{"exp": exps[ev["source"][i]], "run": int(ev["run"][i]), "event": int(ev["event"][i]),
             "label": names[label[i]] if label[i] >= 0 else "", "source": str(source[i]),
             "confidence": round(float(conf[i]), 6)} for i in range(len(ev))]


def write_table(data: LabelData, path: str | os.PathLike, fmt: str = "json",
                min_confidence: float = CONFIDENT) -> None:
    """Write the label table as JSON (a list of objects) or CSV, atomically."""
    rows = table_rows(data, min_confidence)
    if fmt == "json":
        atomic_write_text(path, json.dumps(rows, indent=1) + "\n")
        return
    out = io.StringIO()
    w = csv.DictWriter(out, list(TABLE_FIELDS), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, out.getvalue())


def class_mask(data: LabelData, class_name: str,
               min_confidence: float = CONFIDENT) -> np.ndarray:
    """(N,) bool: events whose final label is ``class_name`` with enough confidence."""
    k = data.classes.find(class_name)
    label, _source, _conf = trusted_final(data, min_confidence)
    return label == k


def write_blacklist(data: LabelData, path: str | os.PathLike,
                    class_name: str = DEFAULT_EXPORT_CLASS,
                    min_confidence: float = CONFIDENT) -> None:
    """EMC-style blacklist: one line per event, 0 = keep (is ``class_name``), 1 = skip."""
    keep = class_mask(data, class_name, min_confidence)
    atomic_write_text(path, "".join("0\n" if k else "1\n" for k in keep))


def write_class_cxi(data: LabelData, path: str | os.PathLike,
                    class_name: str = DEFAULT_EXPORT_CLASS, min_confidence: float = CONFIDENT,
                    progress: ProgressCallback | None = None) -> int:
    """Write the events of one class, images and metadata copied from their run files.

    The output keeps Psocake's SPI layout (``/entry_1/instrument_1/detector_1/data``
    soft-linked as ``/entry_1/data_1/data``, ``/LCLS/*`` per hit, detector geometry) so
    that reconstruction programs read it like a "Save hits" file; ``/psocake_labeler``
    adds run, event, label source and confidence per hit. Per-hit datasets are copied in
    chunks of hits; ``progress(stage, MB done, MB total)`` follows the copy. Returns the
    number of hits.
    """
    class_name = data.classes.names[data.classes.find(class_name)]
    rows = np.flatnonzero(class_mask(data, class_name, min_confidence))
    if len(rows) == 0:
        raise InputError(f"{path}: no event is labelled {class_name!r} (propagate first, or "
                         f"lower the confidence threshold); nothing to export")
    ev = data.events
    label, source, conf = data.final()
    groups: dict[str, list[int]] = {}
    for r in rows:
        groups.setdefault(str(ev["source"][r]), []).append(int(r))
    plans = [_plan(src, ev["event"][rs], rs) for src, rs in groups.items()]
    order = np.concatenate([p["rows"] for p in plans])
    first = plans[0]
    with atomic_h5(path, CXI_SCHEMA, 1) as out:
        with h5py.File(first["source"], "r") as f:
            _copy_static(f, out, first["per_hit"])
        # not in every source: cannot be one per-hit array
        names = [n for n in first["per_hit"] if all(n in p["per_hit"] for p in plans)]
        _copy_per_hit(out, plans, names, f"copying hits to {Path(path).name} (MB)", progress)
        with h5py.File(first["source"], "r") as f:
            _copy_links(f, out)
            for attr_path in ("entry_1/result_1/nHits",):
                if attr_path in f and attr_path in out:
                    for k, v in f[attr_path].attrs.items():
                        out[attr_path].attrs[k] = v
                    out[attr_path].attrs["numEvents"] = len(order)
        g = out.create_group("psocake_labeler")
        g.attrs["class_name"] = class_name
        g.attrs["min_confidence"] = float(min_confidence)
        g.create_dataset("run", data=np.asarray(ev["run"][order], np.int32))
        g.create_dataset("event", data=np.asarray(ev["event"][order], np.int64))
        g.create_dataset("source", data=np.asarray(ev["source"][order], dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        g.create_dataset("label_source", data=np.asarray(source[order], dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        g.create_dataset("confidence", data=conf[order])
    return len(order)


def write_psocake(data: LabelData, folder: str | os.PathLike,
                  experiment: str | None = None, min_confidence: float = CONFIDENT,
                  replace: bool = False) -> list[Path]:
    """Write Psocake's ``<exp>_%04d_labels.h5`` and ``<exp>_%04d.label.json`` per run.

    ``propLabels`` holds the propagated labels of at least ``min_confidence`` (0 = none).
    Our earlier exports there are replaced; Psocake's own files (an ``_labels.h5``
    without our schema, and the ``.label.json`` beside it) only with ``replace``. Every
    target is checked before the first is written.
    """
    folder = Path(folder)
    user = data.user_index()
    _label, source, _conf = trusted_final(data, min_confidence)
    predicted = np.where(source == "unsure", -1, np.asarray(data.predicted))
    ev = data.events
    plans = []
    for run in np.unique(ev["run"]):
        sel = np.flatnonzero(ev["run"] == run)
        check_event_numbers("the label file", f"events of run {int(run)}", ev["event"][sel])
        exp = experiment or _experiment(str(ev["source"][sel[0]])) or "exp"
        plans.append((run, sel, folder / psocake_h5_name(exp, int(run)),
                      folder / psocake_json_name(exp, int(run))))
    for _run, _sel, h5, js in plans:
        _check_psocake_target(h5, js, replace)
    written = []
    for _run, sel, h5, js in plans:
        n = events_in_run(str(ev["source"][sel[0]]), ev["event"][sel])
        labels = np.zeros(n, np.int64)
        prop = np.zeros(n, np.int64)
        labels[ev["event"][sel]] = user[sel] + 1          # -1 (none) becomes 0
        prop[ev["event"][sel]] = predicted[sel] + 1
        write_psocake_h5(h5, labels, prop)
        write_psocake_json(js, {int(ev["event"][r]): data.classes.names[user[r]]
                                for r in sel if user[r] >= 0})
        written += [h5, js]
    return written


def _check_psocake_target(h5: Path, js: Path, replace: bool) -> None:
    """Refuse to replace anything but our own earlier export (Psocake's own with replace)."""
    ours = check_output(h5, "psocake-labels") and path_schema(h5) == SCHEMA_PSOCAKE_LABELS
    if h5.exists() and not ours and not replace:
        raise InputError(f"{h5}: is Psocake's own label file (not written by psocake-labeler);"
                         " replace it with --replace, or export to another folder with -o")
    if check_output(js, "psocake-json") and not ours and not replace:
        raise InputError(f"{js}: is Psocake's own label JSON (no export of ours beside it); "
                         "replace it with --replace, or export to another folder with -o")


# -- helpers ------------------------------------------------------------------------------
def _experiment(source: str) -> str:
    """Experiment of a run file: from its name, else from the file (``/psana/input``)."""
    parsed = parse_run_name(source)
    if parsed:
        return parsed[0]
    from ..io.spi import cxi_metadata  # the file's own metadata, as ``info`` reads it
    try:
        with h5py.File(source, "r") as f:
            return cxi_metadata(f, Path(source), "spi", None).get("experiment") or ""
    except (OSError, InputError):
        return ""   # source not reachable here: the experiment stays unknown


def _plan(source: str, events: np.ndarray, rows: list[int]) -> dict:
    """Where each wanted event sits in ``source``, and which datasets are per hit."""
    if not Path(source).exists():
        raise InputError(f"{source}: run file of the labelled events not found; the CXI "
                         f"export copies images from it (move it back or re-embed)")
    with h5py.File(source, "r") as f:
        if not any(p in f for p in IMAGE_PATHS):   # SPI paths; SFX rank files: data_1/data
            raise NoImagesError(f"{source}: holds no images ({IMAGE_PATHS[0]}); save the hits "
                                f"with --saveADU to export a CXI for reconstruction")
        id_path = next((p for p in ("LCLS/eventNumber", "entry_1/experimental_identifier")
                        if p in f), None)
        if id_path is None:
            raise LayoutError(f"{source}: no /LCLS/eventNumber; cannot find the hits' events")
        ids = np.asarray(f[id_path][()], dtype=np.int64).reshape(-1)
        n = len(ids)
        where = {int(e): i for i, e in reversed(list(enumerate(ids)))}
        missing = [int(e) for e in events if int(e) not in where]
        if missing:
            raise LayoutError(f"{source}: events {missing[:5]} of the label file are not in "
                              f"{id_path}; the label file belongs to other run files")
        per_hit: list[str] = []

        def visit(name, obj):
            if (isinstance(obj, h5py.Dataset) and obj.shape and obj.shape[0] == n
                    and name.split("/")[-1] not in _PER_RUN
                    and not name.startswith(("psana", "status", "psocake_labeler"))
                    and f.get(name, getlink=True).__class__ is h5py.HardLink):
                per_hit.append(name)
        f.visititems(visit)
    return {"source": source, "index": np.array([where[int(e)] for e in events], np.int64),
            "rows": np.asarray(rows, np.int64), "per_hit": per_hit}


def _copy_per_hit(out: h5py.File, plans: list[dict], names: list[str], stage: str,
                  progress: ProgressCallback | None) -> None:
    """Copy the planned hits of every per-hit dataset, one chunk of hits at a time."""
    n = sum(len(p["index"]) for p in plans)
    with h5py.File(plans[0]["source"], "r") as f:
        specs = {k: (f[k].shape[1:], f[k].dtype) for k in names}
    row_bytes = sum(int(np.prod(shape)) * dt.itemsize for shape, dt in specs.values())
    total = max(1, -(-n * row_bytes // 2**20))
    done = 0
    report(progress, stage, 0, total)
    for name, (shape, dtype) in specs.items():
        ds = out.create_dataset(name, shape=(n, *shape), dtype=dtype, chunks=True)
        # whole hits per read, about _COPY_BYTES at a time, whatever the image size
        step = max(1, min(_CHUNK, _COPY_BYTES // max(1, int(np.prod(shape)) * dtype.itemsize)))
        pos = 0
        for p in plans:
            with h5py.File(p["source"], "r") as f:
                for a in range(0, len(p["index"]), step):
                    part = _read_rows(f[name], p["index"][a:a + step])
                    ds[pos:pos + len(part)] = part
                    pos += len(part)
                    done += len(part) * int(np.prod(shape)) * dtype.itemsize
                    report(progress, stage, min(total, done // 2**20), total)
    report(progress, stage, total, total)


def _read_rows(ds: h5py.Dataset, index: np.ndarray) -> np.ndarray:
    # h5py wants increasing indices: read sorted in chunks, then restore the order asked for
    order = np.argsort(index, kind="stable")
    sorted_idx = index[order]
    uniq, inv = np.unique(sorted_idx, return_inverse=True)
    parts = [ds[uniq[i:i + _CHUNK]] for i in range(0, len(uniq), _CHUNK)]
    data = np.concatenate(parts)[inv]
    out = np.empty_like(data)
    out[order] = data
    return out


def _copy_static(f: h5py.File, out: h5py.File, per_hit: list[str]) -> None:
    """Copy every dataset that is not per hit (geometry, run summaries) and all attributes."""
    for k, v in f.attrs.items():
        if k not in ("schema", "schema_version"):
            out.attrs[k] = v

    def visit(name, obj):
        link = f.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink) or name.startswith("psocake_labeler"):
            return
        if isinstance(obj, h5py.Group):
            grp = out.require_group(name)
            for k, v in obj.attrs.items():
                grp.attrs[k] = v
        elif name not in per_hit:
            parent = name.rsplit("/", 1)[0] if "/" in name else "/"
            f.copy(obj, out.require_group(parent), name=name.split("/")[-1])
    f.visititems(visit)


def _copy_links(f: h5py.File, out: h5py.File) -> None:
    """Recreate soft links (e.g. /entry_1/data_1/data) whose targets were copied."""
    for name, target in _soft_links(f):
        if name not in out and target.lstrip("/") in out:
            parent = name.rsplit("/", 1)[0] if "/" in name else "/"
            out.require_group(parent)
            out[name] = h5py.SoftLink(target)


def _soft_links(group: h5py.Group, prefix: str = "") -> list[tuple[str, str]]:
    """(path, target) of every soft link below ``group``, through hard links only (no
    cycles); a walk of our own since ``visititems_links`` needs h5py 3.11."""
    found = []
    for key in group:
        link = group.get(key, getlink=True)
        if isinstance(link, h5py.SoftLink):
            found.append((prefix + key, link.path))
        elif isinstance(link, h5py.HardLink) and isinstance(group[key], h5py.Group):
            found += _soft_links(group[key], prefix + key + "/")
    return found
