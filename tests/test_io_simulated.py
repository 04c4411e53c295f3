"""Simulated SPI and SFX runs read through open_run, field by field against h5py."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import psocake_labeler as pl
from psocake_labeler.io import describe, open_run
from psocake_labeler.simulate import read_truth

DET = "/entry_1/instrument_1/detector_1"


def test_simulated_spi_run_matches_h5py(small_spi_run):
    path = small_spi_run.path
    run = open_run(path)
    with h5py.File(path, "r") as f:
        events = f["/LCLS/eventNumber"][()]
        data = f[f"{DET}/data"][()]
        good = f[f"{DET}/mask"][()] == 0  # CXI bits, 0 = good (its convention attribute)
        n_hits = f["/entry_1/result_1/nHits"][()]
        n_all = f["/entry_1/result_1/nHitsAll"][()]
        energy = f["/LCLS/photon_energy_eV"][()]
        distance = f[f"{DET}/distance"][()]
        pixel = f[f"{DET}/x_pixel_size"][()]
        detector = f[f"{DET}/description"][()].decode()
    assert len(run) == len(events) == 300
    np.testing.assert_array_equal(run.events, events)
    np.testing.assert_array_equal(run.images(), data)
    np.testing.assert_array_equal(run.image(123), data[123])
    np.testing.assert_array_equal(run.images(np.array([299, 0, 150])), data[[299, 0, 150]])
    assert run.image_shape == data.shape[1:] == (64, 64)
    np.testing.assert_array_equal(run.mask, good)
    assert 0 < run.mask.mean() < 1  # gap, hole, dead and hot pixels are masked
    md = run.metadata
    assert (md["kind"], md["experiment"], md["run"], md["detector"]) == \
        ("spi", "amo06516", 93, detector)
    assert md["photon_energy_eV"] == pytest.approx(float(np.median(energy)))
    assert md["distance_m"] == pytest.approx(float(distance))
    assert md["pixel_size_m"] == pytest.approx(float(pixel))
    np.testing.assert_array_equal(run.info["lit_pixels"], n_hits)
    assert run.info["n_events"] == len(n_all)
    assert run.info["n_processed"] == int((n_all >= 0).sum())
    table = run.event_table()
    assert set(table["source"]) == {str(path)} and (table["run"] == 93).all()
    np.testing.assert_array_equal(table["event"], events)
    truth = read_truth(small_spi_run.truth_path)
    np.testing.assert_array_equal(truth.events, run.events)
    with h5py.File(small_spi_run.truth_path) as f:
        center = json.loads(f.attrs["settings"])["beam_center"]
    assert run.center == pytest.approx(tuple(center))


def test_simulated_sfx_run_matches_h5py(small_sfx_run):
    master = small_sfx_run.path
    run = open_run(master)
    ranks = sorted(master.parent.glob(f"{master.stem}_*.cxi"),
                   key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    assert len(ranks) >= 2
    events, images, sources = [], [], []
    for p in ranks:
        with h5py.File(p, "r") as f:
            ev = f["/LCLS/eventNumber"][()]
            events.append(ev)
            images.append(f["/entry_1/data_1/data"][()])
            sources += [str(p)] * len(ev)
    events, images = np.concatenate(events), np.concatenate(images)
    with h5py.File(master, "r") as f:
        mask = f["/entry_1/data_1/mask"]
        assert "1 = good" in mask.attrs["convention"]
        good = mask[()] != 0
        n_all = f["/entry_1/result_1/nPeaksAll"][()]
    assert len(run) == len(events) == 60
    np.testing.assert_array_equal(run.events, events)
    np.testing.assert_array_equal(run.images(), images)
    np.testing.assert_array_equal(run.images(slice(None, None, 7)), images[::7])
    np.testing.assert_array_equal(run.mask, good)
    assert 0 < run.mask.mean() < 1
    table = run.event_table()
    assert list(table["source"]) == sources
    assert (table["run"] == 10).all()
    md = run.metadata
    assert (md["kind"], md["experiment"], md["run"]) == ("sfx", "cxitut13", 10)
    assert md["detector"] == "pnccdFront"
    assert run.info["n_events"] == len(n_all)
    # Rows are in rank order; the truth (event order) maps onto them by event number.
    truth = read_truth(small_sfx_run.truth_path)
    assert sorted(truth.events) == sorted(run.events)
    # A single per-rank file opens on its own.
    one = open_run(ranks[1])
    with h5py.File(ranks[1]) as f:
        np.testing.assert_array_equal(one.events, f["/LCLS/eventNumber"][()])
        np.testing.assert_array_equal(one.images(), f["/entry_1/data_1/data"][()])


def test_simulated_runs_as_a_list_and_folder(small_spi_run, second_spi_run):
    both = open_run([small_spi_run.path, second_spi_run.path])
    assert len(both) == 500
    t = both.event_table()
    assert list(np.unique(t["run"])) == [93, 94]
    np.testing.assert_array_equal(both.image(300), open_run(second_spi_run.path).image(0))
    # the folder holds the run and its .truth.h5: only the run is opened
    alone = open_run(small_spi_run.path.parent)
    assert len(alone) == 300 and not isinstance(alone, pl.io.RunSet)


def test_describe_simulated_files(small_spi_run, small_sfx_run):
    text = describe(small_spi_run.path)
    assert "Psocake SPI hits file" in text and "experiment amo06516, run 93" in text
    assert "300 hits" in text and "Images: present, 300 x 64 x 64" in text
    assert "NaN/inf pixels: none" in text
    text = describe(small_sfx_run.path)
    assert "SFX peak-finder master file gathering" in text and "60 hits" in text
    text = describe(small_spi_run.truth_path)
    assert "simulation ground truth" in text and "300 hits" in text
