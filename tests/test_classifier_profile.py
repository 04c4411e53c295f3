"""The autocorrelation profile beside the brightness, for the labels' classifier only
(``classifier_autocorr``): computed in the features pass, stored, extended, read by the
classifier and not by the graph; old files load and extend as they were made."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import psocake_labeler as pl
from psocake_labeler.errors import InputError
from psocake_labeler.features import FeatureTransform
from psocake_labeler.features.autocorr import MAX_LAG
from psocake_labeler.features.brightness import hit_brightness
from psocake_labeler.labelling.inputs import classifier_inputs
from psocake_labeler.simulate import read_truth, simulate_run


@pytest.fixture(scope="module")
def few_photons_run(tmp_path_factory):
    """300 hits of 64 px, 100-2000 signal photons each, 2 px beam jitter."""
    path = tmp_path_factory.mktemp("cprof") / "amo06516_0400.cxi"
    simulate_run(path, hits=300, shape=(64, 64), seed=7, run=400,
                 conditions="jitter=2,photons=100-2000")
    return path


@pytest.fixture(scope="module")
def built(few_photons_run):
    """Its graph without the profile (``autocorr=0``): what the classifier's copy adds."""
    return pl.build_manifold(pl.open_run(few_photons_run), n_components=4, knn=8,
                             autocorr=0.0)


def test_the_manifold_keeps_each_hits_profile_and_the_graph_does_not_see_it(
        few_photons_run, built, tmp_path):
    run = pl.open_run(few_photons_run)
    images = run.images(slice(0, len(run)))
    m = built
    assert m.profile.shape == (len(m), MAX_LAG) and m.profile.dtype == np.float32
    assert np.isfinite(m.profile).all() and m.profile.std(axis=0).min() > 0
    # The same profile the graph's features would append at weight 1, from the same pass.
    ref = FeatureTransform(autocorr=1.0).fit(run).raw_features(images)[:, -MAX_LAG:]
    np.testing.assert_allclose(m.profile, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(m.brightness, hit_brightness(images, m.transform.mask_))
    # Off: the same graph features and brightness, no profile.
    off = pl.build_manifold(run, n_components=4, knn=8, autocorr=0.0,
                            classifier_autocorr=False)
    assert off.profile is None
    np.testing.assert_array_equal(off.features, m.features)
    np.testing.assert_array_equal(off.brightness, m.brightness)
    path = tmp_path / "m.h5"
    m.save(path)
    np.testing.assert_array_equal(pl.Manifold.load(path).profile, m.profile)
    np.testing.assert_array_equal(pl.Manifold.load(path, lazy=True).profile, m.profile)


def test_old_files_load_and_extend_without_a_profile(built, second_spi_run, tmp_path):
    m = built
    path = tmp_path / "old.h5"
    m.save(path)
    # A file made before the option: no profile dataset, no such parameter.
    with h5py.File(path, "r+") as f:
        del f["profile"]
        params = json.loads(f["transform"].attrs["params"])
        del params["classifier_autocorr"]
        f["transform"].attrs["params"] = json.dumps(params)
    old = pl.Manifold.load(path)
    assert old.profile is None and old.transform.classifier_autocorr is False
    np.testing.assert_array_equal(classifier_inputs(old.features, old.brightness, old.profile),
                                  classifier_inputs(old.features, old.brightness))
    n_new = len(pl.open_run(second_spi_run.path))
    grown = old.extend(second_spi_run.path)
    assert grown.profile is None and grown.brightness.shape == (len(m) + n_new, 2)
    both = m.extend(second_spi_run.path)
    assert both.profile.shape == (len(m) + n_new, MAX_LAG)
    np.testing.assert_array_equal(both.profile[:len(m)], m.profile)
    np.testing.assert_array_equal(both.brightness[len(m):], grown.brightness[len(m):])


def test_the_classifier_reads_the_profile_after_the_brightness_basis(built):
    m = built
    with_profile = classifier_inputs(m.features, m.brightness, m.profile)
    without = classifier_inputs(m.features, m.brightness)
    assert with_profile.shape == (len(m), without.shape[1] + MAX_LAG)
    np.testing.assert_array_equal(with_profile[:, :without.shape[1]], without)
    np.testing.assert_array_equal(with_profile[:, without.shape[1]:], m.profile)
    # A profile of other rows than the features is not read.
    np.testing.assert_array_equal(classifier_inputs(m.features, m.brightness, m.profile[1:]),
                                  without)
    np.testing.assert_array_equal(classifier_inputs(m.features, None, m.profile),
                                  np.hstack([m.features, m.profile]))


def test_the_profile_tells_the_classes_apart_at_few_photons(few_photons_run, built):
    """At 100-2000 photons a hit's beam centre, and so its polar features, are uncertain;
    the profile needs no centre (docs/features.md: 5-fold logistic regression)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    m = built
    y = np.asarray(read_truth(few_photons_run).labels)

    def score(x):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        return float(np.mean(cross_val_score(clf, x, y, cv=5)))

    base = score(classifier_inputs(m.features, m.brightness))
    assert score(classifier_inputs(m.features, m.brightness, m.profile)) > base + 0.03


def test_a_bad_switch_is_refused():
    with pytest.raises(InputError, match="classifier_autocorr"):
        FeatureTransform(classifier_autocorr="yes").fit(np.ones((4, 32, 32), np.float32))
