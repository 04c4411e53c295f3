"""The dead-half case by beam depth: how much of the loss is the features', how much physics.

Case 3 of ``bench_active_learning.py`` has the bottom pnCCD half dead and the beam jittered
by 6 px rms, so half the hits have their beam on the dead half, ``depth`` pixels below the
edge, and their pattern (bright within a few pixels of the beam) is mostly unseen. Per band
of depth this prints, on the run's truth:

* the error of the found beam centre (image pixels, median) and its mean row error;
* 5-fold logistic regression (80% of the events labelled) on the features with the found
  centres, and on the same features sampled about the TRUE centres (an oracle: what a
  perfect centre finder would give), both with the brightness basis the labels' classifier
  uses (``inputs.classifier_inputs``; no profile), and each class's recall by band (which events are
  wrong).

    python benchmarks/bench_dead_half.py [--hits 1500] [--workdir /tmp/psocake_bench_al]
        [--options '{"beam_search": 12}']

The run is cached in --workdir exactly as ``bench_active_learning.py`` caches it.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from bench_active_learning import CASES, simulated_run, truth_of
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from psocake_labeler.features import FeatureTransform, centering
from psocake_labeler.features import representations as rep
from psocake_labeler.features.brightness import hit_brightness
from psocake_labeler.io import open_run
from psocake_labeler.labelling.inputs import classifier_inputs
from psocake_labeler.simulate import read_truth

#: Bands of beam depth below the live half's edge (image pixels; < 0: beam on the live half).
BANDS = (-99.0, -3.0, 0.0, 3.0, 6.0, 10.0, 99.0)
BLOCK = 100


def found_and_true(transform: FeatureTransform, images: np.ndarray, true_off: np.ndarray):
    """Pre-PCA features about the found and about the true centres, and the found offsets
    (image pixels)."""
    pipe = transform.pipeline_
    found_raw, true_raw, found = [], [], []
    for a in range(0, len(images), BLOCK):
        block = np.asarray(images[a:a + BLOCK], np.float32)
        good = pipe.mask[None] & ~centering.zero_rows(block, pipe.mask,
                                                      max(2, block.shape[1] // 16))
        v, ok = rep.bin_images(block, good, pipe.bin)
        off = pipe.beam_offsets(rep.photon_scale(v, ok, transform.photon), ok)
        found.append(off * pipe.bin)
        found_raw.append(pipe.raw_features(block))
        # The oracle: the same pipeline, told each hit's true centre.
        pipe.locate = lambda v, ok, t=true_off[a:a + BLOCK] / pipe.bin: (t.copy(),
                                                                          np.full(len(t), np.inf))
        true_raw.append(pipe.raw_features(block))
        del pipe.locate
    return np.concatenate(found_raw), np.concatenate(true_raw), np.concatenate(found)


def project(transform: FeatureTransform, raw: np.ndarray) -> np.ndarray:
    """Pre-PCA features -> the transform's PCA coordinates (its fitted centring and axes)."""
    z = (raw.astype(np.float64) - transform.mean_) / transform.scale_
    return z if transform.components_ is None else z @ transform.components_.T


def by_band(pred, y, band) -> str:
    return " ".join(f"{np.mean(pred[band == b] == y[band == b]):.2f}"
                    for b in range(len(BANDS) - 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hits", type=int, default=1500)
    ap.add_argument("--workdir", default="/tmp/psocake_bench_al")
    ap.add_argument("--options", default="{}", metavar="JSON", help="feature options")
    args = ap.parse_args()
    case = CASES[3]
    cxi = simulated_run(Path(args.workdir), case.seed, case.mix, case.conditions, args.hits, 128)
    y, names = truth_of(cxi)
    run = open_run(str(cxi))
    images = run.images(slice(None))
    true_off = np.asarray(read_truth(cxi).params["beam_center"]) - np.asarray(run.center)
    depth = true_off[:, 0] if "bottom" in case.conditions else -true_off[:, 0]
    band = np.digitize(depth, BANDS) - 1
    t, c = time.perf_counter(), time.process_time()
    transform = FeatureTransform.from_options(**json.loads(args.options)).fit(run)
    raw_found, raw_true, found = found_and_true(transform, images, true_off)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    err = np.hypot(*(found - true_off).T)
    print(f"{args.hits} hits, options {json.loads(args.options) or 'defaults'}; "
          f"features {wall:.0f} s wall, {cpu:.0f} s CPU, load {os.getloadavg()[0]:.1f}")
    print("depth bands (px)        " + " ".join(f"{BANDS[b]:+.0f}..{BANDS[b + 1]:+.0f}"
                                                for b in range(len(BANDS) - 1)))
    print("hits                    " + " ".join(f"{np.sum(band == b)}"
                                                for b in range(len(BANDS) - 1)))
    print("centre error, median    " + " ".join(f"{np.median(err[band == b]):.1f}"
                                                for b in range(len(BANDS) - 1)))
    bright = hit_brightness(images, run.mask)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    for name, raw in (("found centres", raw_found), ("true centres ", raw_true)):
        x = classifier_inputs(project(transform, raw), bright)
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        pred = cross_val_predict(clf, x, y, cv=cv)
        recall = " ".join(f"{np.mean(pred[y == k] == k):.2f}" for k in np.unique(y))
        print(f"LR, {name}: {np.mean(pred == y):.3f} (recall {recall}); by band "
              f"{by_band(pred, y, band)}", flush=True)
        for k in np.unique(y):      # which events are wrong: each class's recall by band
            inside = [(band == b) & (y == k) for b in range(len(BANDS) - 1)]
            print(f"    {names[k]:14s} recall by band " + " ".join(
                f"{np.mean(pred[s] == k):.2f} ({s.sum()})" for s in inside))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
