"""The autocorrelation radial profile (``autocorr``): shift invariant, blind to the mask,
finite on broken images, saved and loaded with the transform; on simulated runs."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from psocake_labeler import Manifold
from psocake_labeler.errors import InputError
from psocake_labeler.features import FeatureTransform
from psocake_labeler.features.autocorr import MAX_LAG
from psocake_labeler.io import open_run
from psocake_labeler.simulate import read_truth, simulate_run

FIXED = dict(work_size=128, n_pca=0, units="pixel", autocorr=1.0)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("acf") / "amo06516_0095.cxi"
    simulate_run(path, hits=60, shape=128, seed=31, mix="single=0.5,multiple=0.5")
    return path


def profiles(t: FeatureTransform, images: np.ndarray) -> np.ndarray:
    """The profile columns of the pre-PCA features (appended last, weight 1)."""
    return t.raw_features(images)[:, -MAX_LAG:]


def shifted(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images moved by (dy, dx) pixels on the detector, the uncovered edge read as 0."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[:, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def spread(p: np.ndarray) -> float:
    """Median distance of a hit's profile from the mean profile of its run."""
    return float(np.median(np.linalg.norm(p - p.mean(axis=0), axis=1)))


def change(p: np.ndarray, q: np.ndarray) -> float:
    """Median distance between the profiles of the same hits, two ways."""
    return float(np.median(np.linalg.norm(p - q, axis=1)))


def test_the_profile_does_not_move_with_the_pattern(mixed_run):
    run = open_run(mixed_run)
    images = run.images(slice(0, 30))
    t = FeatureTransform(**FIXED).fit(run)
    # The pattern moves on a detector that does not: the same pixels (gap, beam hole,
    # edges) are masked in both, so only the pattern's position differs.
    both = t.mask_ & shifted(t.mask_[None].astype(np.float32), 3, -2)[0].astype(bool)
    moved = shifted(images, 3, -2)
    p = t.raw_features(images, mask=both)
    q = t.raw_features(moved, mask=both)
    acf, acf_moved = p[:, -MAX_LAG:], q[:, -MAX_LAG:]
    assert change(acf, acf_moved) < 0.25 * spread(acf)
    # The polar features about the fixed centre (no beam search) move by more than the
    # spread of the whole run.
    fixed = FeatureTransform(**{**FIXED, "beam_search": 0}).fit(run)
    polar = fixed.raw_features(images, mask=both)[:, :-MAX_LAG]
    polar_moved = fixed.raw_features(moved, mask=both)[:, :-MAX_LAG]
    assert change(polar, polar_moved) > spread(polar)


def test_masked_pixels_do_not_become_the_feature(mixed_run):
    run = open_run(mixed_run)
    images = run.images(slice(0, 30))
    t = FeatureTransform(**FIXED).fit(run)
    p = profiles(t, images)
    # Dead pixels scattered over the detector (5%): masked, the pairs left average about
    # the same; read as signal, the zeros pull every lag down.
    dead = np.random.default_rng(3).random(t.mask_.shape) < 0.05
    zeroed = np.where(dead, np.float32(0), images)
    masked = change(p, t.raw_features(zeroed, mask=~dead)[:, -MAX_LAG:])
    assert masked < 0.3 * spread(p)
    assert masked < 0.5 * change(p, profiles(t, zeroed))
    # A half read as zeros (zero_rows masks it per event) moves the profile less than
    # half as far as the same zeros read as signal.
    clipped = images.copy()
    clipped[:, 70:] = 0.0
    as_signal = FeatureTransform(**{**FIXED, "zero_rows": False}).fit(run)
    ours = change(p, profiles(t, clipped))
    naive = change(profiles(as_signal, images), profiles(as_signal, clipped))
    assert ours < 0.5 * naive


def test_classes_differ_in_the_profile(mixed_run):
    truth = np.asarray(read_truth(mixed_run).labels)
    run = open_run(mixed_run)
    p = profiles(FeatureTransform(**FIXED).fit(run), run.images(slice(None)))
    a, b = p[truth == truth.min()], p[truth == truth.max()]
    # Singles' and multiples' mean profiles differ by more than their own spread's error.
    gap = np.abs(a.mean(axis=0) - b.mean(axis=0))
    err = np.sqrt(a.var(axis=0) / len(a) + b.var(axis=0) / len(b))
    assert np.max(gap / np.maximum(err, 1e-12)) > 4


def test_broken_images_give_finite_profiles(mixed_run):
    run = open_run(mixed_run)
    images = run.images(slice(0, 4)).copy()
    images[0] = np.nan                          # a corrupt image
    images[1, :20] = np.inf
    images[2] = 0.0                             # blank
    images[3, 10:12, 10:40] = np.nan
    t = FeatureTransform(**FIXED).fit(run)
    p = profiles(t, images)
    assert np.isfinite(p).all()
    assert not p[0].any() and not p[2].any()


def test_saved_with_the_transform_and_old_files_load_without_it(mixed_run, tmp_path):
    run = open_run(mixed_run)
    t = FeatureTransform(work_size=128, n_pca=8, autocorr=0.5).fit(run)
    with h5py.File(tmp_path / "t.h5", "w") as f:
        t.save(f.create_group("t"))
    with h5py.File(tmp_path / "t.h5", "r") as f:
        back = FeatureTransform.load(f["t"])
    assert back.autocorr == 0.5
    images = run.images(slice(0, 6))
    np.testing.assert_array_equal(back.transform(images), t.transform(images))
    # A manifold written before the option existed reads as made: no profile.
    from pathlib import Path
    old = Manifold.load(Path(__file__).parent / "data" / "manifold_main_v1.h5").transform
    assert old.autocorr == 0.0


def test_bad_weights_are_refused():
    images = np.zeros((3, 32, 32), np.float32)
    for bad in (-1.0, True, "yes"):
        with pytest.raises(InputError, match="autocorr"):
            FeatureTransform(autocorr=bad).fit(images)

