"""LabelSession on a real manifold of a simulated run: labels, undo, classes, autosave,
propagation, recommendation, extension to a second run."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

import psocake_labeler as pl
from psocake_labeler.labelfiles.store import read_label_file
from psocake_labeler.labelling.log import ActionLog
from psocake_labeler.simulate import read_truth


@pytest.fixture(scope="module")
def spi(small_spi_run, small_spi_manifold_path):
    """(manifold, truth labels) of the 300-hit simulated run."""
    m = pl.Manifold.load(small_spi_manifold_path)
    return m, np.asarray(read_truth(small_spi_run.truth_path).labels)


def stratified(truth: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """A random fraction of rows, at least one per class."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(truth == c)) for c in np.unique(truth)]
    rest = rng.permutation(len(truth))[: max(0, int(round(fraction * len(truth))) - len(picks))]
    return np.unique(np.concatenate([picks, rest])).astype(int)


def label_truth(s: pl.LabelSession, rows, truth) -> None:
    for c, name in enumerate(s.classes):
        sel = [r for r in rows if truth[r] == c]
        if sel:
            s.label(sel, name)


def test_label_unlabel_and_events(spi, tmp_path):
    m, _truth = spi
    s = pl.LabelSession(m, path=tmp_path / "l.h5", user="alice")
    assert s.classes == ["Single", "Multiple", "Water/Unknown"]
    assert s.label([3, 4], "Multiple") and s.label(7, "Single")
    run, event = int(m.events["run"][10]), int(m.events["event"][10])
    s.label_events([(run, event)], "Water/Unknown")
    s.label([(run, int(m.events["event"][11]))], "Single")     # DESIGN: label by event too
    assert s.user_labels()[11] == 0
    s.unlabel([11])
    assert s.user_labels() == {3: 1, 4: 1, 7: 0, 10: 2}
    assert not s.label([7], "Single")          # no change, no action
    s.unlabel([3, 7])
    assert s.user_labels() == {4: 1, 10: 2}
    a = s.log.actions[-1]
    assert a.kind == "unlabel" and a.user == "alice" and a.time > 1e9


def test_bad_input_is_a_clear_error(spi):
    m, _ = spi
    s = pl.LabelSession(m)
    with pytest.raises(pl.ClassNameError, match=r"'single'.*'Single', 'Multiple'"):
        s.label([1], "single")
    with pytest.raises(pl.InputError, match="outside"):
        s.label([len(m.events)], "Single")
    with pytest.raises(pl.InputError, match="not in this manifold"):
        s.label_events([(12345, 1)], "Single")
    with pytest.raises(pl.ClassNameError):
        pl.LabelSession(m, classes=("A", "A"))


def test_undo_redo_and_log_replay(spi):
    m, _ = spi
    s = pl.LabelSession(m, user="bob")
    s.label([1, 2], "Single")
    s.label([2, 3], "Multiple")
    assert s.undo() and s.user_labels() == {1: 0, 2: 0}
    assert s.undo() and s.user_labels() == {}
    assert not s.undo()
    assert s.redo() and s.user_labels() == {1: 0, 2: 0}
    assert s.redo() and s.user_labels() == {1: 0, 2: 1, 3: 1}
    assert not s.redo()
    s.undo()
    s.label([9], "Water/Unknown")              # a new action ends the redo history
    assert not s.can_redo and s.user_labels() == {1: 0, 2: 0, 9: 2}
    # the current state is what replaying the log gives
    replay = ActionLog(len(m.events), list(s.log.actions))
    assert np.array_equal(replay.labels, s.log.labels)
    assert [a.kind for a in s.log.actions] == ["label", "label", "undo", "undo", "redo", "redo",
                                               "undo", "label"]


def test_classes_rename_add_remove(spi):
    m, _ = spi
    s = pl.LabelSession(m)
    assert s.colours[:3] == ["#e41a1c", "#4daf4a", "#377eb8"]    # red, green, blue
    s.label([1], "Single")
    s.label([2], "Multiple")
    s.rename_class("Single", "Singles")
    assert s.user_labels() == {1: 0, 2: 1} and s.classes[0] == "Singles"
    assert s.add_class("Need help") == 3
    s.label([5], "Need help")
    with pytest.raises(pl.ClassNameError, match="confirm=True"):
        s.remove_class("Multiple")
    assert s.user_labels()[2] == 1
    assert s.remove_class("Multiple", confirm=True) == 1
    assert s.classes == ["Singles", "Water/Unknown", "Need help"]
    assert s.user_labels() == {1: 0, 5: 2}
    with pytest.raises(pl.ClassNameError, match="already exists"):
        s.add_class("Singles")


