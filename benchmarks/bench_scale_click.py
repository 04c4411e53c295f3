"""The ``propagate`` part of bench_scale.py: the click on the 10^6-event manifold.

300 random labels and the first (cold) propagation, then the click as the dock makes it:
one more label with its durable save, ``LabelSession.propagate`` (warm: the local update,
then the classifier blend), ``recommend(10)``, saving the predictions when idle; then
``CLICKS`` more clicks, whose median and worst are printed beside the first (the first click
after the cold solve pays page faults of fresh memory; later clicks reuse it). Afterwards
the answer shown is compared with the full answer: a cold propagate of the same labels
(to the same tolerance) blended with the same classifier, and a graph solve to 1e-8.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scale_data import clocks

#: Clicks timed after the first one.
CLICKS = 4


def _click(s, row: int, name: str) -> dict:
    """One click of the dock: label + durable save, propagate, recommend(10)."""
    s.auto_propagate = False
    _, t_label, c_label, _ = clocks(s.label, [row], name)
    _, t_warm, c_warm, l_warm = clocks(s.propagate)
    _, t_rec, c_rec, l_rec = clocks(s.recommend, 10)
    return {"label_save": t_label, "label_cpu": c_label, "time": t_warm, "warm_cpu": c_warm,
            "warm_load": l_warm, "recommend": t_rec, "recommend_cpu": c_rec,
            "recommend_load": l_rec}


def _against_full(s, y: np.ndarray) -> dict:
    """The warm answer against the full one: a cold propagate + blend of the same labels
    (same classifier calibration), and the graph solve to 1e-8 (plain float64 products)."""
    from psocake_labeler.labelling.blend import blend
    from psocake_labeler.labelling.propagation import SPREADING_ALPHA, propagate
    from psocake_labeler.labelling.solvers import block_pcg

    shown = s._propagation
    lab = s.labelled_rows()
    idx = s._d.user_index()
    cold = blend(propagate(s.manifold.graph, lab, idx[lab], 3), s.classifier_inputs(), lab,
                 idx[lab], 3, previous=shown)
    diff = np.abs(np.asarray(shown.probabilities) - np.asarray(cold.probabilities))
    info = shown.state["info"]
    yy = np.zeros((len(y), 3))
    yy[lab, idx[lab]] = 1.0
    tight, _, _ = block_pcg(lambda f: f - SPREADING_ALPHA * (info.normalised @ f), yy, None,
                            np.ones(len(y)), tol=1e-8)
    pred = np.argmax(tight / tight.mean(axis=0), axis=1)
    pred[lab] = idx[lab]
    graph_pred = np.asarray(shown.scores).argmax(axis=1)
    graph_pred[lab] = idx[lab]
    f = shown.state["solution"]
    return {"full_prob_max": float(diff.max()), "full_prob_mean": float(diff.mean()),
            "full_agree": float(np.mean(cold.predicted == shown.predicted)),
            "agree": float(np.mean(pred == graph_pred)),
            "conf_diff": float(np.linalg.norm(f - tight) / np.linalg.norm(tight))}


def step_propagate(workdir: str, n: str) -> dict:
    """The click at 10^6 events (see the module docstring)."""
    import psocake_labeler as pl

    m, t_load, _, _ = clocks(pl.Manifold.load, Path(workdir) / f"experiment_{n}.h5")
    y = np.load(Path(workdir) / f"experiment_{n}_truth.npy")
    labels = Path(workdir) / "labels.h5"
    labels.unlink(missing_ok=True)
    rows = np.random.default_rng(0).choice(len(m), 301 + CLICKS, replace=False)
    s = pl.LabelSession(m, path=labels)
    s.predictions_every = float("inf")   # as the dock: predictions saved when idle (below)
    s.auto_propagate = False
    for c in range(3):  # one call per class: the store is written once per call
        s.label(rows[:300][y[rows[:300]] == c], s.classes[c])
    _, t_cold, _, _ = clocks(s.propagate)
    out = _click(s, int(rows[300]), s.classes[int(y[rows[300]])])
    _, t_flush, c_flush, _ = clocks(s.flush)
    more = [_click(s, int(r), s.classes[int(y[r])]) for r in rows[301:]]
    for key in ("label_save", "label_cpu", "time", "warm_cpu", "recommend", "recommend_cpu"):
        vals = [c[key] for c in more]
        out[f"{key}_median"], out[f"{key}_max"] = float(np.median(vals)), float(max(vals))
    out["later_load"] = float(np.mean([c["warm_load"] for c in more]))
    out.update({"load_manifold": t_load, "cold": t_cold, "flush": t_flush,
                "flush_cpu": c_flush, "clicks": CLICKS})
    warm = s.predicted.copy()
    lab = s.labelled_rows()
    un = np.setdiff1d(np.arange(len(m)), lab)
    out["accuracy"] = float(np.mean(warm[un] == y[un]))
    out.update(_against_full(s, y))
    return out


def print_propagate(r: dict) -> None:
    """The lines of the ``propagate`` part."""
    print(f"  manifold load {r['load_manifold']:.2f} s; first propagate (cold) "
          f"{r['cold']:.2f} s")
    print(f"  one label + durable save {r['label_save'] * 1e3:8.1f} ms  cpu "
          f"{r['label_cpu'] * 1e3:.1f} ms (goal < 50 ms)")
    print(f"  propagate after it (warm) {r['time']:8.3f} s  cpu {r['warm_cpu']:.3f} s  "
          f"(load {r['warm_load']:.1f}; goal < 0.2 s)")
    print(f"  recommend(10)             {r['recommend']:8.3f} s  cpu "
          f"{r['recommend_cpu']:.3f} s  (load {r['recommend_load']:.1f}; goal < 0.2 s)")
    print(f"  then saving the predictions {r['flush']:.3f} s  cpu {r['flush_cpu']:.3f} s "
          f"(when idle; whole step {r['cpu']:.1f} s cpu, peak {r['peak']:.2f} GiB)")
    print(f"  {r['clicks']} more clicks (median / worst; load {r['later_load']:.1f}):")
    for wall, cpu, label, unit in (("label_save", "label_cpu", "label + durable save", "ms"),
                                   ("time", "warm_cpu", "propagate (warm)", "s"),
                                   ("recommend", "recommend_cpu", "recommend(10)", "s")):
        k = 1e3 if unit == "ms" else 1.0
        print(f"    {label:22s} wall {r[wall + '_median'] * k:7.3f} / {r[wall + '_max'] * k:7.3f}"
              f" {unit}, cpu {r[cpu + '_median'] * k:7.3f} / {r[cpu + '_max'] * k:7.3f} {unit}")
    print(f"  shown vs the cold full answer (propagate + blend, same labels): probabilities "
          f"within {r['full_prob_max']:.2e} (mean {r['full_prob_mean']:.1e}), same class on "
          f"{r['full_agree']:.5%} of events")
    print(f"  graph vs a solve to 1e-8: same class on {r['agree']:.5%} of events, "
          f"|F - F_full| / |F_full| = {r['conf_diff']:.2e}")
    print(f"  accuracy on unlabelled events {r['accuracy']:.4f}")
