"""What our own files and Psocake's label files hold, in words (for ``info``).

Manifold and label files are known by their ``schema`` attribute; Psocake's older label
files by their names (``<exp>_%04d_labels.h5``, ``<exp>_%04d.label.json``).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import LayoutError
from .schema import parse_name


def _walk(f, limit: int = 12) -> list[str]:
    """``name shape dtype`` of the first ``limit`` datasets."""
    import h5py

    out: list[str] = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and len(out) < limit:
            out.append(f"{name} {obj.shape} {obj.dtype}")
    f.visititems(visit)
    return out


def _event_table_summary(f) -> str | None:
    """Rows and runs of the first dataset with (source, run, event) fields."""
    import h5py

    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.names and \
                {"source", "run", "event"} <= set(obj.dtype.names) and not found:
            found.append(obj)
    f.visititems(visit)
    if not found:
        return None
    table = found[0][()]
    runs = sorted({int(r) for r in table["run"]})
    sources = {s for s in table["source"]}
    return f"{len(table)} events from {len(sources)} file(s), runs {runs}"


def _strings(ds) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.ravel(ds[()])]


def _manifold_lines(f) -> list[str]:
    """Our manifold file (embedding.manifold): coordinates, graph, events, params."""
    lines = []
    if "coords" in f:
        shape = f["coords"].shape
        lines.append(f"  Diffusion coordinates: {shape[0]} events x "
                     f"{shape[1] if len(shape) > 1 else 1} components.")
    if "eigenvalues" in f:
        values = np.asarray(f["eigenvalues"][()]).reshape(-1)
        lines.append("  Eigenvalues: " + ", ".join(f"{v:.4g}" for v in values[:10]) + ".")
    if "graph/data" in f:
        lines.append(f"  Neighbour graph: {f['graph/data'].shape[0]} stored links.")
    if "features" in f:
        lines.append(f"  Features: {f['features'].shape[1] if f['features'].ndim > 1 else 1}"
                     " values per event.")
    if "transform" in f:
        lines.append(f"  Feature transform: {_transform_words(f['transform'])}.")
    if "params" in f.attrs:
        try:
            params = json.loads(f.attrs["params"])
            keys = [k for k in ("n_components", "knn", "alpha", "epsilon") if k in params]
            if keys:
                lines.append("  Parameters: " + ", ".join(f"{k} {params[k]}" for k in keys)
                             + ".")
        except (TypeError, ValueError):
            pass
    return lines


def _transform_words(g) -> str:
    """The saved feature transform in words: representation, photon scale, binning, PCA."""
    try:
        p = json.loads(g.attrs["params"])
        shape = tuple(int(v) for v in g["image_shape"][()]) if "image_shape" in g else None
    except (KeyError, TypeError, ValueError):
        return str(g.attrs.get("class", "saved"))
    words = [f"{p.get('representation', '?')} representation",
             f"{p.get('photon', '?')} photon scale",
             f"bin {p['bin']}" if p.get("bin") else f"binned to ~{p.get('work_size')} pixels",
             f"PCA to {p['n_pca']}" if p.get("n_pca") else "no PCA"]
    if shape:
        words.insert(0, f"fitted on {shape[0]} x {shape[1]} images")
    return ", ".join(words)


def _labels_lines(f) -> list[str]:
    """Our label file (labelfiles.store): classes, hand labels, users, predictions."""
    lines = []
    names = _strings(f["classes/name"]) if "classes/name" in f else []
    if names:
        lines.append(f"  Classes: {', '.join(names)}.")
    if "labels" in f:
        labels = np.asarray(f["labels"][()]).reshape(-1)
        counts = Counter(int(v) for v in labels if v >= 0)
        per = ", ".join(f"{names[k] if 0 <= k < len(names) else k} {c}"
                        for k, c in sorted(counts.items()))
        lines.append(f"  Labelled by hand: {sum(counts.values())} of {len(labels)} events"
                     + (f" ({per})." if per else "."))
    if "log/actions/user" in f:
        users = sorted(set(_strings(f["log/actions/user"])))
        lines.append(f"  History: {f['log/actions/user'].shape[0]} actions by "
                     f"{len(users)} user(s)" + (f": {', '.join(users)}." if users else "."))
    if "predictions/predicted" in f:
        pred = np.asarray(f["predictions/predicted"][()]).reshape(-1)
        if (pred >= 0).any():
            conf = np.asarray(f["predictions/confidence"][()]).reshape(-1) \
                if "predictions/confidence" in f else None
            method = f["predictions"].attrs.get("method", "")
            method = method.decode() if isinstance(method, bytes) else method
            lines.append(f"  Predictions: {int((pred >= 0).sum())} events"
                         + (f" by {method}" if method else "")
                         + (f", mean confidence {conf[pred >= 0].mean():.2f}."
                            if conf is not None and len(conf) == len(pred) else "."))
        else:
            lines.append("  Predictions: none yet.")
    if "events_hash" in f.attrs:
        value = f.attrs["events_hash"]
        value = value.decode() if isinstance(value, bytes) else str(value)
        lines.append(f"  Made for the manifold whose events hash is {value[:16]}...")
    return lines


def schema_lines(f, path: Path, kind: str) -> list[str]:
    """Our manifold and label files, from their schema and the datasets they hold."""
    version = f.attrs.get("schema_version")
    what = {"manifold": "psocake-labeler manifold file (diffusion map of hits)",
            "labels": "psocake-labeler label file (labels given by hand, with who and when, "
                      "and propagated predictions)"}[kind]
    lines = [f"{path}: {what}, schema version {version}."]
    events = _event_table_summary(f)
    if events:
        lines.append(f"  Events: {events}.")
    more = _manifold_lines(f) if kind == "manifold" else _labels_lines(f)
    if not more:  # an unfamiliar version: at least say what is inside
        more = ["  Datasets: " + "; ".join(_walk(f)) + "."]
    return lines + more


def psocake_labels_lines(f, path: Path) -> list[str]:
    labels = np.asarray(f["labels"][()]).reshape(-1)
    prop = np.asarray(f["propLabels"][()]).reshape(-1)
    for name, values in (("labels", labels), ("propLabels", prop)):
        if values.dtype.kind not in "iuf":
            raise LayoutError(f"{path}: dataset /{name} holds {values.dtype} values, not "
                              "class codes (0 = no label, k = k-th class)")
    name = parse_name(path)
    who = (f" for experiment {name['experiment']} run {name['run']}" if name else "")
    codes = Counter(int(v) for v in labels if v != 0)
    return [f"{path}: Psocake label file (labels/propLabels, one user's labels){who}: "
            f"{len(labels)} events, {sum(codes.values())} labelled by hand "
            f"(codes {dict(sorted(codes.items()))}; 0 = no label, k = k-th class), "
            f"{int((prop != 0).sum())} with a propagated label."]


def truth_lines(f, path: Path) -> list[str]:
    """Ground truth written by the simulator beside a simulated run."""
    names = [v.decode() if isinstance(v, bytes) else str(v)
             for v in np.ravel(f["class_names"][()])] if "class_names" in f else []
    labels = np.asarray(f["labels"][()]).reshape(-1) if "labels" in f else np.zeros(0, int)
    counts = Counter(int(v) for v in labels)
    per_class = ", ".join(f"{names[k] if 0 <= k < len(names) else k} {c}"
                          for k, c in sorted(counts.items()))
    kinds = Counter(v.decode() if isinstance(v, bytes) else str(v)
                    for v in np.ravel(f["kinds"][()])) if "kinds" in f else Counter()
    return [f"{path}: psocake-labeler simulation ground truth (the true class of each "
            f"simulated hit): {len(labels)} hits; classes: {per_class or 'none'}; kinds: "
            + (", ".join(f"{k} {v}" for k, v in kinds.most_common()) or "none") + "."]


def label_json_lines(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise LayoutError(f"{path}: is not a valid Psocake .label.json (nested too "
                          "deeply)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayoutError(f"{path}: is not a valid Psocake .label.json ({exc})") from None
    if not isinstance(data, dict):
        raise LayoutError(f"{path}: a .label.json must map event numbers to labels")
    counts = Counter(str(v) for v in data.values())
    name = parse_name(path)
    who = f" for experiment {name['experiment']} run {name['run']}" if name else ""
    return [f"{path}: Psocake label file (JSON, event -> label){who}: {len(data)} events "
            f"labelled ({', '.join(f'{k} {v}' for k, v in counts.most_common())})."]
