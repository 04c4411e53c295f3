"""Per-hit brightness beside the features: computed, stored in the manifold, used by the
labels' classifier only; old manifold files without it still open."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

import psocake_labeler as pl
from psocake_labeler.errors import LayoutError
from psocake_labeler.features.brightness import hit_brightness
from psocake_labeler.labelling.blend import cv_calibration
from psocake_labeler.labelling.inputs import classifier_inputs


@pytest.fixture(scope="module")
def faint_run(tmp_path_factory):
    """80 hits of 64 px: singles and "unknown" ones (faint or contaminated singles)."""
    from psocake_labeler.simulate import simulate_run

    folder = tmp_path_factory.mktemp("faint")
    return simulate_run(folder / "amo06516_0301.cxi", hits=80, shape=(64, 64), seed=5,
                        run=301, mix="single=0.5,unknown=0.5")


def test_brightness_follows_the_photons_and_ignores_masked_pixels(faint_run):
    run = pl.open_run(faint_run.path)
    images = run.images(slice(0, len(run)))
    b = hit_brightness(images, run.mask)
    assert b.shape == (len(run), 2) and b.dtype == np.float32 and np.isfinite(b).all()
    with h5py.File(faint_run.truth_path) as f:
        detected = f["params/detected_photons"][()]
    rank = np.argsort(np.argsort(detected))
    assert np.corrcoef(rank, np.argsort(np.argsort(b[:, 0])))[0, 1] > 0.9
    # A masked pixel does not count, however bright it reads.
    hot = images.copy()
    hot[:, 10, 10] = 1e9
    good = np.ones(images.shape[1:], dtype=bool) if run.mask is None else run.mask.copy()
    good[10, 10] = False
    np.testing.assert_allclose(hit_brightness(hot, good), hit_brightness(images, good))
    # The same pattern 20x fainter is darker by about log(20), not the same.
    assert np.median(b[:, 0] - hit_brightness(images / 20, run.mask)[:, 0]) > 2.0


def test_a_half_not_read_out_counts_as_the_half_that_was(faint_run):
    """A clipped hit (one half reads exact zeros) is as bright as the whole hit, not half."""
    run = pl.open_run(faint_run.path)
    images = run.images(slice(0, len(run)))
    whole = hit_brightness(images, run.mask)
    clipped = images.copy()
    clipped[:, :32] = 0.0
    # The pattern is centrosymmetric: the lower half alone, scaled by the good pixels over
    # those read, gives back the whole within the noise of one half.
    diff = hit_brightness(clipped, run.mask) - whole
    assert np.median(np.abs(diff[:, 0])) < 0.15 and np.median(np.abs(diff[:, 1])) < 0.15
    # Without the rule the half would be counted as read: darker by about log 2.
    read_half = clipped[:, 32:]
    naive = hit_brightness(read_half, None if run.mask is None else run.mask[32:])
    assert np.median(whole[:, 0] - naive[:, 0]) > 0.4
    # One row of zeros (a faint image's edge) is no read-out failure: nothing is scaled.
    edge = images.copy()
    edge[:, 0] = 0.0
    np.testing.assert_allclose(hit_brightness(edge, run.mask), hit_brightness(images, run.mask),
                               atol=0.05)


def test_manifold_keeps_brightness_and_old_files_open_without_it(faint_run, tmp_path):
    run = pl.open_run(faint_run.path)
    m = pl.build_manifold(run, n_components=4, knn=8)
    assert m.brightness.shape == (len(m), 2)
    # Computed in the feature pass, on its blocks: the same as from the images, good pixels.
    np.testing.assert_array_equal(m.brightness, hit_brightness(run.images(slice(0, len(run))),
                                                               m.transform.mask_))
    path = tmp_path / "m.h5"
    m.save(path)
    np.testing.assert_array_equal(pl.Manifold.load(path).brightness, m.brightness)
    # A file written before brightness existed has no such dataset: it opens, without it.
    m.brightness = None
    m.save(tmp_path / "old.h5")
    with h5py.File(tmp_path / "old.h5") as f:
        assert "brightness" not in f
    old = pl.Manifold.load(tmp_path / "old.h5")
    assert old.brightness is None
    np.testing.assert_array_equal(classifier_inputs(old.features, old.brightness), old.features)
    # A manifold built from a feature array has no images, so no brightness.
    assert pl.build_manifold(m.features, n_components=4, knn=8).brightness is None


def test_manifold_keeps_the_reliability_and_old_files_open_without_it(faint_run, tmp_path):
    m = pl.build_manifold(pl.open_run(faint_run.path), n_components=4, knn=8)
    assert m.reliability.shape == (len(m),) and m.reliability.dtype == np.float32
    path = tmp_path / "m.h5"
    m.save(path)
    np.testing.assert_array_equal(pl.Manifold.load(path).reliability, m.reliability)
    np.testing.assert_array_equal(pl.Manifold.load(path, lazy=True).reliability, m.reliability)
    m.reliability = None
    m.save(tmp_path / "old.h5")
    assert pl.Manifold.load(tmp_path / "old.h5").reliability is None
    assert pl.build_manifold(m.features, n_components=4, knn=8).reliability is None
    with h5py.File(path, "a") as f:                  # one value per event, or no file
        del f["reliability"]
        f.create_dataset("reliability", data=np.ones(len(m) - 1, np.float32))
    with pytest.raises(LayoutError, match="reliability"):
        pl.Manifold.load(path)


def test_extend_adds_the_new_runs_brightness(faint_run, second_spi_run):
    m = pl.build_manifold(pl.open_run(faint_run.path), n_components=4, knn=8)
    both = m.extend(second_spi_run.path)
    run = pl.open_run(second_spi_run.path)
    assert both.brightness.shape == (len(m) + len(run), 2)
    assert both.reliability.shape == (len(m) + len(run),)
    np.testing.assert_array_equal(both.reliability[:len(m)], m.reliability)
    np.testing.assert_array_equal(both.brightness[:len(m)], m.brightness)
    np.testing.assert_allclose(both.brightness[len(m):],
                               hit_brightness(run.images(slice(0, len(run))),
                                              m.transform.mask_ & run.mask
                                              if run.mask is not None else m.transform.mask_))


def test_classifier_inputs_add_a_spline_basis_of_usable_columns(spi_manifold):
    m, _ = spi_manifold
    rng = np.random.default_rng(0)
    bright = np.stack([rng.normal(size=len(m)), np.zeros(len(m))], axis=1)   # 2nd: constant
    x = classifier_inputs(m.features, bright)
    d = m.features.shape[1]
    assert x.shape[0] == len(m) and x.shape[1] > d and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, :d], m.features)
    basis = x[:, d:]
    np.testing.assert_allclose(basis.sum(axis=1), 1.0, atol=1e-5)   # B-splines: unity
    # the constant column adds nothing: the same as the first column alone
    np.testing.assert_allclose(classifier_inputs(m.features, bright[:, :1]), x)
    assert classifier_inputs(m.features, None) is m.features


def test_cv_calibration_softens_a_classifier_that_cannot_predict(spi_manifold):
    m, y = spi_manifold
    x = m.features.astype(np.float64)
    t_true, s_true = cv_calibration(x, y)
    t_noise, s_noise = cv_calibration(x, np.random.default_rng(1).permutation(y))
    assert t_true < 3.0 and t_noise > 2.0 * t_true
    assert s_true < 0.15 and s_noise >= 0.4       # the held-out error rate, floored at 0.05
