"""The hostile inputs of benchmarks/probe_hostile.py: every case, one ``Case`` each, built
from the healthy base files by hostile_builders."""
from __future__ import annotations

import json

import hostile_builders as hb
import numpy as np
from hostile_builders import IMAGES, Case


def run_cases() -> list[Case]:
    """Hostile run files."""
    return [
        Case("run-duplicate-events", hb.both_ids(hb.dup)),
        Case("run-negative-events", hb.both_ids(hb.neg)),
        Case("run-string-events", hb.both_ids(hb.string_events)),
        Case("run-float-events", hb.both_ids(lambda v: v + 0.5)),
        Case("run-event-2^62", hb.both_ids(hb.hostile_big)),
        Case("run-event-beyond-run", hb.edit_run(hb.hostile_beyond)),
        Case("run-2d-events", hb.both_ids(lambda v: np.stack([v, v], 1))),
        # rows past numEvents are pre-allocated space: never read, so not refused
        Case("run-declared-1e12-images", hb.edit_run(hb.huge_images), refuse=False),
        Case("run-declared-1e12-events", hb.edit_run(hb.huge_events)),
        Case("run-soft-link-loop", hb.edit_run(hb.link_loop)),
        Case("run-group-cycle", hb.edit_run(hb.self_group_loop), refuse=False),
        Case("run-external-link", hb.external_images("amo06516_0093.cxi", False)),
        Case("run-broken-external-link", hb.external_images("amo06516_0093.cxi", True),
             expect="external link"),
        Case("run-broken-soft-link", hb.edit_run(hb.broken_soft), expect="broken soft link"),
        Case("run-images-strings", hb.edit_run(lambda f: hb.hostile_replace(
            f, IMAGES, np.array([b"x"] * 60)))),
        Case("run-images-zero-size", hb.edit_run(lambda f: hb.hostile_replace(
            f, IMAGES, np.zeros((60, 0, 0), np.float32)))),
        Case("run-numEvents-huge", hb.edit_run(hb.num_events(10**15))),
        Case("run-numEvents-string", hb.edit_run(hb.num_events("lots")), refuse=False),
        Case("run-distance-string", hb.edit_run(lambda f: hb.hostile_replace(
            f, "entry_1/instrument_1/detector_1/distance", b"far")), refuse=False),
        Case("run-mask-wrong-shape", hb.edit_run(lambda f: hb.hostile_replace(
            f, "entry_1/instrument_1/detector_1/mask", np.zeros((3, 3), np.int32))),
            refuse=False),
        Case("run-truncated", lambda b, o: hb.truncate(b.run, o)),
        Case("embed-duplicate-events", hb.bad_events_embed(hb.dup)),
        Case("embed-negative-events", hb.bad_events_embed(hb.neg)),
        Case("embed-event-2^62", hb.bad_events_embed(hb.hostile_big)),
        Case("embed-string-events", hb.bad_events_embed(hb.string_events)),
        Case("embed-1e12-images", lambda b, o: hb.embed_of(hb.edit_run(hb.huge_images), b, o)),
        Case("embed-link-loop", lambda b, o: hb.embed_of(hb.edit_run(hb.link_loop), b, o)),
        Case("embed-broken-external", lambda b, o: hb.embed_of(
            hb.external_images("amo06516_0093.cxi", True), b, o)),
        Case("embed-extend-same-run", hb.extend_same),
    ]


def manifold_cases() -> list[Case]:
    """Hostile manifolds."""
    return [
        Case("manifold-graph-index-out-of-range", hb.edit_manifold(hb.graph_index)),
        Case("manifold-graph-index-out-of-range-gui", hb.edit_manifold(hb.graph_index, "gui")),
        Case("manifold-graph-index-negative", hb.edit_manifold(hb.graph_negative)),
        Case("manifold-indptr-bad", hb.edit_manifold(hb.hostile_indptr)),
        Case("manifold-graph-shape", hb.edit_manifold(hb.graph_shape)),
        Case("manifold-coords-nan", hb.edit_manifold(hb.coords_nan)),
        Case("manifold-coords-nan-gui", hb.edit_manifold(hb.coords_nan, "gui")),
        Case("manifold-coords-short", hb.edit_manifold(hb.coords_short)),
        Case("manifold-params-not-json", hb.edit_manifold(hb.hostile_params("{knn: 15"))),
        Case("manifold-params-list", hb.edit_manifold(hb.hostile_params("[1, 2]"))),
        Case("manifold-params-deep", hb.edit_manifold(hb.hostile_params(hb.hostile_deep(100000)))),
        Case("manifold-params-huge", hb.edit_manifold(hb.hostile_params(
            json.dumps({"knn": 8, "pad": "x" * (20 << 20)})))),
        Case("manifold-params-epsilon-string", hb.edit_manifold(hb.hostile_params(
            json.dumps({"knn": 8, "epsilon": "wide", "alpha": 1.0})), "extend")),
        Case("manifold-eigenvalues-zero", hb.edit_manifold(hb.eigen_zero, "extend")),
        Case("manifold-density-short", hb.edit_manifold(hb.density_short, "extend")),
        Case("manifold-features-narrow", hb.edit_manifold(hb.features_2, "extend")),
        Case("manifold-events-strings", hb.edit_manifold(hb.events_string)),
        Case("manifold-declared-1e11-coords", hb.edit_manifold(hb.huge_coords)),
    ]


