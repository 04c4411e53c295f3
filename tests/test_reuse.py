"""A click's arrays kept between clicks (labelling/reuse.py): taken again only once nothing
refers to them, so what a caller (the dock) holds is never written over."""
from __future__ import annotations

import numpy as np

from psocake_labeler.labelling import reuse
from psocake_labeler.labelling.blend import blend
from psocake_labeler.labelling.propagation import propagate
from psocake_labeler.labelling.session import LabelSession


def test_a_released_array_is_taken_again_a_held_one_or_a_view_of_it_never():
    pool = reuse.Buffers()
    with pool.active():
        a = reuse.empty((4, 1000), np.float32)
        address = a.__array_interface__["data"][0]
        b = reuse.empty((4, 1000), np.float32)          # a is held: another array
        assert not np.shares_memory(a, b)
        view = a.T[10:]                                   # only a view of a is held
        del a
        c = reuse.empty((4, 1000), np.float32)
        assert not np.shares_memory(c, view) and not np.shares_memory(c, b)
        del view, c
        d = reuse.zeros((4, 1000), np.float32)            # a is free again: a's memory
        assert d.__array_interface__["data"][0] == address and not d.any()
        assert reuse.full(7, 3, np.int64).tolist() == [3] * 7
    assert pool.nbytes() == 3 * 4 * 1000 * 4 + 7 * 8
    reuse.empty((4, 1000), np.float32)                    # outside the block: not the pool's
    assert pool.nbytes() == 3 * 4 * 1000 * 4 + 7 * 8


def test_top_up_makes_the_spares_the_last_click_took_and_drops_other_shapes():
    pool = reuse.Buffers()
    with pool.active():
        shown = [reuse.empty(1000, np.float64), reuse.empty(1000, np.float64)]
        reuse.empty(50, np.int64)
    assert pool.top_up() == 2          # both 1000s are held: two spares, the int64 is free
    assert pool.nbytes() == 4 * 8000 + 400
    with pool.active():                # the next click: the spares, not the shown arrays
        got = [reuse.empty(1000, np.float64), reuse.empty(1000, np.float64)]
        assert not any(np.shares_memory(g, s) for g in got for s in shown)
    del got
    assert pool.top_up() == 0 and pool.nbytes() == 4 * 8000    # no int64 taken: dropped


def test_session_clicks_never_write_over_a_result_the_caller_still_holds(spi_manifold):
    m, y = spi_manifold
    rows = np.concatenate([np.flatnonzero(y == c)[:10] for c in range(3)])
    s = LabelSession(m)
    for c in range(3):
        s.label(rows[y[rows] == c], s.classes[c])
    held = s.propagate()
    kept = {"predicted": held.predicted, "confidence": held.confidence,
            "probabilities": np.asarray(held.probabilities), "scores": held.scores}
    want = {k: v.copy() for k, v in kept.items()}
    more = [int(r) for c in range(3) for r in np.flatnonzero(y == c)[10:12]]
    for r in more:                     # each click re-propagates into the session's pool
        s.label([r], s.classes[int(y[r])])
    for k, v in kept.items():
        np.testing.assert_array_equal(v, want[k], err_msg=k)
    # and what the clicks show is the cold answer's (the confidences differ by the kept
    # classifier calibration, blend.REFIT_GROWTH, as before the pool)
    lab = np.sort(np.concatenate([rows, more]))
    cold = blend(propagate(m.graph, lab, y[lab], 3), s.classifier_inputs(), lab, y[lab], 3)
    assert np.mean(s.predicted == cold.predicted) >= 0.99
    assert s.confidence.min() >= 0 and (s.confidence[lab] == 1).all()


def test_a_calibrated_click_caps_into_its_pool_and_never_over_a_held_result(spi_manifold):
    """The capped confidence a calibrated session shows is one of the click's kept arrays
    (no new (N,) array per click), and like the others never one a caller still holds."""
    from psocake_labeler.labelling.honest import shown_confidence
    from psocake_labeler.labelling.quality import propagate_assessed

    m, y = spi_manifold
    s = LabelSession(m)
    rows = np.concatenate([np.flatnonzero(y == c)[:10] for c in range(3)])
    for c in range(3):
        s.label(rows[y[rows] == c], s.classes[c])
    propagate_assessed(s)
    prop = s.last_propagation
    pool = reuse.Buffers()
    with pool.active():
        capped = s.calibration.cap(prop.confidence, np.asarray(prop.confidence))
    assert pool.nbytes() == (capped.nbytes if reuse.REUSE else 0)
    np.testing.assert_array_equal(capped, s.calibration.cap(prop.confidence, prop.confidence))
    held, want = s.confidence, s.confidence.copy()
    for r in np.flatnonzero(y == 2)[10:14]:
        s.label([int(r)], s.classes[2])
        np.testing.assert_array_equal(held, want)
        np.testing.assert_array_equal(
            s.confidence, shown_confidence(s.last_propagation, s.calibration,
                                           s.labelled_rows()))


def test_reuse_is_off_where_reference_counts_do_not_tell_a_held_array(tmp_path):
    """On an interpreter whose counts make a held array look free (here sys.getrefcount
    replaced before the import), the import-time check turns reuse off: every array is
    new, and a held one is never handed out again."""
    import subprocess
    import sys

    code = ("import sys\n"
            "sys.getrefcount = lambda obj: 2\n"
            "import numpy as np\n"
            "from psocake_labeler.labelling import reuse\n"
            "pool = reuse.Buffers()\n"
            "with pool.active():\n"
            "    a = reuse.empty(100)\n"
            "    b = reuse.empty(100)     # a is held: never a again\n"
            "assert not np.shares_memory(a, b), 'a held array was handed out again'\n"
            "assert pool.nbytes() == 0 and not reuse.REUSE and not reuse.refcounts_tell()\n"
            "print('off')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "off", out.stderr
    from psocake_labeler.labelling import reuse as here

    assert here.refcounts_tell() and here.REUSE     # this interpreter's counts tell
