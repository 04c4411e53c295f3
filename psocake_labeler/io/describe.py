"""What a file is, in words: the text behind ``psocake-labeler info``.

Knows Psocake's outputs (SPI hits, SFX master and per-rank, litPixels), Psocake's older label
files (``<exp>_%04d_labels.h5``, ``<exp>_%04d.label.json``) and our own manifold and label
files (by their ``schema`` attribute).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import (
    EmptyRunError,
    LabelerError,
    MissingFileError,
    NoImagesError,
)
from .describe_files import (
    label_json_lines,
    psocake_labels_lines,
    schema_lines,
    truth_lines,
)
from .h5files import open_h5
from .opening import open_run
from .runs import Run, RunSet
from .schema import file_kind, not_a_run

TITLES = {
    "spi": "Psocake SPI hits file (\"Launch hit finder\" + \"Save hits\", xtc2cxi --mode spi)",
    "cxi": "CXI hits file with /LCLS/eventNumber (no Psocake hit-finder result)",
    "sfx-master": "Psocake SFX peak-finder master file",
    "sfx-rank": "Psocake SFX peak-finder per-rank file",
    "litpixels": "Psocake litPixels hit-metric file (a metric per event, no images)",
    "spi-hitfinder": "Psocake SPI hit-finder output (\"Launch hit finder\" only, hits not "
                     "saved)",
}


@dataclass
class FileReport:
    """What :func:`inspect_file` found.

    ``problem`` is the error that makes the file unusable for labelling as it is (hits
    without images, no hits), or None; ``info`` prints the lines, then reports the problem.
    ``no_images`` is the error reading an image raises (litPixels files included), or None.
    """

    path: str
    kind: str
    lines: list[str] = field(default_factory=list)
    problem: LabelerError | None = None
    nonfinite: dict | None = None
    no_images: LabelerError | None = None

    def text(self) -> str:
        """The report as printed by ``psocake-labeler info``."""
        return "\n".join(self.lines)


def _fmt(x: float | None, unit: str, scale: float = 1.0, digits: int = 4) -> str | None:
    return None if x is None else f"{x * scale:.{digits}g} {unit}"


def count_nonfinite(run: Run, sample: int = 16, block: int = 4) -> dict:
    """NaN and inf pixels in up to ``sample`` images spread evenly over the run."""
    n = len(run)
    rows = np.unique(np.linspace(0, n - 1, min(n, max(sample, 1))).astype(np.int64))
    nan = inf = pixels = 0
    bad_images = 0
    blank: list[int] = []   # hits with no finite pixel at all
    for a in range(0, len(rows), block):
        imgs = run.images(rows[a:a + block])  # a few at a time: images may be 1024^2
        isnan, isinf = np.isnan(imgs), np.isinf(imgs)
        nan += int(isnan.sum())
        inf += int(isinf.sum())
        pixels += imgs.size
        bad = (isnan | isinf).reshape(len(imgs), -1)
        bad_images += int(bad.any(axis=1).sum())
        blank += [int(r) for r in rows[a:a + block][bad.all(axis=1)]]
    return {"images": len(rows), "pixels": pixels, "nan": nan, "inf": inf,
            "bad_images": bad_images, "blank": blank,
            "fraction": (nan + inf) / pixels if pixels else 0.0}


def _sentence(exc: Exception) -> str:
    """An error message without its leading ``path: ``, as part of a report line."""
    return "the file " + str(exc).split(": ", 1)[-1]


def _no_images_error(run: Run) -> NoImagesError | None:
    """The NoImagesError of the first (sub-)run that has hits but no images."""
    for r in getattr(run, "runs", [run]):
        if r.has_images or r.metadata.get("kind") == "litpixels" or not len(r):
            continue
        try:
            r.image(0)
        except NoImagesError as exc:
            return exc
    return None


def _title(run: Run) -> str:
    """Which Psocake output a (single) run was read from."""
    kind, info = run.metadata["kind"], run.info
    if info.get("export_class") is not None:
        return (f"psocake-labeler export of the {info['export_class']!r} hits (SPI layout, "
                "images and metadata copied from their runs)")
    if kind == "sfx" and info.get("n_events") is not None:
        parts = len(info.get("parts", []))
        return TITLES["sfx-master"] + f" gathering {parts} per-rank file{'s' * (parts != 1)}"
    if kind == "sfx":
        return TITLES["sfx-rank"]
    return TITLES.get(kind, kind)


def _header_lines(run: Run) -> list[str]:
    """What the run is, whose, how many hits, and its hit metrics."""
    md, info = run.metadata, run.info
    lines = []
    if isinstance(run, RunSet):
        lines.append(f"{len(run.runs)} runs read as one ({md.get('kind')}):")
        for r in run.runs:
            images = f"images {r.image_shape}" if r.has_images else "no images"
            lines.append(f"  {r.path}: {_title(r)}, "
                         f"run {r.metadata.get('run')}, {len(r)} hits, {images}")
    else:
        title = _title(run)
        lines.append(f"{run.path}: {title}.")
    runs = md.get("runs")
    run_words = (f"run {md['run']}" if md.get("run") is not None else
                 f"runs {', '.join(map(str, runs))}" if runs else "run unknown")
    who = [f"experiment {md.get('experiment') or 'unknown'}", run_words,
           f"detector {md.get('detector') or 'unknown'}"]
    lines.append("  " + ", ".join(who) + ".")
    counts = f"  {len(run)} {'events' if md.get('kind') == 'litpixels' else 'hits'}"
    if info.get("n_events") is not None:
        counts += (f" out of {info['n_events']} events in the run "
                   f"({info['n_processed']} processed by the hit finder)")
    if len(run):
        counts += f"; event numbers {run.events.min()}..{run.events.max()}"
    lines.append(counts + (f" ({info['events_dataset']})." if info.get("events_dataset")
                           else "."))
    if info.get("missing_ranks"):
        gone = info["missing_ranks"]
        lines.append(f"  Warning: no per-rank file for rank(s) {', '.join(map(str, gone[:8]))}"
                     f"{' ...' if len(gone) > 8 else ''} below the highest rank found: their "
                     "hits are missing unless those ranks wrote no file; copy them beside "
                     "the master.")
    for key, label in (("lit_pixels", "lit pixels per hit (nHits)"),
                       ("hit_metric", "hit metric (hitMetric)")):
        if info.get(key) is not None and len(info[key]):
            v = np.asarray(info[key], dtype=np.float64)
            lines.append(f"  {label}: min {v.min():.4g}, median {np.median(v):.4g}, "
                         f"max {v.max():.4g}.")
    return lines


def _image_lines(run: Run, lines: list[str]) -> LabelerError | None:
    """Whether images are there; the reason when they are not."""
    md, info = run.metadata, run.info
    problem: LabelerError | None = None
    if run.has_images:
        where = info.get("images_dataset")
        lines.append(f"  Images: present, {len(run)} x {run.image_shape[0]} x "
                     f"{run.image_shape[1]}" + (f" in {where}." if where else "."))
    elif md.get("kind") == "litpixels":
        lines.append("  Images: none (a litPixels file holds only the hit metric).")
    else:
        problem = _no_images_error(run)
        if problem is not None:
            lines.append(f"  Images: none: {_sentence(problem)}.")
    return problem


def _geometry_lines(run: Run) -> list[str]:
    """Photon energy, distance, pixel size, mask and beam centre."""
    md, info = run.metadata, run.info
    lines: list[str] = []
    geo = [s for s in (_fmt(md.get("photon_energy_eV"), "eV"),
                       _fmt(md.get("distance_m"), "m", digits=4),
                       _fmt(md.get("pixel_size_m"), "um", 1e6)) if s]
    if geo:
        names = [n for n, k in (("photon energy", "photon_energy_eV"),
                                ("detector distance", "distance_m"),
                                ("pixel size", "pixel_size_m")) if md.get(k) is not None]
        lines.append("  " + ", ".join(f"{n} {v}" for n, v in zip(names, geo)) + ".")
    if md.get("clen_mm") is not None:
        lines.append(f"  camera length (clen) {md['clen_mm']:.4g} mm.")
    mask = run.mask
    if mask is not None:
        lines.append(f"  Mask: {info.get('mask_dataset') or 'combined'}, {mask.shape[0]} x "
                     f"{mask.shape[1]}, {mask.mean():.1%} good pixels.")
    else:
        lines.append("  Mask: none in the file (NaN/inf pixels are masked by the features).")
    if run.center is not None:
        lines.append(f"  Beam centre (row, col): ({run.center[0]:.1f}, {run.center[1]:.1f}) "
                     f"pixels{' (from file)' if run.center_from_file else ' (image centre)'}.")
    return lines


def _nonfinite_lines(run: Run, sample: int, lines: list[str]) -> dict | None:
    """NaN/inf pixels in a sample of the images."""
    nonfinite = None
    if run.has_images and len(run):
        nonfinite = count_nonfinite(run, sample)
        c = nonfinite
        if c["nan"] + c["inf"] == 0:
            lines.append(f"  NaN/inf pixels: none in {c['images']} sampled images.")
        else:
            lines.append(f"  NaN/inf pixels: {c['nan']} NaN and {c['inf']} inf in "
                         f"{c['bad_images']} of {c['images']} sampled images "
                         f"({c['fraction']:.4%} of sampled pixels); they are kept as read "
                         "and masked by the features.")
            if c["blank"]:
                lines.append(f"  {len(c['blank'])} sampled hit(s) have no finite pixel at all "
                             f"(hit index {', '.join(map(str, c['blank'][:5]))}): they carry no "
                             "data and will sit apart on the manifold; check those "
                             "events in Psocake.")
    return nonfinite


def _run_lines(run: Run, sample: int) -> tuple[list[str], LabelerError | None, dict | None]:
    lines = _header_lines(run)
    problem = _image_lines(run, lines)
    lines += _geometry_lines(run)
    nonfinite = _nonfinite_lines(run, sample, lines)
    return lines, problem, nonfinite


def inspect_file(path, sample: int = 16) -> FileReport:
    """Inspect ``path`` (a file, run folder or glob) and say what it holds.

    Raises the specific :class:`InputError` when the file cannot be read at all (missing,
    empty, not HDF5, truncated, unknown layout, datasets of different lengths).
    """
    p = Path(path)
    if p.suffix == ".json":
        if not p.exists():
            raise MissingFileError(f"{p}: no such file")
        return FileReport(str(p), "label-json", label_json_lines(p))
    if p.is_dir() or not p.exists():
        kind = "run"
    else:
        with open_h5(p) as f:
            kind = file_kind(f)
            if kind in ("manifold", "labels"):
                return FileReport(str(p), kind, schema_lines(f, p, kind))
            if kind == "psocake-labels":
                return FileReport(str(p), kind, psocake_labels_lines(f, p))
            if kind == "truth":
                return FileReport(str(p), "truth", truth_lines(f, p))
        if kind.startswith("schema:") or kind == "unknown":
            raise not_a_run(p, kind)
    try:
        run = open_run(p)
    except EmptyRunError as exc:
        title = TITLES.get(kind, "Psocake output")
        return FileReport(str(p), kind, [f"{p}: {title}.",
                                         f"  {_sentence(exc)}"], problem=exc)
    with run:
        lines, problem, nonfinite = _run_lines(run, sample)
        no_images = None
        if not run.has_images:
            try:
                run.image(0)
            except NoImagesError as exc:
                no_images = exc
    return FileReport(str(p), run.metadata["kind"], lines, problem, nonfinite, no_images)


def describe(path, sample: int = 16) -> str:
    """What ``path`` is, in words (see :func:`inspect_file`)."""
    return inspect_file(path, sample).text()
