"""Per-hit beam centres, Friedel fill, per-event zero halves and q units on simulated runs."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from psocake_labeler.errors import InputError
from psocake_labeler.features import FeatureTransform, centering, compute_features
from psocake_labeler.features import representations as rep
from psocake_labeler.features.brightness import HIT_COLUMNS, split_hit_columns
from psocake_labeler.features.geometry import Geometry, run_geometry
from psocake_labeler.features.masked_polar import masked_polar_features
from psocake_labeler.features.pipeline import COARSEST_SAMPLING
from psocake_labeler.io import open_run
from psocake_labeler.io.runs import RunSet
from psocake_labeler.labelling.honest import RELIABLE
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
    off_half = centering.beam_offsets(rep.photon_scale(v, half, "sqrt"), half,
                                      tr.binned_center_, 10.0)
    live = true[:, 0] < 1.0                      # beam above the missing rows
    err_half = np.hypot(*(off_half - true).T)[live]
    assert live.sum() >= 15 and np.median(err_half) < 0.5


def test_default_search_finds_6_px_jitter_beside_a_dead_half(tmp_path):
    # 6 px rms jitter with the bottom half dead (bench_active_learning case 3): a third of
    # the hits on the live half have the beam more than 6 px off on one axis, where a
    # 6 px search kept the nominal centre (median error 8 px on these hits).
    path = tmp_path / "amo06516_0203.cxi"
    simulate_run(path, hits=80, shape=128, seed=23, mix="single=0.6,multiple=0.4",
                 conditions="jitter=6,dead_half=bottom")
    run = open_run(path)
    true = read_truth(path).params["beam_center"] - 63.5
    tr = FeatureTransform(n_pca=4).fit(run)
    images = run.images(slice(None))
    good = tr.mask_[None] & ~centering.unread_rows(images, tr.mask_)
    v, ok = rep.bin_images(images, good, tr.bin_)
    off = tr.pipeline_.beam_offsets(rep.photon_scale(v, ok, "sqrt"), ok) * tr.bin_
    live = true[:, 0] < -3.0                      # beam more than 3 px inside the live half
    assert live.sum() >= 15 and np.mean(np.abs(true[live]).max(axis=1) > 6.0) > 0.25
    err = np.hypot(*(off - true).T)[live]
    assert np.median(err) < 0.5 and np.mean(err < 1.0) >= 0.85
    assert tr.beam_search_ == 16.0                 # "auto": 3 x the measured jitter, capped
    # The search the fit measured is saved: a loaded transform gives the same features.
    with h5py.File(tmp_path / "t.h5", "w") as f:
        tr.save(f.create_group("t"))
        back = FeatureTransform.load(f["t"])
    assert back.beam_search == "auto" and back.beam_search_ == 16.0
    np.testing.assert_array_equal(back.transform(run), tr.transform(run))


def test_reliability_says_how_much_of_its_rings_a_hit_kept(tmp_path, still_run):
    # The dead half + 6 px jitter (bench_active_learning case 3): a hit with the beam on the
    # live half keeps every ring (its Friedel mates fill the dead half) and the rings place
    # its centre; one with the beam inside the dead half loses the rings where a pixel and
    # its mirror are both dead, and its centre cannot be placed along the edge's normal.
    path = tmp_path / "amo06516_0203.cxi"
    simulate_run(path, hits=120, shape=128, seed=24, mix="single=0.6,multiple=0.4",
                 conditions="jitter=6,dead_half=bottom")
    run = open_run(path)
    depth = read_truth(path).params["beam_center"][:, 0] - 63.5
    _, tr, columns = compute_features(run, n_pca=4, with_brightness=True,
                                      classifier_autocorr=False)
    assert columns.shape == (len(run), len(HIT_COLUMNS))
    _, rel, profile = split_hit_columns(columns)
    assert profile is None
    assert rel.dtype == np.float32 and np.all((rel >= 0) & (rel <= 1))
    live, deep = depth < -3.0, depth > 3.0
    assert live.sum() >= 20 and deep.sum() >= 20
    assert np.mean(rel[live] < RELIABLE) <= 0.25
    assert np.mean(rel[deep] < RELIABLE) >= 0.9
    # A whole detector with the beam in place: every hit reliable. Moved beyond the search
    # (20 px, the search 6), a hit the search cannot place keeps the nominal centre, which
    # is not its own: reliability 0.
    still = FeatureTransform(n_pca=4).fit(open_run(still_run))
    images = open_run(still_run).images(slice(0, 20))
    _, whole = still.pipeline_.raw_features(images, with_reliability=True)
    assert np.all(whole >= 0.99)
    moved = np.roll(images, 20, axis=1)
    _, gone = still.pipeline_.raw_features(moved, with_reliability=True)
    v, ok = rep.bin_images(moved, still.mask_, still.bin_)
    lost = np.isnan(still.pipeline_.locate(rep.photon_scale(v, ok, "sqrt"), ok)[0][:, 0])
    assert lost.sum() >= 3 and np.all(gone[lost] == 0.0) and np.all(gone[~lost] > 0.5)


def test_auto_search_stays_narrow_when_the_beam_stays_put(still_run):
    # No jitter: the narrow search (and the outer rings it leaves) of before.
    assert FeatureTransform(n_pca=4).fit(open_run(still_run)).beam_search_ == 6.0


def test_a_half_read_as_zeros_does_not_become_the_feature(still_run):
    run = open_run(still_run)
    images = run.images(slice(0, 20))
    clipped = images.copy()
    clipped[:, 70:] = 0.0                       # bottom half not read out in these events
    fixed = dict(work_size=128, n_pca=0, beam_search=0, units="pixel")
    tr = FeatureTransform(fill="friedel", zero_rows=True, **fixed).fit(run)
    plain = FeatureTransform(fill="ring", zero_rows=False, **fixed).fit(run)
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


def test_a_run_at_a_shorter_distance_is_marked_unreliable_with_one_line(tmp_path, still_run,
                                                                         caplog):
    d0 = 0.130 * 128 / 1024
    tr = FeatureTransform(n_pca=0).fit(open_run(still_run))
    rel, lines = {}, {}
    for ratio in (0.6, 1.15):
        path = tmp_path / f"amo06516_{int(ratio * 100):04d}.cxi"
        simulate_run(path, hits=12, shape=128, seed=22, mix="single=1",
                     conditions=f"distance={d0 * ratio}")
        run = open_run(path)
        caplog.clear()
        with caplog.at_level("WARNING", logger="psocake_labeler"):
            tr.transform(run)
        lines[ratio] = [r.getMessage() for r in caplog.records]
        images = run.images(slice(None))
        rel[ratio] = tr.pipeline_.hit_outputs(images, run.mask, run_geometry(run))[1]
    # 0.6 of the distance: the rings on 0.6 of the pixels, below the 0.8 kept whole.
    assert np.all(rel[0.6] < RELIABLE) and np.median(rel[1.15]) >= RELIABLE
    assert rel[0.6] == pytest.approx(0.6 / COARSEST_SAMPLING, abs=0.02)
    assert len(lines[0.6]) == 1
    assert "amo06516_0060.cxi" in lines[0.6][0] and "0.60" in lines[0.6][0]
    assert lines[1.15] == []


def test_runs_at_two_distances_embedded_as_one_keep_each_its_own_geometry(tmp_path):
    d0 = 0.130 * 128 / 1024
    paths = [tmp_path / "amo06516_0001.cxi", tmp_path / "amo06516_0002.cxi"]
    simulate_run(paths[0], hits=10, shape=128, seed=5, mix="single=1",
                 conditions=f"distance={d0 * 1.15}")
    simulate_run(paths[1], hits=12, shape=128, seed=6, mix="single=1")
    a, b = (open_run(p) for p in paths)
    both = RunSet([a, b])
    tr = FeatureTransform(n_pca=0).fit(both)
    # q units, the rings laid out for the shorter distance (the coarser run)
    assert tr.geometry_ == Geometry(d0, 75e-6, 1600.0) and tr.q_edges_ is not None
    joint = tr.transform(both)
    np.testing.assert_allclose(joint[:10], tr.transform(a), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(joint[10:], tr.transform(b), rtol=1e-5, atol=1e-6)
    # the first run's rows read as if at the shorter distance would differ
    as_near = tr.transform(a.images(slice(None)), geometry=tr.geometry_)
    assert np.abs(as_near - joint[:10]).max() > 0.1 * np.abs(joint[:10]).max()


def test_a_run_whose_beam_hit_elsewhere_is_read_about_its_own_beam(tmp_path, still_run):
    run = open_run(still_run)
    tr = FeatureTransform(n_pca=0).fit(run)
    assert tr.beam_search_ == 6.0          # the still run: the narrow search
    base = tr.transform(run)
    # the same hits (same seed), the beam pointing moved 9 px down and 7 px left
    path = tmp_path / "amo06516_0095.cxi"
    simulate_run(path, hits=40, shape=128, seed=22, mix="single=1", conditions="offset=9:-7")
    moved = open_run(path)
    true = read_truth(path).params["beam_center"]
    assert np.allclose(true, [63.5 + 9, 63.5 - 7])
    got = tr.transform(moved)
    err = np.linalg.norm(got - base, axis=1) / np.linalg.norm(base, axis=1)
    # about the fitted centre, as before: every hit's rings about the wrong point
    stale = tr.transform(moved.images(slice(None)), mask=moved.mask)
    was = np.linalg.norm(stale - base, axis=1) / np.linalg.norm(base, axis=1)
    assert np.median(err) < 0.25 * np.median(was), (np.median(err), np.median(was))
    # with the search off every run is read about its nominal centre, as before
    off = FeatureTransform(n_pca=0, beam_search=0).fit(run)
    np.testing.assert_array_equal(off.transform(moved),
                                  off.transform(moved.images(slice(None)), mask=moved.mask))


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


def test_units_auto_is_q_with_the_geometry_and_pixels_with_one_line_without(jitter_run,
                                                                            caplog):
    run = open_run(jitter_run)
    assert FeatureTransform(units="auto", n_pca=0).fit(run).q_edges_ is not None
    images = run.images(slice(0, 8))
    with caplog.at_level("INFO", logger="psocake_labeler"):
        t = FeatureTransform(units="auto", n_pca=0).fit(images)   # no metadata: no geometry
    assert t.q_edges_ is None and t.geometry_ is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "pixel units" in lines[0] and "distance_m" in lines[0]


def test_a_file_saved_before_the_issue_13_options_loads_as_it_was_made(tmp_path, still_run):
    run = open_run(still_run)
    old = dict(beam_search=0.0, fill="ring", zero_rows=False, units="pixel", n_pca=5)
    tr = FeatureTransform(**old).fit(run)
    with h5py.File(tmp_path / "t.h5", "w") as f:
        tr.save(f.create_group("features"))
        params = json.loads(f["features"].attrs["params"])
        for key in ("beam_search", "fill", "zero_rows", "units", "q_fraction"):
            del params[key]                     # as written before these options existed
        f["features"].attrs["params"] = json.dumps(params)
    with h5py.File(tmp_path / "t.h5", "r") as f:
        back = FeatureTransform.load(f["features"])
    assert (back.beam_search, back.fill, back.zero_rows, back.units) == (0.0, "ring", False,
                                                                          "pixel")
    img = run.images(slice(0, 6))
    np.testing.assert_array_equal(back.transform(img), tr.transform(img))


def test_masked_rings_equal_the_polar_features_when_whole_and_ignore_what_is_missing():
    rng = np.random.default_rng(1)
    spec = np.zeros((40, 8, 33), complex)
    spec[:, :, 1:10] = rng.normal(size=(40, 8, 9)) + 1j * rng.normal(size=(40, 8, 9))
    polar = (np.fft.irfft(spec, 64, axis=2) * 10 + 3).astype(np.float32)
    whole = masked_polar_features(polar, np.ones_like(polar), 16, unit=False)
    np.testing.assert_allclose(whole, rep.polar_features(polar, 16), atol=1e-5)
    known = np.ones_like(polar)
    known[:, :, 40:] = 0                        # 3/8 of every ring missing
    part = masked_polar_features(polar * known, known, 16, unit=False)
    filled = np.where(known > 0, polar, (polar * known).sum(2, keepdims=True) / 40)
    ring_fill = rep.polar_features(filled.astype(np.float32), 16)
    def signal(f):                              # amplitudes of the harmonics 1..9 set above
        return f[:, 8:].reshape(40, 8, 16)[:, :, :9].mean()

    # A ring-mean fill loses power in proportion to what is missing; the known pairs do not.
    assert abs(1 - signal(part) / signal(whole)) < 0.1
    assert signal(ring_fill) / signal(whole) < 0.85
    # The radial profile is the mean of what is known, as with the ring fill.
    np.testing.assert_allclose(part[:, :8], ring_fill[:, :8], rtol=1e-4, atol=1e-4)


def test_the_rings_place_water_hits_the_friedel_search_pulls_toward_the_gap(tmp_path):
    # Water rings are smooth: Friedel symmetry compares another set of pixel pairs for
    # every candidate, and the sensor's gap and hole (fixed, off the jittered beam) pull
    # it toward their own centre (median 1.2 px, 90% 3.2 px on such a run). The ring fit
    # scores every candidate on the same pixels.
    path = tmp_path / "amo06516_0095.cxi"
    simulate_run(path, hits=60, shape=128, seed=25, mix="water=1", conditions="jitter=3")
    run = open_run(path)
    true = read_truth(path).params["beam_center"] - 63.5
    assert np.hypot(*true.T).mean() > 2.5
    images = run.images(slice(None))
    err = {}
    for centre in ("rings", "friedel"):
        tr = FeatureTransform(n_pca=4, beam_search=10, centre=centre).fit(run)
        v, ok = rep.bin_images(images, tr.mask_, tr.bin_)
        off = tr.pipeline_.beam_offsets(rep.photon_scale(v, ok, "sqrt"), ok) * tr.bin_
        err[centre] = np.hypot(*(off - true).T)
    assert FeatureTransform().centre == "rings"
    assert np.median(err["rings"]) < 0.3 and np.quantile(err["rings"], 0.9) < 1.0
    assert np.quantile(err["friedel"], 0.9) > 2 * np.quantile(err["rings"], 0.9)


def test_files_saved_before_the_ring_search_load_with_friedel_first(still_run, tmp_path):
    tr = FeatureTransform(n_pca=4, centre="friedel").fit(open_run(still_run))
    with h5py.File(tmp_path / "t.h5", "w") as f:
        g = f.create_group("t")
        tr.save(g)
        params = json.loads(g.attrs["params"])
        del params["centre"]                      # as written before the option existed
        g.attrs["params"] = json.dumps(params)
        back = FeatureTransform.load(g)
    assert back.centre == "friedel"
    run = open_run(still_run)
    np.testing.assert_array_equal(back.transform(run), tr.transform(run))
    with pytest.raises(InputError, match="unknown centre"):
        FeatureTransform(centre="middle").fit(run)


def test_a_gap_masked_on_one_side_of_the_beam_keeps_the_low_q_rings(still_run, tmp_path):
    # A wider gap or a panel edge masked above the beam only: the Friedel fill restores it
    # from below, so it is no hole, and the rings must not start outside it.
    path = tmp_path / "amo06516_0096.cxi"
    path.write_bytes(still_run.read_bytes())
    with h5py.File(path, "r+") as f:
        det = f["entry_1/instrument_1/detector_1"]
        data, mask = det["data"][()], det["mask"][()]
        data[:, 56:64, :] = 0
        mask[56:64, :] |= 2                            # CXI: non-zero = bad
        det["data"][...], det["mask"][...] = data, mask
    plain = FeatureTransform(n_pca=4, units="q").fit(open_run(still_run))
    gapped = FeatureTransform(n_pca=4, units="q").fit(open_run(path))
    assert gapped.pipeline_.edges[0] == pytest.approx(plain.pipeline_.edges[0], abs=0.5)
    # the ring fill alone restores nothing: there the band is a hole of its width
    ring = FeatureTransform(n_pca=4, units="q", fill="ring").fit(open_run(path))
    assert ring.pipeline_.edges[0] > plain.pipeline_.edges[0] + 4
