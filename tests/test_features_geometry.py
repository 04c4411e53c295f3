"""Per-hit beam centres, Friedel fill, per-event zero halves and q units on simulated runs."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from psocake_labeler.errors import InputError
from psocake_labeler.features import FeatureTransform, centering, compute_features
from psocake_labeler.features import representations as rep
from psocake_labeler.features.geometry import Geometry
from psocake_labeler.io import open_run
from psocake_labeler.simulate import read_truth, simulate_run


@pytest.fixture(scope="module")
def jitter_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("jitter") / "amo06516_0093.cxi"
    simulate_run(path, hits=40, shape=128, seed=21, mix="single=1", conditions="jitter=3")
    return path


@pytest.fixture(scope="module")
def still_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("still") / "amo06516_0094.cxi"
    simulate_run(path, hits=40, shape=128, seed=22, mix="single=1")
    return path


def test_beam_centre_found_per_hit_within_half_a_pixel(jitter_run):
    truth = read_truth(jitter_run)
    run = open_run(jitter_run)
    true = truth.params["beam_center"] - 63.5
    assert np.hypot(*true.T).mean() > 2.5           # the beam really moves
    tr = FeatureTransform(beam_search=10, work_size=128).fit(run)
    v, ok = rep.bin_images(run.images(slice(None)), tr.mask_, tr.bin_)
    off = centering.beam_offsets(rep.photon_scale(v, ok, "sqrt"), ok, tr.binned_center_, 10.0)
    err = np.hypot(*(off - true).T)
    assert np.median(err) < 0.5 and np.quantile(err, 0.9) < 1.0
    # One half missing: no Friedel pairs; the rings of the live half place the beam.
    bottom = np.zeros_like(ok)
    bottom[:, 66:] = True
    half = ok & ~bottom
    assert np.isnan(centering.friedel_offsets(rep.photon_scale(v, half, "sqrt"), half,
                                              tr.binned_center_, 10.0)).all()
    off_half = centering.beam_offsets(rep.photon_scale(v, half, "sqrt"), half, tr.binned_center_, 10.0)
    live = true[:, 0] < 1.0                      # beam above the missing rows
    err_half = np.hypot(*(off_half - true).T)[live]
    assert live.sum() >= 15 and np.median(err_half) < 0.5


def test_a_half_read_as_zeros_does_not_become_the_feature(still_run):
    run = open_run(still_run)
    images = run.images(slice(0, 20))
    clipped = images.copy()
    clipped[:, 70:] = 0.0                       # bottom half not read out in these events
    tr = FeatureTransform(work_size=128, fill="friedel", zero_rows=True, n_pca=0).fit(run)
    plain = FeatureTransform(work_size=128, n_pca=0).fit(run)
    full, half = tr.transform(images), tr.transform(clipped)
    d_self = np.linalg.norm(full - half, axis=1)
    # Far closer to the full image than with zeros read as signal and a ring fill.
    p_full, p_half = plain.transform(images), plain.transform(clipped)
    rel = d_self / np.linalg.norm(full, axis=1)
    rel_plain = np.linalg.norm(p_full - p_half, axis=1) / np.linalg.norm(p_full, axis=1)
    assert np.median(rel) < 0.5 * np.median(rel_plain)


def test_zero_rows_only_masks_blocks_of_zero_rows():
    good = np.ones((32, 32), dtype=bool)
    img = np.random.default_rng(0).random((2, 32, 32)).astype(np.float32)
    img[0, 20:] = 0
    img[1, 5] = 0                               # one zero row: a faint edge, not a failure
    bad = centering.zero_rows(img, good, 4)
    assert bad[0, 20:].all() and not bad[0, :20].any() and not bad[1].any()


def test_q_units_put_runs_at_another_distance_and_energy_on_the_same_features(tmp_path):
    a, b = tmp_path / "amo06516_0001.cxi", tmp_path / "amo06516_0002.cxi"
    d0 = 0.130 * 128 / 1024
    simulate_run(a, hits=30, shape=128, seed=5, mix="single=1")
    simulate_run(b, hits=30, shape=128, seed=5, mix="single=1", photon_energy_eV=1700.0,
                 conditions=f"distance={d0 * 1.1}")
    run_a, run_b = open_run(a), open_run(b)
    errors = {}
    for units in ("pixel", "q"):
        fa, tr = compute_features(run_a, units=units, work_size=128, n_pca=0)
        fb, _ = compute_features(run_b, transform=tr)
        errors[units] = np.median(np.linalg.norm(fa - fb, axis=1) / np.linalg.norm(fa, axis=1))
    # Same particles in the same orientations (same seed), other geometry: closer in q
    # units (what is left is mostly photon noise: the runs draw different photons).
    assert errors["q"] < 0.9 * errors["pixel"]
    assert tr.geometry_ == Geometry(d0, 75e-6, 1600.0)


def test_q_units_survive_save_load_and_need_the_geometry(tmp_path, jitter_run):
    run = open_run(jitter_run)
    tr = FeatureTransform(units="q", beam_search=4).fit(run)
    with h5py.File(tmp_path / "t.h5", "w") as f:
        tr.save(f.create_group("features"))
    with h5py.File(tmp_path / "t.h5", "r") as f:
        back = FeatureTransform.load(f["features"])
    img = run.images(slice(0, 5))
    np.testing.assert_allclose(back.transform(img), tr.transform(img), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(back.q_edges_, tr.q_edges_)

    class NoGeometry:
        path = "x.cxi"
        metadata = {"distance_m": None}
        image_shape = (128, 128)
        mask = None
        center = None
        has_images = True

        def __len__(self):
            return 5

        def images(self, sel):
            return img[sel] if isinstance(sel, slice) else img[np.asarray(sel)]

    with pytest.raises(InputError, match="x.cxi.*distance"):
        FeatureTransform(units="q").fit(NoGeometry())
    for bad in ({"units": "mm"}, {"fill": "x"}, {"beam_search": -1}, {"q_fraction": 0}):
        with pytest.raises(InputError):
            FeatureTransform(**bad).fit(img)