def test_removing_a_class_keeps_the_undo_history(spi, tmp_path):
    m, _ = spi
    s = pl.LabelSession(m, path=tmp_path / "labels.h5")
    s.label([1], "Single")
    s.label([2], "Multiple")
    s.label([1], "Multiple")            # 1: Single -> Multiple
    s.remove_class("Multiple", confirm=True)
    assert s.user_labels() == {} and s.can_undo
    assert s.undo()                     # 1 back to Single, a class that still exists
    assert s.user_labels() == {1: 0}
    assert s.undo()                     # 2 back to unlabelled: nothing to show, but in order
    assert s.undo() and s.user_labels() == {}
    assert not s.can_undo
    assert s.redo() and s.user_labels() == {1: 0}
    assert s.redo() and s.user_labels() == {1: 0}   # 2 was Multiple: removed, stays unlabelled
    assert s.redo() and s.user_labels() == {}       # 1 was relabelled Multiple: removed
    again = pl.LabelSession.load(tmp_path / "labels.h5", m)   # the log replays the same
    assert again.user_labels() == {} and again.can_undo
    assert again.undo() and again.user_labels() == {1: 0}


def test_autosave_load_restores_exactly(spi, second_spi_run, tmp_path):
    m, truth = spi
    path = tmp_path / "labels.h5"
    s = pl.LabelSession(m, path=path, user="carol")
    calls = []
    s.add_listener(lambda change: calls.append((len(s.user_labels()), change)))
    label_truth(s, stratified(truth, 0.05), truth)
    s.propagate()
    s.add_class("Other", colour="#123456")
    s.label([0], "Other")
    s.undo()
    # every change was saved before the call returned
    on_disk = read_label_file(path)
    assert on_disk.user_index().tolist() == [s.user_labels().get(i, -1) for i in range(len(s))]
    assert calls and calls[-1][0] == len(s.user_labels())
    # each change names what it touched: the undo gives back row 0 alone, after propagation
    undo = calls[-1][1]
    assert (undo.kind, undo.rows.tolist(), undo.predictions) == ("undo", [0], True)
    assert [c.kind for _, c in calls[-3:]] == ["note", "label", "undo"]
    assert calls[-3][1].classes and not calls[-2][1].classes
    con = sqlite3.connect(path)
    assert dict(con.execute("SELECT key, value FROM meta"))["schema"] == "psocake-labeler/labels"
    con.close()
    r = pl.LabelSession.load(path, m, user="carol")     # undo and redo are per user
    assert r.user_labels() == s.user_labels()
    assert r.classes == s.classes and r.colours == s.colours
    assert np.array_equal(r.predicted, s.predicted)
    assert np.allclose(r.confidence, s.confidence)
    assert [(a.kind, a.user, a.time) for a in r.log.actions] == \
           [(a.kind, a.user, a.time) for a in s.log.actions]
    assert not pl.LabelSession.load(path, m, user="dan").can_redo
    assert r.can_redo and r.redo() and r.user_labels()[0] == 3
    with pytest.raises(pl.InputError, match="exists"):
        pl.LabelSession(m, path=path)
    other = pl.build_manifold(pl.open_run(second_spi_run.path), n_components=10, knn=15)
    with pytest.raises(pl.ManifoldMismatchError, match="another manifold"):
        pl.LabelSession.load(path, other)


def test_propagation_accuracy_and_user_label_wins(spi):
    m, truth = spi
    s = pl.LabelSession(m)
    rows = stratified(truth, 0.05, seed=3)
    label_truth(s, rows, truth)
    s.propagate()
    unl = np.setdiff1d(np.arange(len(truth)), rows)
    acc = np.mean(s.predicted[unl] == truth[unl])
    assert acc >= 0.85, f"accuracy {acc:.3f} with 5% labels"
    assert s.scores.shape == (len(truth), 3)
    assert np.all((s.confidence >= 0) & (s.confidence <= 1))
    # a user label wins for its own event, even a deliberately wrong one, and re-propagates
    r = int(unl[0])
    before = int(s.predicted[r])
    wrong = (before + 1) % 3
    s.label([r], s.classes[wrong])
    assert s.predicted[r] == wrong and s.confidence[r] == 1.0 and not s.stale
    s.undo()
    assert s.predicted[r] == before and r not in s.user_labels()


