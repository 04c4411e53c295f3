"""Active learning on hard simulated runs: accuracy, recall, calibration and transfer per case.

Each case is a run the code was not tuned on, made harder the way beamtime data are (beam
jitter, rare classes, a dead half, few photons, a fifth class, other distances/energies;
docs/simulator.md "Conditions"). Per case: simulate -> build_manifold; then the recommender
picks 10 events at a time, the simulator's truth answers, and labels are propagated after
each batch. Printed per case, on the events not labelled yet:

* accuracy at 1/2/5/20% labelled: ours (recommender), scikit-learn ``LabelSpreading(kernel=
  "knn")`` on the manifold coordinates given the same labels, and ours with random picks;
* per-class recall at 5% (and the share right of each "unknown" type and of the clipped
  hits), the share of events with confidence > 0.9 and the share of those right, at 5%, of
  the confidence as assessed (honest.py: held-out calibrations, hit reliability) and raw;
* a supervised reference: logistic regression trained on 80% of the events (5-fold) on the
  manifold's features (and on the classifier's inputs: + brightness basis and profile);
* transfer cases: labels (5%, recommender) on run A only, the manifold extended by run B
  (another distance, energy, pixel map or beam position), accuracy on B with no new label.

    python benchmarks/bench_active_learning.py [--quick] [--hits 1500] [--cases a,b]
        [--seeds 0,1,2] [--workdir /tmp/psocake_bench_al] [--feature key=value ...]

``--quick``: 1000 hits, curves up to 5%. Runs are cached in --workdir by their settings;
manifolds by settings, feature options and the embedding code's fingerprint. ``--seeds 0,1,2``:
every case on independent runs (seed k adds ``SEED_STEP * k`` to every simulator seed and
seeds the random picks; 0: the docs' runs), then mean and range over the seeds at 5%.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from psocake_labeler.embedding import engine_fingerprint
from psocake_labeler.labelling.blend import blend
from psocake_labeler.labelling.inputs import manifold_inputs as inputs_of
from psocake_labeler.labelling.propagation import propagate
from psocake_labeler.labelling.quality import assessed_confidence
from psocake_labeler.labelling.recommend import recommend
from psocake_labeler.simulate.detector import REAL_DISTANCE_M, REAL_SHAPE

BUDGETS = (0.01, 0.02, 0.05, 0.20)
DEFAULT_MIX = "single=0.30,multiple=0.15,water=0.45,nonhit=0.10"
#: Confidence bins of the reliability diagram.
BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0 + 1e-9)
#: ``--seeds k`` shifts every simulator seed by ``SEED_STEP * k``.
SEED_STEP = 1000


@dataclass
class Case:
    """One benchmark case: a run (seed, mix, conditions) and optional transfer targets."""

    name: str
    seed: int
    mix: str = DEFAULT_MIX
    conditions: str = ""
    targets: list = field(default_factory=list)   # (seed, mix, conditions) of runs B


J2 = "jitter=2"
CASES = [
    Case("default (no jitter)", 103),
    Case("128 px, 2 px jitter", 201, conditions=J2),
    Case("rare singles 5%", 202, "single=0.05,multiple=0.10,water=0.45,nonhit=0.40", J2),
    Case("dead half + 6 px jitter", 203, conditions="jitter=6,dead_half=bottom"),
    Case("photons 1e2-1e3.3", 204, conditions=J2 + ",photons=100-2000"),
    Case("five classes", 205, "single=0.25,multiple=0.15,water=0.25,nonhit=0.15,unknown=0.20",
         J2 + ",clipped=0.05"),
    Case("transfer: B at 0.15 m / 1700 eV", 206, conditions=J2,
         targets=[(207, DEFAULT_MIX, J2 + f",dscale={0.15 / 0.13:.6f}"),
                  (208, DEFAULT_MIX, J2 + ",energy=1700")]),
    Case("chain of 5 runs", 209, conditions=J2,
         targets=[(210 + i, DEFAULT_MIX, J2 + c) for i, c in enumerate(
             [",dscale=1.08", ",energy=1650", ",clipped=0.1", ",dscale=0.92,energy=1550"])]),
    Case("transfer: B's beam moved 6,-4 / 10,10 px", 214, conditions=J2, targets=[
        (215, DEFAULT_MIX, J2 + ",offset=6:-4"), (216, DEFAULT_MIX, J2 + ",offset=10:10")]),
]


def simulated_run(work: Path, seed: int, mix: str, conditions: str, hits: int, shape: int):
    """Path of a cached simulated run (in ``conditions``, ``energy=`` sets the photon energy,
    ``dscale=f`` the distance to f times the default for ``shape``: B keeps its ratio to A)."""
    from psocake_labeler.simulate import simulate_run

    parts = [c for c in conditions.split(",") if c]
    energy = 1600.0
    for c in list(parts):
        if c.startswith("energy="):
            energy = float(c.split("=")[1])
            parts.remove(c)
        elif c.startswith("dscale="):
            parts.remove(c)
            d = REAL_DISTANCE_M * shape / REAL_SHAPE * float(c.split("=")[1])
            parts.append(f"distance={d:.6f}")
    key = json.dumps([seed, mix, conditions, hits, shape])
    tag = _digest(key)
    cxi = work / f"amo06516_{seed:04d}_{tag}.cxi"
    if not cxi.exists():
        work.mkdir(parents=True, exist_ok=True)
        simulate_run(cxi, hits=hits, shape=shape, seed=seed, mix=mix, run=seed,
                     photon_energy_eV=energy, conditions=",".join(parts) or None)
    return cxi


def _digest(text: str) -> str:
    import hashlib
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def manifold_for(work: Path, cxi: Path, features: dict):
    from psocake_labeler.embedding.diffusion import build_manifold
    from psocake_labeler.embedding.manifold import Manifold

    mpath = work / f"{cxi.stem}_{_digest(json.dumps(features, sort_keys=True))}_" \
                   f"{engine_fingerprint()}.manifold.h5"
    if mpath.exists():
        return Manifold.load(mpath)
    m = build_manifold(str(cxi), n_components=10, knn=15, **features)
    m.save(mpath)
    return m


def truth_of(cxi: Path):
    from psocake_labeler.simulate import read_truth
    t = read_truth(cxi)
    return np.asarray(t.labels), tuple(t.class_names)


def groups_of(cxi: Path) -> dict:
    """Masks of the hits per-class recall hides: each "unknown" type, the clipped hits."""
    from psocake_labeler.simulate import read_truth
    from psocake_labeler.simulate.hits import UNKNOWN_TYPES

    p = read_truth(cxi).params
    out = {f"Unknown {n}": np.asarray(p["unknown_type"]) == i + 1
           for i, n in enumerate(UNKNOWN_TYPES) if "unknown_type" in p}
    if "clipped" in p:
        out["clipped"] = np.asarray(p["clipped"]) > 0
    return {k: v for k, v in out.items() if v.any()}


def sklearn_accuracy(coords, rows, y) -> float:
    from sklearn.semi_supervised import LabelSpreading

    yy = np.full(y.size, -1)
    yy[rows] = y[rows]
    ls = LabelSpreading(kernel="knn", n_neighbors=15).fit(coords, yy)
    un = np.setdiff1d(np.arange(y.size), rows)
    return float(np.mean(ls.transduction_[un] == y[un]))


def stats(prop, rows, y, n_classes, groups=None, shown=None) -> dict:
    """Accuracy, recall, confidence > 0.9 share / precision (of ``shown``, default
    ``prop.confidence``, and raw) on unlabelled rows; ``groups``: name -> mask, share right."""
    un = np.setdiff1d(np.arange(y.size), rows)
    pred, raw = prop.predicted[un], prop.confidence[un]
    conf = raw if shown is None else shown[un]
    hi = conf > 0.9
    recall = [float(np.mean(pred[y[un] == c] == c)) if np.any(y[un] == c) else np.nan
              for c in range(n_classes)]
    which = np.digitize(conf, BINS) - 1
    right = pred == y[un]
    reliab = [(int(np.sum(which == b)), int(np.sum(right[which == b])))
              for b in range(len(BINS) - 1)]
    return {"acc": float(np.mean(pred == y[un])), "recall": recall, "share_hi": float(hi.mean()),
            "reliability": reliab,
            "prec_hi": float(np.mean(pred[hi] == y[un][hi])) if hi.any() else np.nan,
            "share_raw": float(np.mean(raw > 0.9)),
            "prec_raw": float(np.mean(right[raw > 0.9])) if np.any(raw > 0.9) else np.nan,
            "found": int(np.unique(y[rows]).size),
            "groups": {k: float(np.mean(right[g[un]])) for k, g in (groups or {}).items()
                       if g[un].any()}}


def curve(m, y, n_classes, picker, top, with_sklearn, seed=0, use_blend=True, groups=None):
    """Label 10 at a time up to ``top``; per budget: stats (+ sklearn on the same labels).

    ``use_blend``: propagation blended with the feature classifier (the session's default);
    False: graph propagation alone (before issue 13)."""
    n = y.size
    rng = np.random.default_rng(seed)
    rows = np.zeros(0, dtype=np.int64)
    prop = graph_prop = None
    out = {}
    t_prop = []
    first_found = {}
    inputs = inputs_of(m)
    while rows.size < top * n:
        if picker == "random":
            new = rng.choice(np.setdiff1d(np.arange(n), rows), 10, replace=False)
        else:
            new = recommend(m.graph, prop, rows, 10, coords=m.coords, features=m.features)
        rows = np.concatenate([rows, new])
        for c in np.unique(y[new]):
            first_found.setdefault(int(c), rows.size)
        t = time.perf_counter()
        graph_prop = propagate(m.graph, rows, y[rows], n_classes, warm_start=graph_prop)
        prop = blend(graph_prop, inputs, rows, y[rows], n_classes, previous=prop) if use_blend \
            else graph_prop
        t_prop.append(time.perf_counter() - t)
        for b in BUDGETS:
            if b not in out and b <= top and rows.size >= round(b * n):
                shown = assessed_confidence(m.graph, inputs, prop, rows, y[rows], n_classes,
                                            m.reliability) if with_sklearn else None
                out[b] = stats(prop, rows, y, n_classes, groups, shown)
                out[b]["sk"] = sklearn_accuracy(m.coords, rows, y) if with_sklearn else np.nan
    return out, rows, {"first_found": first_found, "t_prop": float(np.median(t_prop))}


def supervised(x, y, scale: bool = False) -> float:
    """5-fold logistic regression on ``x`` (80% train): what a classifier gets out of them
    (``scale``: standardised columns first, for the brightness basis)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = LogisticRegression(max_iter=2000)
    clf = make_pipeline(StandardScaler(), clf) if scale else clf
    return float(np.mean(cross_val_score(clf, x, y, cv=5)))


def transfer(m_a, y_a, rows, n_classes, targets_cxi):
    """Extend A's manifold by each run B in turn; accuracy on every B from A's labels only
    (confidence as assessed from A's labels on the extended manifold)."""
    m = m_a
    out = []
    for cxi in targets_cxi:
        y_b, n0 = truth_of(cxi)[0], len(m.coords)
        m = m.extend(str(cxi))
        inputs = inputs_of(m)
        prop = blend(propagate(m.graph, rows, y_a[rows], n_classes), inputs, rows, y_a[rows],
                     n_classes)
        pred = prop.predicted[n0:]
        conf = assessed_confidence(m.graph, inputs, prop, rows, y_a[rows], n_classes,
                                   m.reliability)[n0:]
        hi = conf > 0.9
        out.append({"acc": float(np.mean(pred == y_b)),
                    "recall": [float(np.mean(pred[y_b == c] == c)) if np.any(y_b == c)
                               else np.nan for c in range(n_classes)],
                    "share_hi": float(hi.mean()),
                    "prec_hi": float(np.mean(pred[hi] == y_b[hi])) if hi.any() else np.nan})
    return out


def run_case(case: Case, args, features: dict, seed: int = 0) -> dict:
    """One case on the runs of ``seed`` (simulator seeds shifted by ``SEED_STEP * seed``)."""
    work = Path(args.workdir)
    shift = SEED_STEP * seed
    t0 = time.perf_counter()
    cxi = simulated_run(work, case.seed + shift, case.mix, case.conditions, args.hits,
                        args.shape)
    m = manifold_for(work, cxi, features)
    y, names = truth_of(cxi)
    t_build = time.perf_counter() - t0
    c = len(names)
    top = 0.05 if args.quick else max(BUDGETS)
    ours, rows, info = curve(m, y, c, "recommend", top, True, groups=groups_of(cxi))
    rand, _, _ = curve(m, y, c, "random", min(top, 0.05) if args.quick else top, False,
                       seed=seed)
    graph, _, _ = curve(m, y, c, "recommend", 0.05, False, use_blend=False)
    res = {"name": case.name, "names": names, "ours": ours, "random": rand, "info": info,
           "graph": graph,
           "fractions": np.bincount(y, minlength=c) / y.size, "t_build": t_build,
           "supervised": supervised(m.features, y),
           "supervised_b": supervised(inputs_of(m), y, True)}
    if case.targets:
        label_rows = rows[:int(round(0.05 * y.size))]
        cxis = [simulated_run(work, s + shift, mx, cd, args.hits, args.shape)
                for s, mx, cd in case.targets]
        res["transfer"] = transfer(m, y, label_rows, c, cxis)
    return res


def _f(v, fmt="{:.3f}") -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else fmt.format(v)


def report(results: list[dict]) -> None:
    head = "| case | " + " | ".join(f"{int(b * 100)}%" for b in BUDGETS) + \
        " | graph only 5% | sklearn LS 5% | random 5% | supervised 80% (+ bright, profile) |" \
        " conf>0.9 share / right (5%; raw) |"
    print("\nAccuracy on unlabelled events (recommender picks unless said):\n")
    print(head)
    print("| --- " * (head.count("|") - 1) + "|")
    for r in results:
        o = r["ours"]
        cells = [_f(o[b]["acc"]) if b in o else "-" for b in BUDGETS]
        s5 = o.get(0.05, {})
        print(f"| {r['name']} | " + " | ".join(cells) +
              f" | {_f(r['graph'].get(0.05, {}).get('acc'))}"
              f" | {_f(s5.get('sk'))} | {_f(r['random'].get(0.05, {}).get('acc'))} | "
              f"{_f(r['supervised'])} ({_f(r['supervised_b'])}) | "
              f"{_f(s5.get('share_hi'), '{:.0%}')} / "
              f"{_f(s5.get('prec_hi'), '{:.1%}')} ({_f(s5.get('share_raw'), '{:.0%}')} / "
              f"{_f(s5.get('prec_raw'), '{:.1%}')}) |")
    print("\nPer-class recall at 5% (recommender) and labels needed to find each class:\n")
    for r in results:
        s5 = r["ours"].get(0.05)
        if s5 is None:
            continue
        parts = [f"{n} {_f(v, '{:.2f}')} (share {fr:.0%}, found at label "
                 f"{r['info']['first_found'].get(i, 'never')})"
                 for i, (n, v, fr) in enumerate(zip(r["names"], s5["recall"], r["fractions"]))]
        parts += [f"{k} {v:.2f} right" for k, v in s5.get("groups", {}).items()]
        print(f"  {r['name']}: " + "; ".join(parts) +
              f"; median propagate {r['info']['t_prop'] * 1e3:.0f} ms")
    print("\nReliability at 5% labels, all cases pooled (confidence bin: events, share right):\n")
    print("| confidence | events | right |")
    print("| --- | --- | --- |")
    for b in range(len(BINS) - 1):
        n = sum(r["ours"][0.05]["reliability"][b][0] for r in results if 0.05 in r["ours"])
        k = sum(r["ours"][0.05]["reliability"][b][1] for r in results if 0.05 in r["ours"])
        print(f"| {BINS[b]:.2f}-{min(BINS[b + 1], 1.0):.2f} | {n} | "
              f"{_f(k / n if n else np.nan, '{:.1%}')} |")
    for r in results:
        for i, t in enumerate(r.get("transfer", [])):
            rec = ", ".join(f"{n} {_f(v, '{:.2f}')}" for n, v in zip(r["names"], t["recall"]))
            print(f"  transfer {r['name']} -> B{i + 1}: accuracy {t['acc']:.3f} (5% labels on A "
                  f"only); recall {rec}; confidence > 0.9 on {t['share_hi']:.0%}, right "
                  f"{_f(t['prec_hi'], '{:.1%}')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hits", type=int, default=None, help="hits per run (1500; --quick 1000)")
    ap.add_argument("--shape", type=int, default=128)
    ap.add_argument("--workdir", default="/tmp/psocake_bench_al")
    ap.add_argument("--quick", action="store_true", help="1000 hits, curves up to 5%%")
    ap.add_argument("--cases", default="", help="comma-separated case numbers (0-based)")
    ap.add_argument("--seeds", default="0", help="comma-separated run seeds (0: the docs' runs)")
    ap.add_argument("--feature", action="append", default=[], metavar="KEY=VALUE",
                    help="feature option for build_manifold (JSON value), repeatable")
    args = ap.parse_args()
    args.hits = args.hits or (1000 if args.quick else 1500)
    features = {}
    for kv in args.feature:
        k, _, v = kv.partition("=")
        try:
            features[k] = json.loads(v)
        except json.JSONDecodeError:
            features[k] = v
    pick = [int(i) for i in args.cases.split(",") if i] or range(len(CASES))
    seeds = [int(k) for k in args.seeds.split(",") if k]
    t0, c0 = time.perf_counter(), time.process_time()
    by_seed = {}
    for k in seeds:
        by_seed[k] = []
        for i in pick:
            by_seed[k].append(run_case(CASES[i], args, features, k))
            print(f"  seed {k} case {i} {CASES[i].name}: {time.perf_counter() - t0:.0f} s wall, "
                  f"{time.process_time() - c0:.0f} s CPU", flush=True)
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\n{args.hits} hits of {args.shape} px per run, features {features or 'default'}, "
          f"{time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU in all, "
          f"load average {load}")
    for k in seeds:
        print(f"\n## Runs of seed {k}")
        report(by_seed[k])
    if len(seeds) > 1:
        spread(by_seed)


