"""The simulator: layouts, ground truth, determinism, class mix, CLI (physics: its own file)."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from psocake_labeler.cli import main
from psocake_labeler.errors import InputError, LayoutError, MissingFileError
from psocake_labeler.simulate import (
    DEFAULT_CLASSES,
    parse_mix,
    read_truth,
    simulate_run,
)
from psocake_labeler.simulate.detector import (
    MASK_DEAD,
    MASK_HOT,
    MASK_INVALID,
    Detector,
)

KIND_LABEL = {"single": 0, "multiple": 1, "water": 2, "nonhit": 2}


# ---------------------------------------------------------------- SPI layout and truth

def test_spi_layout_datasets_shapes_dtypes(small_spi_run):
    sim = small_spi_run
    n = len(sim.labels)
    with h5py.File(sim.path, "r") as f:
        assert f["status/findHits"].asstr()[()] == "success"
        assert "exp=amo06516:run=93" in f["psana/input"].asstr()[()]
        all_ = f["entry_1/result_1/nHitsAll"][()]
        nhits = f["entry_1/result_1/nHits"][()]
        assert f["entry_1/result_1/nHits"].attrs["numEvents"] == n == 300
        ev = f["LCLS/eventNumber"][()]
        assert ev.dtype.kind == "i" and len(ev) == n and np.all(np.diff(ev) > 0)
        np.testing.assert_array_equal(f["entry_1/experimental_identifier"][()], ev)
        for name in ("machineTime", "machineTimeNanoSeconds", "fiducial", "photon_energy_eV"):
            assert f["LCLS"][name].shape == (n,), name
        assert np.all(np.diff(f["LCLS/machineTime"][()]) >= 0)
        # nHitsAll: one per event of the run, -1 where not processed, hits are its rows.
        assert len(all_) > n and ev.max() < len(all_)
        assert (all_ == -1).any()
        np.testing.assert_array_equal(all_[ev], nhits)
        others = np.setdiff1d(np.flatnonzero(all_ >= 0), ev)
        assert len(others) and all_[others].max() < nhits.min()
        det = f["entry_1/instrument_1/detector_1"]
        data = det["data"]
        assert data.shape == (n, 64, 64) and data.dtype == np.float32
        assert data.chunks == (1, 64, 64)
        link = f.get("entry_1/data_1/data", getlink=True)
        assert isinstance(link, h5py.SoftLink)
        assert link.path == "/entry_1/instrument_1/detector_1/data"
        np.testing.assert_array_equal(f["entry_1/data_1/data"][5], data[5])
        assert det["distance"][()] == pytest.approx(0.130 * 64 / 1024)
        assert det["x_pixel_size"][()] == det["y_pixel_size"][()] == pytest.approx(75e-6)
        assert det["description"].asstr()[()] == "pnccdFront"
        assert det["mask"].dtype == np.uint16 and det["mask"].shape == (64, 64)
        assert "schema" not in f.attrs  # Psocake's files have none


def test_truth_file_matches_run(small_spi_run):
    sim = small_spi_run
    truth = read_truth(sim.truth_path)
    assert sim.truth_path.name == "amo06516_0093.truth.h5"
    assert truth.class_names == DEFAULT_CLASSES
    np.testing.assert_array_equal(truth.labels, sim.labels)
    with h5py.File(sim.path, "r") as f:
        np.testing.assert_array_equal(truth.events, f["LCLS/eventNumber"][()])
    np.testing.assert_array_equal(truth.labels, [KIND_LABEL[k] for k in truth.kinds])
    # read_truth also accepts the run file itself
    np.testing.assert_array_equal(read_truth(sim.path).events, truth.events)


def test_read_truth_bad_input(tmp_path, small_spi_run):
    with pytest.raises(MissingFileError, match="ground-truth file not found"):
        read_truth(tmp_path / "nothing.cxi")
    bad = tmp_path / "x.truth.h5"
    h5py.File(bad, "w").close()
    with pytest.raises(LayoutError, match="not a simulation ground-truth file"):
        read_truth(bad)


def test_default_class_proportions(small_spi_run):
    kinds = read_truth(small_spi_run.truth_path).kinds
    counts = {k: int((kinds == k).sum()) for k in ("single", "multiple", "water", "nonhit")}
    assert counts == {"single": 90, "multiple": 45, "water": 135, "nonhit": 30}


def test_custom_mix_proportions_and_parsing(tmp_path):
    sim = simulate_run(tmp_path / "mix.cxi", hits=40, shape=16, seed=4,
                       mix="single=1,water=3")
    assert (sim.kinds == "single").sum() == 10 and (sim.kinds == "water").sum() == 30
    assert parse_mix({"nonhit": 2, "multiple": 2}) == {
        "single": 0.0, "multiple": 0.5, "water": 0.0, "nonhit": 0.5, "unknown": 0.0}
    for bad in ("single", "single=-1", "single=0", "foo=1", "single=abc"):
        with pytest.raises(InputError):
            parse_mix(bad)


def test_bad_arguments_raise_input_error(tmp_path):
    for kwargs in ({"hits": 0}, {"hits": -3}, {"hits": 2.5}, {"shape": 4},
                   {"layout": "tiles"}, {"experiment": "a b"}):
        args = {"hits": 5, "shape": 16, **kwargs}
        with pytest.raises(InputError):
            simulate_run(tmp_path / "bad.cxi", **args)
    assert not (tmp_path / "bad.cxi").exists()


# ---------------------------------------------------------------- determinism

def _content(sim):
    with h5py.File(sim.path, "r") as f:
        return f["entry_1/data_1/data"][()], f["entry_1/result_1/nHitsAll"][()]


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    a = simulate_run(tmp_path / "a" / "r.cxi", hits=40, shape=32, seed=11)
    b = simulate_run(tmp_path / "b" / "r.cxi", hits=40, shape=32, seed=11)
    c = simulate_run(tmp_path / "c" / "r.cxi", hits=40, shape=32, seed=12)
    (da, aa), (db, ab), (dc, ac) = _content(a), _content(b), _content(c)
    np.testing.assert_array_equal(da, db)
    np.testing.assert_array_equal(aa, ab)
    np.testing.assert_array_equal(a.kinds, b.kinds)
    assert not np.array_equal(a.events, c.events) or not np.array_equal(da, dc)
    assert not np.array_equal(aa, ac)


def test_worker_processes_give_the_same_run(tmp_path):
    """Hits are computed in blocks by 2 processes, written in order: same bytes as 1."""
    one = simulate_run(tmp_path / "one" / "r.cxi", hits=70, shape=32, seed=5, workers=1)
    two = simulate_run(tmp_path / "two" / "r.cxi", hits=70, shape=32, seed=5, workers=2)
    (d1, a1), (d2, a2) = _content(one), _content(two)
    np.testing.assert_array_equal(d1, d2)
    np.testing.assert_array_equal(a1, a2)
    t1, t2 = read_truth(one.truth_path), read_truth(two.truth_path)
    for key in t1.params:
        np.testing.assert_array_equal(t1.params[key], t2.params[key])


# ---------------------------------------------------------------- detector and noise

def test_gap_hole_dead_hot_pixels(small_spi_run):
    truth = read_truth(small_spi_run.truth_path)
    cy, cx = truth.attrs["beam_center"]
    assert (cy, cx) == (31.5, 31.5)
    with h5py.File(small_spi_run.path, "r") as f:
        mask = f["entry_1/instrument_1/detector_1/mask"][()]
        data = f["entry_1/data_1/data"][:50]
    invalid = mask & MASK_INVALID > 0
    # The gap between the halves is horizontal, through the centre, across the whole width.
    assert invalid[31].all() and invalid[32].all()
    assert not invalid[20].all() and not invalid[45].all()
    assert invalid[31, 31] and invalid[32, 32]
    assert np.all(data[:, invalid] == 0)
    dead, hot = mask & MASK_DEAD > 0, mask & MASK_HOT > 0
    assert dead.any() and hot.any() and not (dead & hot).any()
    assert np.all(data[:, dead] == 0)
    assert data[:, hot].min() > 1000  # hot pixels shine in every frame


def test_photon_counts_and_gain(small_spi_run):
    truth = read_truth(small_spi_run.truth_path)
    gain = truth.attrs["gain_adu_per_photon"]
    hit = truth.kinds != "nonhit"
    photons = truth.params["photons"]
    assert photons[hit].min() >= 1e3 and photons[hit].max() <= 1e5
    assert np.all(photons[~hit] == 0)
    detected = truth.params["detected_photons"]
    expected = photons + truth.params["background_photons"]
    # Poisson: within 5 sigma of the expected number.
    assert np.all(np.abs(detected - expected) < 5 * np.sqrt(expected) + 5)
    with h5py.File(small_spi_run.path, "r") as f:
        good = f["entry_1/instrument_1/detector_1/mask"][()] == 0
        data = f["entry_1/data_1/data"][:100]
    # ADU sum / gain recovers the photons (minus the few on dead and hot pixels).
    ratio = data[:, good].sum(axis=1) / gain / detected[:100]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.03)
    # Read noise: an empty good pixel reads Gaussian noise of ~0.6 ADU, well below a photon.
    far = data[truth.kinds[:100] == "nonhit"][:, good]
    noise = far[np.abs(far) < 0.5 * gain]
    assert 0.4 < noise.std() < 0.8


# ---------------------------------------------------------------- physics

def test_sfx_layout(small_sfx_run):
    sim = small_sfx_run
    truth = read_truth(sim.truth_path)
    folder = sim.path.parent
    assert sim.path.name == "cxitut13_0010.cxi"
    ranks = sorted(folder.glob("cxitut13_0010_*.cxi"))
    assert [p.name for p in ranks] == ["cxitut13_0010_0.cxi", "cxitut13_0010_1.cxi"]
    events, npeaks = [], []
    for p in ranks:
        with h5py.File(p, "r") as f:
            ev = f["LCLS/eventNumber"][()]
            n = len(ev)
            data = f["entry_1/data_1/data"]
            assert data.shape == (n, 64, 64) and data.dtype == np.float32
            res = f["entry_1/result_1"]
            assert res["nPeaks"].shape == (n,)
            assert f["LCLS/detector_1/EncoderValue"].shape == (n,)
            assert f["LCLS/detector_1/EncoderValue"][0] == pytest.approx(130 * 64 / 1024)
            for name in ("peakXPosRaw", "peakYPosRaw", "peakTotalIntensity"):
                assert res[name].shape == (n, 2048)
            k = int(np.argmax(res["nPeaks"][()]))
            m = res["nPeaks"][k]
            assert m > 0
            x = res["peakXPosRaw"][k, :m].astype(int)
            y = res["peakYPosRaw"][k, :m].astype(int)
            np.testing.assert_array_equal(res["peakTotalIntensity"][k, :m], data[k][y, x])
            assert np.all(res["peakTotalIntensity"][k, m:] == 0)
            events.append(ev)
            npeaks.append(res["nPeaks"][()])
    events, npeaks = np.concatenate(events), np.concatenate(npeaks)
    order = np.argsort(events)
    np.testing.assert_array_equal(events[order], truth.events)
    assert len(truth.events) == 60
    with h5py.File(sim.path, "r") as f:
        all_ = f["entry_1/result_1/nPeaksAll"][()]
        np.testing.assert_array_equal(all_[events], npeaks)
        assert (all_ == -1).any()
        g = f["entry_1/data_1"]
        for name in ("powderHits", "powderMisses", "mask"):
            assert g[name].shape == (64, 64), name
        assert g["powderHits"][()].max() > g["powderMisses"][()][g["mask"][()] == 1].max()
        assert set(np.unique(g["mask"][()])) == {0, 1}


def test_sfx_master_name_must_match_experiment_and_run(tmp_path):
    with pytest.raises(InputError, match="must be named cxitut13_0010.cxi"):
        simulate_run(tmp_path / "out.cxi", hits=4, shape=16, layout="sfx",
                     experiment="cxitut13", run=10)
    sim = simulate_run(tmp_path / "cxitut13_0010_v2.cxi", hits=4, shape=16, layout="sfx",
                       experiment="cxitut13", run=10)
    assert [p.name for p in sim.rank_paths] == ["cxitut13_0010_0_v2.cxi",
                                                "cxitut13_0010_1_v2.cxi"]
    assert all(p.exists() for p in sim.rank_paths)


# ---------------------------------------------------------------- CLI

def test_cli_simulate_writes_and_reports(tmp_path, capsys):
    out = tmp_path / "amo06516_0095.cxi"
    rc = main(["simulate", str(out), "--hits", "12", "--shape", "32", "--seed", "3",
               "--mix", "single=0.5,water=0.5", "--run", "95", "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert str(out) in text and "amo06516_0095.truth.h5" in text and "6 single" in text
    assert out.exists() and (tmp_path / "amo06516_0095.truth.h5").exists()


@pytest.mark.parametrize("extra, message", [
    (["--hits", "-4"], "--hits must be a positive integer"),
    (["--hits", "many"], "--hits must be an integer"),
    (["--hits", "5", "--mix", "single=0.3,bogus=1"], "unknown kind(s) bogus"),
    (["--hits", "5", "--mix", "single=lots"], "is not a number"),
    (["--hits", "5", "--layout", "tiles"], "layout must be"),
    (["--hits", "5", "--shape", "2x"], "--shape must be N or HxW (e.g. 256 or 128x256)"),
    (["--hits", "5", "--out-under-a-file"], "cannot write there"),
])
def test_cli_bad_arguments_exit_2_one_line(tmp_path, capsys, extra, message):
    out = tmp_path / "x.cxi"
    if "--out-under-a-file" in extra:
        extra = [a for a in extra if a != "--out-under-a-file"]
        (tmp_path / "plain.txt").write_text("not a folder")
        out = tmp_path / "plain.txt" / "x.cxi"
    rc = main(["simulate", str(out), "--quiet", *extra])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "x.cxi").exists()


def test_simulate_never_replaces_a_label_or_manifold_file(tmp_path, capsys):
    import hashlib

    from psocake_labeler.io.atomic import atomic_h5

    for schema in ("psocake-labeler/labels", "psocake-labeler/manifold"):
        target = tmp_path / "work.h5"
        with atomic_h5(target, schema, 1) as f:
            f["labels"] = np.zeros(3)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        rc = main(["simulate", str(target), "--hits", "3", "--shape", "16", "--quiet"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1 and str(target) in err, err
        assert hashlib.sha256(target.read_bytes()).hexdigest() == digest


# ---------------------------------------------------------------- beamtime conditions

def test_conditions_jitter_halves_photons_geometry_and_five_classes(tmp_path):
    from psocake_labeler.simulate import FIVE_CLASSES, parse_conditions

    sim = simulate_run(tmp_path / "hard.cxi", hits=40, shape=64, seed=3,
                       mix="single=1,water=1,nonhit=1,multiple=1,unknown=1",
                       conditions="jitter=3,clipped=0.5,dead_half=bottom,photons=100-300,"
                                  "distance=0.02,pixel=1e-4")
    truth = read_truth(sim.truth_path)
    assert truth.class_names == FIVE_CLASSES
    assert np.bincount(truth.labels).tolist() == [8] * 5
    centre = truth.params["beam_center"]
    off = centre - 31.5
    assert off.shape == (40, 2) and 1.5 < off.std() < 5
    types = truth.params["unknown_type"]
    unknown = truth.kinds == "unknown"
    assert set(types[unknown]) <= {1, 2} and not types[~unknown].any()
    clipped = truth.params["clipped"]
    assert 5 < (clipped > 0).sum() < 35
    hits = truth.kinds != "nonhit"
    assert truth.params["photons"][hits].max() <= 3 * 3 * 300 * 1.06
    with h5py.File(sim.path, "r") as f:
        det = f["entry_1/instrument_1/detector_1"]
        data = det["data"][()]
        assert det["distance"][()] == 0.02 and det["x_pixel_size"][()] == 1e-4
        assert (det["mask"][()][40:] == 0).mean() > 0.95   # the dead half is not in the mask
    assert not data[:, 34:].any()                # bottom half dead in every image
    top = data[clipped == 1, :30]
    assert not top.any() and data[clipped == 0, :30].std(axis=(1, 2)).min() > 0
    # A hit's scattering is centred on its own beam centre; the sensor does not move.
    det = Detector((64, 64))
    moved = det.shifted((2.0, -3.0))
    np.testing.assert_array_equal(moved.active, det.active)
    r, c = np.unravel_index(np.argmin(moved.q_abs_pixel), moved.shape)
    assert (r, c) in {(33, 28), (34, 28), (33, 29), (34, 29)}
    assert moved.beam_center == (33.5, 28.5)
    for bad in ("jitter=-1", "photons=5-1", "dead_half=left", "clipped=2", "colour=1",
                "distance=abc"):
        with pytest.raises(InputError):
            parse_conditions(bad)