def test_recommend_never_repeats_and_diversifies(spi):
    m, truth = spi
    s = pl.LabelSession(m)
    first = s.recommend(10)                      # cold start
    assert len(first) == len(set(first)) == 10
    assert len(set(truth[first])) >= 2, "cold start should cover several clusters"
    for _ in range(4):
        picks = s.recommend(10)
        assert len(set(picks)) == 10 and not set(picks) & set(s.user_labels())
        label_truth(s, picks, truth)
    assert len(s.user_labels()) == 40


def test_extend_carries_labels(spi, second_spi_run, tmp_path):
    m, truth = spi
    s = pl.LabelSession(m, user="dave")
    rows = stratified(truth, 0.05, seed=5)
    label_truth(s, rows, truth)
    s.propagate()
    run2 = pl.open_run(second_spi_run.path)
    e = s.extend(run2, path=tmp_path / "ext.h5")
    assert len(e) == len(m.events) + len(run2)
    def keys(ss):
        return {(int(ss.events["run"][r]), int(ss.events["event"][r])): c
                           for r, c in ss.user_labels().items()}
    assert keys(e) == keys(s)
    truth2 = np.asarray(read_truth(second_spi_run.truth_path).labels)
    new = e.predicted[len(m.events):]
    assert np.all(new >= 0)
    acc = np.mean(new == truth2)
    assert acc >= 0.8, f"transfer accuracy {acc:.3f}"
    assert pl.LabelSession.load(tmp_path / "ext.h5", e.manifold).user_labels() == e.user_labels()


def test_cli_propagate(spi, tmp_path, capsys):
    from psocake_labeler.cli import main

    m, truth = spi
    mpath = tmp_path / "manifold.h5"
    m.save(mpath)
    m2 = pl.Manifold.load(mpath)
    s = pl.LabelSession(m2, path=tmp_path / "l.h5")
    label_truth(s, stratified(truth, 0.05), truth)
    assert main(["propagate", str(mpath), str(tmp_path / "l.h5")]) == 0
    assert "Single" in capsys.readouterr().out
    d = read_label_file(tmp_path / "l.h5")
    assert np.all(d.predicted >= 0) and d.propagated_at == len(d.log.actions)


def test_cli_propagate_without_user_labels_says_so(spi, tmp_path, capsys):
    # (bad manifold and label files: test_bad_files.py)
    from psocake_labeler.cli import main

    m, _ = spi
    mpath = tmp_path / "manifold.h5"
    m.save(mpath)
    pl.LabelSession(pl.Manifold.load(mpath), path=tmp_path / "empty.h5")
    code = main(["propagate", str(mpath), str(tmp_path / "empty.h5")])
    err = capsys.readouterr().err
    assert code == 2 and "no user labels" in err and len(err.strip().splitlines()) == 1


def test_propagate_from_zero_labels_then_label(spi):
    m, truth = spi
    s = pl.LabelSession(m)
    s.propagate()                                  # nothing labelled yet: no prediction
    assert np.all(s.predicted == -1) and s.auto_propagate
    row = int(np.flatnonzero(truth == 0)[0])
    s.label([row], "Single")                       # re-propagates from here on
    assert s.predicted[row] == 0 and np.any(s.predicted == 0) and not s.stale
    assert set(np.unique(s.predicted)) <= {-1, 0}  # one class known: nothing else predicted


def test_auto_propagate_off_is_respected(spi):
    m, truth = spi
    s = pl.LabelSession(m)
    label_truth(s, stratified(truth, 0.03), truth)
    s.propagate()
    s.auto_propagate = False                       # the GUI's "auto" box unticked
    before = s.predicted.copy()
    row = int(np.setdiff1d(np.arange(len(truth)), list(s.user_labels()))[0])
    s.label([row], s.classes[(int(before[row]) + 1) % 3])
    assert s.stale and np.array_equal(s.predicted, before)
    picks = s.recommend(5)                         # needs fresh scores: propagates once
    assert not s.stale and not s.auto_propagate and row not in picks
    assert s.predicted[row] != before[row]
