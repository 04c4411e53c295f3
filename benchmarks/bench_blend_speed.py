"""Per-click cost of the labels' classifier (labelling/blend.py) at 100,000 events.

Features: 40 Gaussian columns (three classes shifted apart) plus 2 brightness columns and
``--profile`` (40) profile columns, the shape of a manifold's stored features and side
columns (``--profile 0``: a file made before ``classifier_autocorr``). Timed, for 200 and
2000 labels: building the
classifier's inputs (once per session), a click that reuses the classifier's calibration
(most clicks), a click that refits it by cross-validation (once the labels grew by 10%), and
next to them scikit-learn's ``LogisticRegression.fit`` + ``predict_proba`` on the same inputs.
Wall and process CPU seconds, with the load average, for each.

    python benchmarks/bench_blend_speed.py [--n 100000] [--dim 40] [--profile 40] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from psocake_labeler.labelling.blend import (
    C_REG,
    classifier_probabilities,
    cv_calibration,
)
from psocake_labeler.labelling.inputs import classifier_inputs


def timed(fn, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn()`` over ``repeat`` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return float(np.median(wall)), float(np.median(cpu))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=40)
    ap.add_argument("--profile", type=int, default=40, help="profile columns (0: none)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, args.n)
    x = rng.normal(size=(args.n, args.dim)).astype(np.float32)
    x[:, :3] += 2.0 * np.eye(3, dtype=np.float32)[y]
    bright = np.stack([rng.normal(size=args.n) + y, rng.normal(size=args.n)], axis=1)
    prof = rng.normal(size=(args.n, args.profile)).astype(np.float32) if args.profile else None
    print(f"{args.n} events, {args.dim} features + 2 brightness + {args.profile} profile "
          f"columns; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| step | labels | wall (ms) | CPU (ms) | load |")
    print("| --- | --- | --- | --- | --- |")

    def row(name: str, labels, fn) -> None:
        wall, cpu = timed(fn, args.repeat)
        print(f"| {name} | {labels} | {wall * 1e3:.0f} | {cpu * 1e3:.0f} | "
              f"{os.getloadavg()[0]:.1f} |")

    inputs = classifier_inputs(x, bright, prof)
    row("classifier inputs (spline basis; once a session)", "-",
        lambda: classifier_inputs(x, bright, prof))
    for n_labels in (200, 2000):
        clicks(inputs, y, rng.choice(args.n, n_labels, replace=False), row)


def clicks(inputs: np.ndarray, y: np.ndarray, rows: np.ndarray, row) -> None:
    """Time one click's classifier steps with ``rows`` labelled; ``row`` prints a line."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    xl = inputs[rows].astype(np.float64)
    n = rows.size
    row("click, calibration reused", n, lambda: classifier_probabilities(
        inputs, rows, y[rows], 3, calibration=(1.0, 0.05)))
    row("click, calibration refitted (3-fold CV)", n,
        lambda: classifier_probabilities(inputs, rows, y[rows], 3))
    row("  of which cv_calibration", n, lambda: cv_calibration(xl, y[rows]))

    def sklearn_click():
        clf = LogisticRegression(C=C_REG, class_weight="balanced", max_iter=500)
        with threadpool_limits(1):
            clf.fit(xl, y[rows])
        clf.predict_proba(inputs)

    row("scikit-learn LogisticRegression fit + predict_proba", n, sklearn_click)

if __name__ == "__main__":
    main()
