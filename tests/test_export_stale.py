"""``export --manifold`` of a label file whose predictions are older than its labels: it
propagates again, and must export the confidence ``propagate`` would have saved (capped by
the held-out assessment, labelling/honest.py), not the raw propagation's."""
from __future__ import annotations

import json

import numpy as np
from psocake_standin import truth_of_rows

import psocake_labeler as pl
from psocake_labeler.cli import main
from psocake_labeler.simulate import truth_path_for


def _labels(m, truth, path):
    """30 labels (10 per class), propagated; then 9 more: the predictions are stale."""
    rng = np.random.default_rng(4)
    rows = [rng.choice(np.flatnonzero(truth == c), 13, replace=False) for c in range(3)]
    s = pl.LabelSession(m, path=path)
    for c in range(3):
        s.label(rows[c][:10], s.classes[c])
    s.propagate()
    s.auto_propagate = False
    for c in range(3):
        s.label(rows[c][10:], s.classes[c])
    assert s.stale
    s.save()
    return s


def _confidence(path):
    return np.array([r["confidence"] for r in json.loads(path.read_text())])


def test_export_of_stale_predictions_gives_the_confidence_propagate_saves(tmp_path, capsys):
    run, man = tmp_path / "r.cxi", tmp_path / "m.h5"
    assert main(["simulate", str(run), "--hits", "300", "--shape", "128", "--quiet"]) == 0
    assert main(["embed", str(run), "-o", str(man)]) == 0
    m = pl.Manifold.load(man)
    truth = truth_of_rows(m.events, truth_path_for(run))
    a, b = _labels(m, truth, tmp_path / "a.h5"), _labels(m, truth, tmp_path / "b.h5")
    assert main(["export", str(a.path), "--format", "json", "-o", str(tmp_path / "a.json"),
                 "--manifold", str(man), "--quiet"]) == 0
    assert main(["propagate", str(man), str(b.path)]) == 0
    assert main(["export", str(b.path), "--format", "json", "-o",
                 str(tmp_path / "b.json")]) == 0
    capsys.readouterr()
    exported, saved = _confidence(tmp_path / "a.json"), _confidence(tmp_path / "b.json")
    np.testing.assert_allclose(exported, saved, atol=2e-6)
    # the cap did lower something (else this test could not tell the two apart) ...
    raw = pl.LabelSession(m)
    user = a.user_labels()
    for c in range(3):
        raw.label([r for r, k in user.items() if k == c], raw.classes[c])
    raw.propagate()
    assert np.any(exported < np.round(raw.confidence, 6) - 1e-3)
    # ... and export saved what it propagated, as propagate does
    reread = pl.LabelSession.load(a.path, m)
    assert not reread.stale
    np.testing.assert_allclose(reread.confidence, np.asarray(pl.LabelSession.load(
        b.path, m).confidence), atol=1e-6)