def _span(values) -> str:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return "-" if not v.size else f"{v.mean():.3f} ({v.min():.3f}-{v.max():.3f})"


def spread(by_seed: dict) -> None:
    """Mean (min-max) over the seeds at 5% labels, per case: accuracy, supervised, recall,
    precision of confidence > 0.9."""
    seeds = sorted(by_seed)
    print(f"\n## Over seeds {seeds}: mean (min-max) at 5% labels\n")
    print("| case | accuracy | random | supervised 80% (+ brightness) | conf>0.9 share | "
          "conf>0.9 right (raw) | recall per class |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for j, r in enumerate(by_seed[seeds[0]]):
        runs = [by_seed[k][j] for k in seeds]
        s5 = [x["ours"].get(0.05, {}) for x in runs]
        rec = "; ".join(f"{n} {_span([s.get('recall', [np.nan] * len(r['names']))[c] for s in s5])}"
                        for c, n in enumerate(r["names"]))
        rec += "".join(f"; {k} {_span([s.get('groups', {}).get(k, np.nan) for s in s5])} right"
                       for k in s5[0].get("groups", {}))
        print(f"| {r['name']} | {_span([s.get('acc', np.nan) for s in s5])} | "
              f"{_span([x['random'].get(0.05, {}).get('acc', np.nan) for x in runs])} | "
              f"{_span([x['supervised'] for x in runs])} "
              f"({_span([x['supervised_b'] for x in runs])}) | "
              f"{_span([s.get('share_hi', np.nan) for s in s5])} | "
              f"{_span([s.get('prec_hi', np.nan) for s in s5])} "
              f"({_span([s.get('prec_raw', np.nan) for s in s5])}) | {rec} |")


if __name__ == "__main__":
    main()
