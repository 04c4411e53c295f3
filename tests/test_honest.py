"""Honest confidence: held-out calibrations that only lower it, and the classifier's veto."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from psocake_labeler.labelling.blend import blend, classifier_part
from psocake_labeler.labelling.honest import (
    MIN_HELD,
    RELIABLE,
    UNRELIABLE_CONFIDENCE,
    VETO,
    VETO_CONFIDENCE,
    fit_calibration,
    shown_confidence,
)
from psocake_labeler.labelling.propagation import propagate
from psocake_labeler.labelling.quality import assess, calibrate, held_out
from psocake_labeler.labelling.session import LabelSession


def test_the_calibration_lowers_a_confidence_the_record_does_not_back():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 300)
    # a record that says nothing: right half the time whatever the confidence
    flat = fit_calibration(conf, rng.random(300) < 0.5)
    assert flat.cap(np.array([0.95]))[0] < 0.7
    # a record as good as the confidence: the cap keeps it (within the fit's noise)
    honest = fit_calibration(conf, rng.random(300) < conf)
    assert honest.cap(np.array([0.95]))[0] > 0.9
    # an under-confident record is never raised, and confidence 0 stays 0
    sure = fit_calibration(conf, np.ones(300, dtype=bool))
    c = np.array([0.0, 0.3, 0.6, 0.95])
    np.testing.assert_array_equal(sure.cap(c), c)
    assert fit_calibration(conf[:MIN_HELD - 1], np.ones(MIN_HELD - 1, dtype=bool)) is None


def test_labels_the_others_contradict_leave_no_sure_answer(spi_manifold):
    """A fifth of 90 labels are slips of the key: the graph is still sure of a tenth of the
    events, but the held-out folds predict the labels no better at 0.9 than at 0.6, so
    the confidence shown stays under 0.9 (the predictions stay; the review queue lists the
    slips)."""
    m, y = spi_manifold
    rng = np.random.default_rng(1)
    rows = np.sort(rng.choice(y.size, 90, replace=False))   # as assess() orders them
    truth = y.copy()
    truth[rows] = np.where(rng.random(90) < 0.2, (y[rows] + rng.integers(1, 3, 90)) % 3,
                           y[rows])
    prop = blend(propagate(m.graph, rows, truth[rows], 3), m.features, rows, truth[rows], 3)
    held = held_out(m.graph, rows, truth[rows], 3, features=m.features, warm_start=prop)
    cal = calibrate(held)
    assert cal.shown is not None and cal.graph is not None
    shown = shown_confidence(prop, cal, rows)
    free = np.setdiff1d(np.arange(len(truth)), rows)
    assert np.all(shown <= prop.confidence + 1e-12) and np.all(shown[rows] == 1.0)
    assert np.mean(prop.confidence[free] > 0.9) > 0.05
    assert np.mean(shown[free] > 0.9) < 0.01
    user = np.full(len(truth), -1)
    user[rows] = truth[rows]
    q = assess(m.graph, user, prop.predicted, prop.confidence, ["a", "b", "c"],
               warm_start=prop, features=m.features)
    assert q.n_confident - len(rows) == np.sum(shown[free] >= 0.9)


def test_the_session_shows_the_assessment_calibration(spi_manifold):
    m, y = spi_manifold
    s = LabelSession(m)
    rows = np.concatenate([np.flatnonzero(y == c)[:10] for c in range(3)])
    for c in range(3):
        s.label(rows[y[rows] == c], s.classes[c])
    s.propagate()
    raw, pred = s.confidence.copy(), s.predicted.copy()
    held = held_out(m.graph, rows, y[rows], 3, features=s.classifier_inputs(),
                    warm_start=s.propagate())
    s.calibrate(calibrate(held))
    np.testing.assert_array_equal(s.predicted, pred)
    assert np.all(s.confidence <= raw + 1e-12) and np.all(s.confidence[rows] == 1.0)
    s.label(np.flatnonzero(y == 0)[10:11], s.classes[0])    # the next click keeps the cap
    prop = s.propagate()
    assert np.all(s.confidence <= prop.confidence + 1e-12)
    assert np.any(s.confidence < prop.confidence - 1e-6)
    s.calibrate(None)
    np.testing.assert_array_equal(s.confidence, prop.confidence)


def test_the_classifier_vetoes_a_class_it_rules_out(spi_manifold):
    """The graph spreads labels of a shifted class (Single called Multiple, ...) while the
    classifier learns the true ones: where it gives the graph's class under VETO times its
    smoothing share, no sure answer is shown."""
    m, y = spi_manifold
    rows = np.concatenate([np.flatnonzero(y == c)[:20] for c in range(3)])
    graph = propagate(m.graph, rows, (y[rows] + 1) % 3, 3)
    both = blend(graph, m.features, rows, y[rows], 3)
    kept, labelled, log_c = classifier_part(m.features, rows, y[rows], 3)
    floor = kept[2][1] / len(labelled)
    mine = np.exp(log_c[both.predicted, np.arange(len(y))])
    vetoed = np.setdiff1d(np.flatnonzero(mine < VETO * floor), rows)
    assert vetoed.size > 20 and np.mean(graph.confidence[vetoed]) > 0.85
    assert np.all(both.confidence[vetoed] <= VETO_CONFIDENCE)


def test_a_calibrated_session_saves_the_confidence_it_shows(spi_manifold, tmp_path):
    """The calibration replaces only the confidence: the store must still be told (the
    propagate command calibrates after propagating, then saves, and export reads the file)."""
    from psocake_labeler.labelfiles.store import read_label_file

    m, y = spi_manifold
    s = LabelSession(m, path=tmp_path / "labels.h5")
    rows = np.concatenate([np.flatnonzero(y == c)[:10] for c in range(3)])
    for c in range(3):
        s.label(rows[y[rows] == c], s.classes[c])
    prop = s.propagate()
    s.save()
    held = held_out(m.graph, rows, y[rows], 3, features=s.classifier_inputs(),
                    warm_start=prop)
    s.calibrate(calibrate(held))
    assert np.any(s.confidence < prop.confidence - 1e-6)
    s.save()
    np.testing.assert_allclose(read_label_file(s.path).confidence, s.confidence, atol=1e-6)


def test_a_label_file_keeps_the_calibration_beside_the_confidence_it_capped(spi_manifold,
                                                                            tmp_path):
    """Reopened, a session caps its first click by the calibration of the one that saved
    it: the file holds the calibration, not only the confidences it capped."""
    from psocake_labeler.labelling.honest import calibration_from_text, calibration_text
    from psocake_labeler.labelling.quality import propagate_assessed

    m, y = spi_manifold
    s = LabelSession(m, path=tmp_path / "labels.h5")
    rows = np.concatenate([np.flatnonzero(y == c)[:10] for c in range(3)])
    for c in range(3):
        s.label(rows[y[rows] == c], s.classes[c])
    propagate_assessed(s)
    s.save()
    assert s.calibration is not None
    assert calibration_from_text(calibration_text(s.calibration)) == s.calibration
    again = LabelSession.load(s.path, m)
    assert again.calibration == s.calibration
    np.testing.assert_array_equal(again.confidence, s.confidence)
    again.label(np.flatnonzero(y == 1)[10:11], again.classes[1])    # its first click
    prop = again.last_propagation
    assert np.any(again.confidence < prop.confidence - 1e-6)
    np.testing.assert_array_equal(
        again.confidence, shown_confidence(prop, s.calibration, again.labelled_rows()))
    # a damaged calibration is named, not silently dropped (the cap would go with it)
    import sqlite3

    import pytest

    from psocake_labeler.errors import LayoutError
    from psocake_labeler.labelfiles.store import read_label_file

    con = sqlite3.connect(s.path)
    con.execute("UPDATE meta SET value = '{\"shown\": 1' WHERE key = 'calibration'")
    con.commit()
    con.close()
    with pytest.raises(LayoutError, match="calibration is not a calibration"):
        read_label_file(s.path)


def test_a_few_labels_make_no_sure_answer(spi_manifold):
    """One label per class: the graph alone is sure of most events (no held-out record can
    say otherwise yet), so the session shows at most Laplace's (n + 1) / (n + 2); from
    MIN_HELD labels on that rule leaves the confidence as propagated."""
    m, y = spi_manifold
    s = LabelSession(m)
    first = [int(np.flatnonzero(y == c)[0]) for c in range(3)]
    for c, row in enumerate(first):
        s.label([row], s.classes[c])
    prop = s.propagate()
    assert np.mean(prop.confidence > 0.9) > 0.5           # the raw answer is sure
    free = np.setdiff1d(np.arange(len(y)), first)
    assert s.confidence[free].max() <= 4 / 5 + 1e-12      # shown: never above 0.8
    assert np.all(s.confidence[first] == 1.0)
    more = np.concatenate([np.flatnonzero(y == c)[1:5] for c in range(3)])
    for c in range(3):
        s.label(more[y[more] == c], s.classes[c])
    prop = s.propagate()
    assert len(s.labelled_rows()) >= MIN_HELD
    np.testing.assert_array_equal(s.confidence, prop.confidence)


def test_a_hit_whose_features_saw_little_of_its_rings_is_never_shown_sure(spi_manifold):
    """A third of the events marked unreliable (as the features mark a beam deep on a dead
    half): the graph and the classifier stay sure of them, the confidence shown is at most
    UNRELIABLE_CONFIDENCE there, calibrated or not, in the session and in the assessment's
    count; elsewhere it is as before, and an all-reliable run gets its array back uncopied."""
    m, y = spi_manifold
    rows = np.concatenate([np.flatnonzero(y == c)[:10] for c in range(3)])
    prop = blend(propagate(m.graph, rows, y[rows], 3), m.features, rows, y[rows], 3)
    rel = np.ones(len(y), dtype=np.float32)
    weak = np.arange(len(y)) % 3 == 0
    rel[weak] = RELIABLE - 0.3
    free = np.ones(len(y), dtype=bool)
    free[rows] = False
    assert np.mean(prop.confidence[weak & free] > 0.9) > 0.5       # the raw answer is sure
    cal = calibrate(held_out(m.graph, rows, y[rows], 3, features=m.features, warm_start=prop))
    for calibration in (None, cal):
        plain = shown_confidence(prop, calibration, rows)
        shown = shown_confidence(prop, calibration, rows, rel)
        assert shown[weak & free].max() <= UNRELIABLE_CONFIDENCE
        np.testing.assert_array_equal(shown[~weak], plain[~weak])
        np.testing.assert_array_equal(shown[weak & free],
                                      np.minimum(plain[weak & free], UNRELIABLE_CONFIDENCE))
        assert np.all(shown[rows] == 1.0)
    assert shown_confidence(prop, None, rows, np.ones(len(y))) is prop.confidence
    s = LabelSession(replace(m, reliability=rel))
    for c in range(3):
        s.label(rows[y[rows] == c], s.classes[c])
    raw = s.propagate().confidence
    np.testing.assert_array_equal(s.confidence[~weak], raw[~weak])
    np.testing.assert_array_equal(s.confidence[weak & free],
                                  np.minimum(raw[weak & free], UNRELIABLE_CONFIDENCE))
    assert np.any(raw[weak & free] > UNRELIABLE_CONFIDENCE)
    user = np.full(len(y), -1)
    user[rows] = y[rows]
    q = assess(m.graph, user, prop.predicted, prop.confidence, ["a", "b", "c"],
               warm_start=prop, features=m.features, reliability=rel)
    assert q.n_confident - len(rows) == np.sum(shown[free] >= 0.9)