def label_cases() -> list[Case]:
    """Hostile label files."""
    return [
        Case("labels-predictions-out-of-range", hb.edit_labels(hb.hostile_predictions)),
        Case("labels-predictions-out-of-range-propagate", hb.edit_labels(hb.hostile_predictions,
                                                                        "propagate"),
             refuse=False),
        Case("psocake-labels-strings", hb.psocake_h5(np.array([[b"Single"]] * 10))),
        Case("psocake-labels-class-77", hb.psocake_h5(np.full((10, 1), 77, np.int64))),
        Case("psocake-labels-negative", hb.psocake_h5(np.full((10, 1), -3, np.int64))),
        Case("psocake-labels-float", hb.psocake_h5(np.full((10, 1), 1.5))),
        Case("label-json-deep", hb.label_json(hb.hostile_deep(100000))),
        Case("label-json-huge", hb.label_json(json.dumps({str(i): "Single" * 1000
                                                        for i in range(20000)})),
             refuse=False),
        Case("label-json-list", hb.label_json("[1, 2, 3]")),
        Case("label-json-bad-key", hb.label_json('{"seven": "Single"}')),
        Case("label-json-negative-key", hb.label_json('{"-4": "Single"}')),
        Case("label-json-value-object", hb.label_json('{"4": {"a": 1}}')),
        Case("info-notes", hb.hostile_notes("notes.txt")),
        Case("info-binary", hb.hostile_notes("junk.h5", "\x89HDF\r\n\x1a\n" + "x" * 100)),
    ]


def command_cases() -> list[Case]:
    """Hostile outputs onto files we do not own."""
    return [
        Case("merge-onto-run", hb.hostile_onto("run:amo06516_0094.cxi", lambda b, lab, d: [
            "merge", str(lab), "-o", str(d)]), keep=("amo06516_0094.cxi",)),
        Case("merge-onto-manifold", hb.hostile_onto("manifold:other.h5", lambda b, lab, d: [
            "merge", str(lab), "-o", str(d)]), keep=("other.h5",)),
        Case("merge-onto-labels", hb.hostile_onto("labels:bob.labels.h5", lambda b, lab, d: [
            "merge", str(lab), "-o", str(d)]), keep=("bob.labels.h5",)),
        Case("merge-onto-link-to-run", hb.hostile_onto("link:link.h5", lambda b, lab, d: [
            "merge", str(lab), "-o", str(d)]), keep=("real_run.cxi",)),
        Case("merge-report-onto-notes", hb.hostile_onto("notes:notes.txt", lambda b, lab, d: [
            "merge", str(lab), "-o", str(d.with_name("new.h5")), "--report", str(d)]),
             keep=("notes.txt",)),
        Case("export-csv-onto-run", hb.hostile_onto("run:amo06516_0094.cxi", lambda b, lab, d: [
            "export", str(lab), "--format", "csv", "-o", str(d)]), keep=("amo06516_0094.cxi",)),
        Case("export-json-onto-notes", hb.hostile_onto("notes:notes.txt", lambda b, lab, d: [
            "export", str(lab), "--format", "json", "-o", str(d)]), keep=("notes.txt",)),
        Case("export-blacklist-onto-notes", hb.hostile_onto("notes:notes.dat", lambda b, lab, d: [
            "export", str(lab), "--format", "blacklist", "-o", str(d)]), keep=("notes.dat",)),
        Case("export-cxi-onto-link-to-run", hb.hostile_onto("link:single.cxi", lambda b, lab, d: [
            "export", str(lab), "--format", "cxi", "-o", str(d)]), keep=("real_run.cxi",)),
        Case("export-psocake-onto-psocake", hb.psocake_export_onto_own,
             keep=("amo06516_0093_labels.h5",)),
        Case("simulate-onto-manifold", hb.hostile_onto("manifold:other.h5", lambda b, lab, d: [
            "simulate", str(d), "--hits", "5", "--shape", "16", "--quiet"]), keep=("other.h5",)),
        Case("simulate-huge", lambda b, o: ["simulate", str(o / "x.cxi"), "--hits",
                                            str(10**13), "--shape", "16", "--quiet"]),
        Case("simulate-shape-zero", lambda b, o: ["simulate", str(o / "x.cxi"), "--hits",
                                                  "5", "--shape", "0", "--quiet"]),
    ]


def corpus() -> list[Case]:
    """Every case of the probe (>= 40)."""
    return run_cases() + manifold_cases() + label_cases() + command_cases()
