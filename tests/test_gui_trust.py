"""Trust in the dock: the stopping signal, the review queue (a wrong label of yours comes
back, shown like recommendations), and who labelled what and when on hover."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from psocake_standin import open_window  # noqa: E402
from pyqtgraph.Qt import QtCore  # noqa: E402

KEY = QtCore.Qt.Key


pytestmark = pytest.mark.usefixtures("close_windows")


@pytest.fixture
def window(qtbot, small_spi_manifold_path, spi_manifold, tmp_path):
    w = open_window(qtbot, small_spi_manifold_path, tmp_path / "labels.h5")
    w.truth = spi_manifold[1]
    return w


def settle(qtbot, dock):
    """Until the delayed assessment has run and been drawn."""
    from psocake_labeler.gui.trust import ASSESS_DELAY_MS

    assert dock.wait()           # the change is drawn: its assessment is scheduled
    qtbot.wait(ASSESS_DELAY_MS + 50)   # ... and has started
    done = []
    dock.assess(then=lambda: done.append(True))   # runs after the one under way, if any
    qtbot.waitUntil(lambda: bool(done), timeout=60000)
    assert dock.wait()


def test_stopping_signal_warns_while_a_class_has_no_label(window, qtbot):
    dock = window.dock
    dock.select_rows(np.flatnonzero(window.truth == 0)[:3])
    dock.label_selected(0)
    assert dock.wait()
    settle(qtbot, dock)
    text, tip = dock.controls.quality.text(), dock.controls.quality.toolTip()
    assert dock.controls.quality.isVisibleTo(dock)
    assert "/300 confident (≥ 0.9)" in text and "accuracy not estimated" in text
    assert "no label: Multiple, Water/Unknown" in text
    assert "no event is labelled 'Multiple', 'Water/Unknown'" in tip     # the full sentence


def label_and_propagate(dock, truth, n):
    """The first ``n`` events of each class labelled by their true class, then Propagate."""
    for k in range(3):
        dock.select_rows(np.flatnonzero(truth == k)[:n])
        dock.label_selected(k)
    dock.controls.buttons["propagate"].click()
    assert dock.wait()


def test_review_queue_brings_back_a_wrong_label(window, qtbot):
    dock = window.dock
    truth = window.truth
    label_and_propagate(dock, truth, 6)
    # a Single, deep among Singles, labelled Multiple by mistake
    single = np.flatnonzero(truth == 0)[6:]
    conf = np.asarray(dock.session.confidence)
    wrong = int(single[np.argmax(conf[single])])
    dock.show_row(wrong)
    dock.grid.list.setFocus()
    qtbot.keyClick(dock.grid.list, KEY.Key_2)
    assert dock.wait() and dock.session.user_labels()[wrong] == 1
    qtbot.keyClick(dock.grid.list, KEY.Key_V)
    settle(qtbot, dock)
    rows = dock.grid.rows
    assert wrong in rows and dock.grid.title.text().startswith("Review (")
    assert dock.current_row == rows[0]
    caption = [t for t, _ in dock.grid.caption_fn(wrong)]
    assert caption[1].startswith("Multiple? Single 0.")
    assert "to review: the others say Single" in dock.describe(wrong)
    text = dock.controls.quality.text()
    assert "estimated accuracy" in text and "to review (V)" in text
    assert "review them" in dock.controls.quality.toolTip()
    # relabelling it right takes it off the queue
    dock.show_row(wrong)
    qtbot.keyClick(dock.grid.list, KEY.Key_1)
    settle(qtbot, dock)
    assert wrong not in dock.review_items


def test_hover_says_who_labelled_and_when(window, qtbot):
    import time

    dock = window.dock
    row = dock.current_row
    dock.grid.list.setFocus()
    qtbot.keyClick(dock.grid.list, KEY.Key_3)
    assert dock.wait()
    text = dock.describe(row)
    user = dock.session.user
    assert f"your label: Water/Unknown (label by {user}, " in text
    assert time.strftime("%Y-%m-%d") in text


def test_redraws_that_change_no_label_leave_the_assessment_running(window, qtbot):
    dock = window.dock
    dock.select_rows(np.flatnonzero(window.truth == 0)[:3])
    dock.label_selected(0)
    assert dock.wait()
    # The assessment takes the labels on the session thread; a stale one stops and takes
    # them again there. Redraws every millisecond (as filters, hovering and propagations
    # make) change no label, so the labels are taken once.
    taken = []
    dock.session_runner.sigBusy.connect(lambda busy: busy and taken.append(True))
    timer = QtCore.QTimer()
    timer.setInterval(1)
    timer.timeout.connect(dock.refresh)
    done = []
    dock.assess(then=lambda: done.append(True))
    timer.start()
    try:
        qtbot.waitUntil(lambda: bool(done), timeout=20000)
    finally:
        timer.stop()
    assert dock.quality is not None and dock.quality.n_user == 3
    assert len(taken) == 1


def _shown_codes(dock):
    """The view's colour codes the session's current labels and confidences give."""
    pred, conf, _rows, _cls, has_pred = dock.final_labels()
    return dock.class_palette.codes_for(pred, conf if has_pred else None)


def test_the_assessment_redraws_the_capped_confidence_as_it_lands(window, qtbot):
    """The held-out calibration lowers the confidence the graph was sure of without backing;
    the view shows it as soon as the assessment lands, not from some later redraw."""
    dock = window.dock
    # 5 per class: with 10, since spreading keeps labelled linked pieces apart (links.py),
    # all 30 held-out labels come back right and the cap changes no colour of this run.
    label_and_propagate(dock, window.truth, 5)
    s = dock.session
    raw = _shown_codes(dock)
    np.testing.assert_array_equal(dock.view.codes, raw)
    qtbot.waitUntil(lambda: dock.quality is not None, timeout=60000)
    assert dock.wait()           # the calibration, on the session thread, and its redraw
    assert s.calibration is not None and np.any(_shown_codes(dock) != raw)
    np.testing.assert_array_equal(dock.view.codes, _shown_codes(dock))
    # that redraw changed no label: it starts no second assessment of the same labels
    assert not dock._assess_timer.isActive() and not dock._assessing


def test_a_reopened_label_file_caps_the_first_clicks_confidence(spi_manifold, qtbot,
                                                                 small_spi_manifold_path,
                                                                 tmp_path):
    """The label file keeps the calibration beside the confidences it capped: after
    reopening, the clicks show capped confidences before any assessment has run."""
    import psocake_labeler as pl
    from psocake_labeler.cli import main
    from psocake_labeler.labelling.honest import shown_confidence

    m, truth = spi_manifold
    path = tmp_path / "labels.h5"
    s = pl.LabelSession(m, path=path)
    for k in range(3):
        s.label(np.flatnonzero(truth == k)[:10], s.classes[k])
    s.save()
    assert main(["propagate", str(small_spi_manifold_path), str(path)]) == 0
    w = open_window(qtbot, small_spi_manifold_path, path)
    dock = w.dock
    assert dock.session.calibration is not None
    row = int(np.setdiff1d(np.flatnonzero(truth == 1), dock.session.labelled_rows())[0])
    dock.show_row(row)
    dock.grid.list.setFocus()
    qtbot.keyClick(dock.grid.list, KEY.Key_2)
    assert dock.wait()
    s = dock.session
    prop = s.last_propagation
    assert prop is not None and s.user_labels()[row] == 1
    capped = shown_confidence(prop, s.calibration, s.labelled_rows())
    np.testing.assert_array_equal(s.confidence, capped)
    assert np.any(capped < prop.confidence - 1e-6)
    np.testing.assert_array_equal(dock.view.codes, _shown_codes(dock))
