"""What a file is: the one registry of dataset paths, schema strings and file kinds.

Every module that writes a file of ours takes its ``schema`` string from here, and every
module that must know what a file is asks :func:`file_kind` (and :func:`kind_words` for the
words), so that the readers, ``info``, the output checks and the exports agree.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError, LayoutError
from .h5files import SQLITE_MAGIC, attr_str, get_dataset, open_h5

# Psocake's datasets (docs/inputs.md).
SPI_HITS = "/entry_1/result_1/nHits"
SPI_ALL = "/entry_1/result_1/nHitsAll"
SFX_ALL = "/entry_1/result_1/nPeaksAll"
SFX_HITS = "/entry_1/result_1/nPeaks"
EVENT_NUMBER = "/LCLS/eventNumber"
LIT_PIXELS = "/litPixels"

# The ``schema`` attribute of the files we write (a version attribute sits beside it).
SCHEMA_MANIFOLD = "psocake-labeler/manifold"
SCHEMA_LABELS = "psocake-labeler/labels"
SCHEMA_CLASS_CXI = "psocake-labeler/class-cxi"
SCHEMA_FEATURES = "psocake-labeler/feature-transform"
SCHEMA_TRUTH = "psocake-labeler/simulation-truth"
# Written into Psocake's own ``<exp>_%04d_labels.h5`` by our export, to recognise it.
SCHEMA_PSOCAKE_LABELS = "psocake/labels"

NAME_RE = re.compile(r"^(?P<exp>[A-Za-z]+\d+)_(?P<run>\d+)(?:_(?P<rest>.+))?$")

# A file kind in words, as error messages use it ("... is a label file").
KIND_WORDS = {
    "manifold": "a psocake-labeler manifold file", "labels": "a label file",
    "psocake-labels": "a Psocake label file", "class-cxi": "a one-class export",
    "litpixels": "a Psocake litPixels file", "sfx-master": "a Psocake run (hits file)",
    "sfx-rank": "a Psocake run (hits file)", "spi": "a Psocake run (hits file)",
    "spi-hitfinder": "a Psocake hit-finder file", "cxi": "a CXI file of images",
    "truth": "a simulation truth file",
    # text files, told by their first bytes (io.outputs.output_kind)
    "label-table-csv": "a label table (CSV export)",
    "label-table-json": "a label table (JSON export)",
    "conflict-report": "a merge conflict report", "blacklist": "a blacklist export",
    "psocake-json": "a Psocake label JSON file", "sqlite": "an SQLite database",
    "empty": "an empty file", "unknown": "a file of unknown content",
}

# Columns of the label table export (CSV header, JSON keys) and of merge's conflict report.
TABLE_FIELDS = ("exp", "run", "event", "label", "source", "confidence")
CONFLICT_FIELDS = ("run", "event", "users", "labels", "files")


def parse_name(path: str | Path) -> dict:
    """Experiment, run and the rest (rank and/or tag) from ``<exp>_<run:04d>[_...]``.

    Returns an empty dict when the name does not follow Psocake's pattern.
    """
    stem = Path(path).name.split(".")[0]
    m = NAME_RE.match(stem)
    if not m:
        return {}
    return {"experiment": m["exp"], "run": int(m["run"]), "rest": m["rest"]}


def _schema_kind(f, schema: str) -> str:
    if schema.startswith(SCHEMA_MANIFOLD):
        return "manifold"
    if schema.startswith(SCHEMA_LABELS):
        return "labels"
    if schema.startswith(SCHEMA_PSOCAKE_LABELS):
        return "psocake-labels"
    if schema.startswith(SCHEMA_TRUTH):
        return "truth"
    if schema.startswith(SCHEMA_CLASS_CXI):
        # SPI layout, read like a hits file when named, but not a run of its own
        # when found by listing a run folder (its hits are copies).
        return "class-cxi" if get_dataset(f, EVENT_NUMBER) is not None else "unknown"
    return f"schema:{schema}"


def file_kind(f) -> str:
    """Which file an open HDF5 file is, from its datasets and ``schema`` attribute.

    One of ``manifold``, ``labels``, ``class-cxi`` (our one-class export, SPI layout),
    ``truth``, ``schema:<name>`` (another file of ours), ``litpixels``, ``sfx-master``,
    ``sfx-rank``, ``spi``, ``spi-hitfinder`` (nHitsAll only, hits not saved),
    ``psocake-labels``, ``cxi`` (eventNumber and images, no Psocake result) or ``unknown``.
    """
    schema = f.attrs.get("schema")
    if isinstance(schema, bytes):
        schema = schema.decode("utf-8", "replace")
    if isinstance(schema, str):
        return _schema_kind(f, schema)
    if LIT_PIXELS in f:
        return "litpixels"
    for name, kind in ((SFX_ALL, "sfx-master"), (SFX_HITS, "sfx-rank"), (SPI_HITS, "spi")):
        if get_dataset(f, name) is not None:
            return kind
    if get_dataset(f, SPI_ALL) is not None:
        return "spi" if get_dataset(f, EVENT_NUMBER) is not None else "spi-hitfinder"
    if get_dataset(f, EVENT_NUMBER) is not None:
        return "cxi"
    if get_dataset(f, "labels") is not None and get_dataset(f, "propLabels") is not None:
        return "psocake-labels"
    return "unknown"


def sqlite_schema(path: str | Path) -> str | None:
    """The ``schema`` of an SQLite file's ``meta`` table ("" if it has none); None when the
    file is not SQLite (or cannot be read)."""
    import sqlite3

    try:
        with open(path, "rb") as fh:
            if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                return None
        con = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except (OSError, sqlite3.Error):
        return None
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        return str(row[0]) if row else ""
    except sqlite3.Error:
        return ""
    finally:
        con.close()


def path_kind(path: str | Path) -> str:
    """:func:`file_kind` of the file at ``path`` (our label store too); ``unreadable`` when
    it is neither HDF5 nor SQLite."""
    schema = sqlite_schema(path)
    if schema is not None:
        return "labels" if schema.startswith(SCHEMA_LABELS) else (
            f"schema:{schema}" if schema else "unknown")
    try:
        with open_h5(path) as f:
            return file_kind(f)
    except (InputError, OSError, KeyError):
        return "unreadable"


def path_schema(path: str | Path) -> str:
    """The ``schema`` attribute of the HDF5 file at ``path`` ("" when none or not HDF5)."""
    try:
        with open_h5(path) as f:
            return attr_str(f, "schema")
    except (InputError, OSError):
        return ""


def kind_words(kind: str) -> str:
    """A file kind in words, for messages."""
    if kind.startswith("schema:"):
        return f"a file of schema {kind[len('schema:'):]!r}"
    return KIND_WORDS.get(kind, "a file of unknown layout")


def not_a_run(path: Path, kind: str) -> LayoutError:
    """The message for an HDF5 file that is not a run, saying what it is instead."""
    if kind == "manifold":
        return LayoutError(f"{path}: is a psocake-labeler manifold file, not a run; load it "
                           "with Manifold.load or `psocake-labeler gui`")
    if kind == "labels":
        return LayoutError(f"{path}: is a psocake-labeler label file, not a run; load it "
                           "with LabelSession.load")
    if kind == "psocake-labels":
        return LayoutError(f"{path}: is a Psocake label file (labels/propLabels), not a run")
    if kind.startswith("schema:") or kind == "truth":
        return LayoutError(f"{path}: is {kind_words(kind)}, not a Psocake run")
    with open_h5(path) as f:
        top = ", ".join(sorted(f.keys())[:8]) or "nothing"
    return LayoutError(f"{path}: is HDF5 but not a Psocake hit-finder output: none of "
                       f"{SPI_HITS}, {EVENT_NUMBER}, {SFX_ALL}, {LIT_PIXELS} (top level "
                       f"holds: {top})")
