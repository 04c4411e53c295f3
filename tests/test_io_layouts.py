"""Small HDF5 files in Psocake's layouts (PSOCAKE.md), built with h5py, and their reading.

The builders here are imported by the other test_io_* modules and test_info_cli.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import psocake_labeler as pl
from psocake_labeler.io import open_run

DET = "/entry_1/instrument_1/detector_1"


def write_spi(path: Path, hits: int = 12, shape=(16, 20), images: str | None = "data",
              events_in_run: int = 50, seed: int = 0, mask: bool = True,
              num_events_attr: bool = True, experiment_id: bool = True) -> dict:
    """An SPI hits file as "Launch hit finder" + "Save hits" write it; returns what it holds.

    ``images``: "data" (--saveADU, with the data_1/data soft link), "link-only",
    "photons" (--savePhot), or None (the GUI's "Save hits": no images).
    """
    rng = np.random.default_rng(seed)
    events = np.sort(rng.choice(events_in_run, hits, replace=False)).astype(np.int64)
    all_hits = rng.integers(0, 100, events_in_run)
    all_hits[-3:] = -1  # not processed
    lit = all_hits[events]
    imgs = rng.random((hits,) + tuple(shape), dtype=np.float32) * 100
    m = np.zeros(shape, dtype=np.int16)
    m[0, :] = 1  # CXI convention: non-zero = bad
    with h5py.File(path, "w") as f:
        f["/entry_1/result_1/nHitsAll"] = all_hits
        f["/psana/input"] = "exp=amo06516:run=93:idx det=pnccdFront"
        f["/status/findHits"] = "success"
        f["/entry_1/result_1/nHits"] = lit
        if num_events_attr:
            f["/entry_1/result_1/nHits"].attrs["numEvents"] = hits
        f["/LCLS/eventNumber"] = events
        if experiment_id:
            f["/entry_1/experimental_identifier"] = events
        f["/LCLS/machineTime"] = np.arange(hits, dtype=np.int64) + 1_500_000_000
        f["/LCLS/photon_energy_eV"] = np.full(hits, 1600.0)
        f[f"{DET}/distance"] = 0.13
        f[f"{DET}/x_pixel_size"] = 75e-6
        f[f"{DET}/y_pixel_size"] = 75e-6
        f[f"{DET}/description"] = "pnccdFront"
        if mask:
            f[f"{DET}/mask"] = m
        if images in ("data", "link-only"):
            name = f"{DET}/data" if images == "data" else "/entry_1/data_1/data"
            f.create_dataset(name, data=imgs, chunks=(1,) + tuple(shape) if hits else None)
            if images == "data":
                f.require_group("/entry_1/data_1")
                f["/entry_1/data_1/data"] = h5py.SoftLink(f"{DET}/data")
        elif images == "photons":
            f[f"{DET}/photons"] = np.round(imgs).astype(np.int32)
    return {"events": events, "images": imgs, "lit": lit, "all": all_hits,
            "good": m == 0}


def write_sfx(folder: Path, experiment="cxitut13", run=10, ranks=(0, 1, 2), hits=(4, 0, 3),
              shape=(12, 18), tag: str | None = None, seed: int = 0,
              master: bool = True) -> dict:
    """Per-rank peak-finder files and the master, as findPeaksTurbo writes them."""
    rng = np.random.default_rng(seed)
    suffix = f"_{tag}" if tag else ""
    parts = {}
    m = np.zeros(shape, dtype=np.int8)
    m[:, 0] = 1
    for rank, n in zip(ranks, hits):
        p = folder / f"{experiment}_{run:04d}_{rank}{suffix}.cxi"
        ev = np.sort(rng.choice(np.arange(rank, 400, len(ranks)), n, replace=False))
        imgs = rng.random((n,) + tuple(shape), dtype=np.float32)
        with h5py.File(p, "w") as f:
            f["/LCLS/eventNumber"] = ev.astype(np.int64)
            f["/LCLS/eventNumber"].attrs["numEvents"] = 133  # events of the rank, not hits
            f["/entry_1/data_1/data"] = imgs
            f["/entry_1/data_1/mask"] = m
            f["/entry_1/result_1/nPeaks"] = rng.integers(15, 60, n)
            f["/entry_1/result_1/peakXPosRaw"] = np.zeros((n, 2048), np.float32)
            f["/LCLS/photon_energy_eV"] = np.full(n, 9500.0)
            f["/LCLS/detector_1/EncoderValue"] = np.full(n, 120.5)
            f["/status/findPeaks"] = "success"
        parts[rank] = (p, ev, imgs)
    mp = folder / f"{experiment}_{run:04d}{suffix}.cxi"
    if master:
        with h5py.File(mp, "w") as f:
            f["/entry_1/result_1/nPeaksAll"] = np.full(400, 3)
            f["/entry_1/data_1/powderHits"] = np.zeros(shape, np.float32)
            f["/entry_1/data_1/powderMisses"] = np.zeros(shape, np.float32)
            f["/entry_1/data_1/mask"] = m
    ordered = [parts[r] for r in sorted(parts)]
    return {"master": mp, "parts": ordered, "good": m == 0,
            "events": np.concatenate([ev for _, ev, _ in ordered]),
            "images": np.concatenate([im for _, _, im in ordered])}


def write_litpixels(path: Path, events: int = 30, with_mask: bool = True) -> dict:
    """A litPixels file: /litPixels/hitMetric (+ attrs), event, eventTime, fiducials."""
    metric = np.arange(events, dtype=np.float64) * 2.5
    with h5py.File(path, "w") as f:
        g = f.create_group("litPixels")
        g["hitMetric"] = metric
        g["hitMetric"].attrs["numEvents"] = events
        g["hitMetric"].attrs["photonEnergy"] = 1600.0
        g["hitMetric"].attrs["exprun"] = "exp=amo06516:run=93"
        g["hitMetric"].attrs["detectorName"] = "pnccdFront"
        g["event"] = np.arange(events, dtype=np.int64)
        g["eventTime"] = np.arange(events, dtype=np.int64)
        g["fiducials"] = np.arange(events, dtype=np.int64) * 3
        if with_mask:
            mk = np.ones((8, 8), dtype=np.int16)
            mk[2, 3] = 0  # psana convention: 0 = bad
            g["pnccdFront/mask"] = mk
    return {"metric": metric, "events": np.arange(events)}


# ---------------------------------------------------------------------------------------
def test_spi_fields_match_h5py(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    truth = write_spi(p)
    run = open_run(p)
    assert isinstance(run, pl.Run)
    with h5py.File(p) as f:
        events = f["/LCLS/eventNumber"][()]
        data = f[f"{DET}/data"][()]
        good = f[f"{DET}/mask"][()] == 0
    assert len(run) == len(events) == 12
    np.testing.assert_array_equal(run.events, events)
    assert run.events.dtype == np.int64
    assert run.image_shape == (16, 20) and run.has_images
    np.testing.assert_array_equal(run.image(3), data[3])
    assert run.image(3).dtype == np.float32
    np.testing.assert_array_equal(run.image(-1), data[-1])
    np.testing.assert_array_equal(run.images(slice(2, 9, 3)), data[2:9:3])
    np.testing.assert_array_equal(run.images([7, 1, 7]), data[[7, 1, 7]])
    sel = np.zeros(12, bool)
    sel[[0, 5]] = True
    np.testing.assert_array_equal(run.images(sel), data[[0, 5]])
    np.testing.assert_array_equal(run.mask, good)
    assert run.mask.dtype == bool and not run.mask[0].any() and run.mask[1:].all()
    assert run.center == (7.5, 9.5)
    md = run.metadata
    assert md["kind"] == "spi" and md["experiment"] == "amo06516" and md["run"] == 93
    assert md["detector"] == "pnccdFront"
    assert md["photon_energy_eV"] == pytest.approx(1600.0)
    assert md["distance_m"] == pytest.approx(0.13)
    assert md["pixel_size_m"] == pytest.approx(75e-6)
    table = run.event_table()
    assert table.dtype == pl.io.EVENT_DTYPE
    assert list(table["source"]) == [str(p)] * 12
    assert (table["run"] == 93).all()
    np.testing.assert_array_equal(table["event"], events)
    assert run.info["n_events"] == 50 and run.info["n_processed"] == 47
    np.testing.assert_array_equal(run.info["lit_pixels"], truth["lit"])
    with pytest.raises(IndexError):
        run.image(12)
    with pytest.raises(IndexError):
        run.images([0, 40])
    run.close()


@pytest.mark.parametrize("images", ["link-only", "photons"])
def test_spi_other_image_datasets(tmp_path, images):
    p = tmp_path / "amo06516_0094.cxi"
    truth = write_spi(p, images=images, hits=5)
    run = open_run(p)
    expected = truth["images"] if images == "link-only" else np.round(truth["images"])
    np.testing.assert_allclose(run.images(), expected)
    assert run.images().dtype == np.float32
    assert run.info["images_dataset"].endswith("data" if images == "link-only" else "photons")


def test_chunked_reads_never_load_the_whole_run(tmp_path):
    # 10^5 hits of 1024 x 1024 float32 = 400 GB if read whole; the chunks are never
    # written, so the file is tiny and only requested rows can be read in a test.
    p = tmp_path / "amo06516_0095.cxi"
    n = 100_000
    with h5py.File(p, "w") as f:
        f["/entry_1/result_1/nHits"] = np.ones(n, np.int32)
        f["/LCLS/eventNumber"] = np.arange(n, dtype=np.int64) * 2
        ds = f.create_dataset(f"{DET}/data", shape=(n, 1024, 1024), dtype=np.float32,
                              chunks=(1, 1024, 1024), fillvalue=np.nan)
        ds[77_777] = 5.0
    assert p.stat().st_size < 50_000_000
    run = open_run(p)
    assert len(run) == n and run.image_shape == (1024, 1024)
    block = run.images(slice(77_776, 77_779))
    assert block.shape == (3, 1024, 1024)
    assert np.isnan(block[0]).all() and (block[1] == 5).all()
    assert (run.images([77_777, 3])[0] == 5).all()
    assert run.events[77_777] == 155_554
    first = next(run.iter_images(block=2))
    assert first[0] == 0 and first[1].shape == (2, 1024, 1024)
    assert run.bad_pixel_mask([0, 77_777]).reshape(2, -1).all(axis=1).tolist() == [True, False]


def test_list_of_runs_carries_source_run_event(tmp_path):
    a, b = tmp_path / "amo06516_0093.cxi", tmp_path / "amo06516_0097.cxi"
    ta, tb = write_spi(a, hits=6, seed=1), write_spi(b, hits=4, seed=2)
    with h5py.File(b, "a") as f:  # one mask pixel differs between the runs
        f[f"{DET}/mask"][5, 5] = 1
    runs = open_run([a, b])
    assert isinstance(runs, pl.Run) and isinstance(runs, pl.io.RunSet)
    assert len(runs) == 10
    t = runs.event_table()
    assert list(t["source"]) == [str(a)] * 6 + [str(b)] * 4
    assert list(t["run"]) == [93] * 6 + [97] * 4
    np.testing.assert_array_equal(t["event"], np.concatenate([ta["events"], tb["events"]]))
    np.testing.assert_array_equal(runs.events, t["event"])
    np.testing.assert_array_equal(runs.images([7, 2, 9]),
                                  np.stack([tb["images"][1], ta["images"][2],
                                            tb["images"][3]]))
    assert runs.metadata["experiment"] == "amo06516" and runs.metadata["runs"] == [93, 97]
    assert runs.metadata["run"] is None
    assert runs.mask[0].sum() == 0 and not runs.mask[5, 5] and runs.mask[5, 6]


def test_list_of_runs_with_different_shapes_is_refused(tmp_path):
    a, b = tmp_path / "amo06516_0093.cxi", tmp_path / "amo06516_0094.cxi"
    write_spi(a, shape=(8, 8))
    write_spi(b, shape=(8, 9))
    with pytest.raises(pl.LayoutError, match="different image shapes"):
        open_run([a, b])


def test_run_folder_and_glob(tmp_path):
    folder = tmp_path / "r0093"
    folder.mkdir()
    truth = write_spi(folder / "amo06516_0093.cxi", hits=7)
    write_litpixels(folder / "amo06516_93.h5")  # skipped: the folder has images
    (folder / "notes.txt").write_text("not a run")
    with h5py.File(folder / "labels.h5", "w") as f:
        f.attrs["schema"] = "psocake-labeler/labels"
    run = open_run(folder)
    assert len(run) == 7 and run.metadata["kind"] == "spi"
    np.testing.assert_array_equal(run.events, truth["events"])
    run2 = open_run(str(folder / "*.cxi"))
    np.testing.assert_array_equal(run2.events, truth["events"])
    with pytest.raises(pl.MissingFileError, match="no file matches"):
        open_run(str(folder / "*.nothing"))
    empty = tmp_path / "r0001"
    empty.mkdir()
    with pytest.raises(pl.LayoutError, match="holds no Psocake run file"):
        open_run(empty)


def test_sfx_master_gathers_rank_files(tmp_path):
    truth = write_sfx(tmp_path, ranks=(2, 0, 10, 1), hits=(3, 2, 1, 0))
    run = open_run(truth["master"])
    assert len(run) == 6 and run.metadata["kind"] == "sfx"
    np.testing.assert_array_equal(run.events, truth["events"])
    np.testing.assert_array_equal(run.images(), truth["images"])
    t = run.event_table()
    # rank order 0, 1, 2, 10 (numeric, not by name)
    names = [Path(s).name for s in t["source"]]
    assert names == ["cxitut13_0010_0.cxi"] * 2 + ["cxitut13_0010_2.cxi"] * 3 + \
        ["cxitut13_0010_10.cxi"]
    assert (t["run"] == 10).all() and run.metadata["experiment"] == "cxitut13"
    np.testing.assert_array_equal(run.mask, truth["good"])
    assert run.metadata["photon_energy_eV"] == pytest.approx(9500.0)
    assert run.metadata["clen_mm"] == pytest.approx(120.5)
    assert run.info["n_events"] == 400
    # a folder with master + ranks opens the run once
    assert len(open_run(tmp_path)) == 6


def test_sfx_single_rank_file_and_tags(tmp_path):
    truth = write_sfx(tmp_path, tag="v2", hits=(2, 3, 1))
    rank1, ev1, im1 = truth["parts"][1]
    run = open_run(rank1)
    np.testing.assert_array_equal(run.events, ev1)
    np.testing.assert_array_equal(run.images(), im1)
    assert run.metadata["run"] == 10
    assert len(open_run(truth["master"])) == 6
    # an untagged master next to tagged ranks does not gather them
    with h5py.File(tmp_path / "cxitut13_0010.cxi", "w") as f:
        f["/entry_1/result_1/nPeaksAll"] = np.zeros(5)
    with pytest.raises(pl.LayoutError, match="per-rank files"):
        open_run(tmp_path / "cxitut13_0010.cxi")


def test_litpixels_opens_without_images(tmp_path):
    p = tmp_path / "amo06516_93.h5"
    truth = write_litpixels(p)
    run = open_run(p)
    assert len(run) == 30 and not run.has_images and run.image_shape is None
    np.testing.assert_array_equal(run.events, truth["events"])
    md = run.metadata
    assert (md["kind"], md["experiment"], md["run"], md["detector"]) == \
        ("litpixels", "amo06516", 93, "pnccdFront")
    assert md["photon_energy_eV"] == 1600.0
    assert run.mask.shape == (8, 8) and not run.mask[2, 3] and run.mask.sum() == 63
    np.testing.assert_array_equal(run.info["hit_metric"], truth["metric"])
    assert run.center is None
    with pytest.raises(pl.NoImagesError) as err:
        run.images(slice(0, 2))
    msg = str(err.value)
    assert str(p) in msg and "litPixels" in msg and "no images" in msg
    assert len(run.event_table()) == 30


def test_folder_skips_stray_broken_files_but_not_broken_runs(tmp_path):
    folder = tmp_path / "r0093"
    folder.mkdir()
    write_spi(folder / "amo06516_0093.cxi", hits=3)
    (folder / "scratch.h5").write_bytes(b"")  # not named like a run: skipped
    assert len(open_run(folder)) == 3
    (folder / "amo06516_0093_2.cxi").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(pl.NotHDF5Error, match="amo06516_0093_2.cxi"):
        open_run(folder)


def test_event_table_sources_are_absolute(tmp_path, monkeypatch):
    # A manifold built from a relative path must find its run again from another folder.
    write_spi(tmp_path / "amo06516_0093.cxi", hits=5)
    monkeypatch.chdir(tmp_path)
    table = open_run("amo06516_0093.cxi").event_table()
    assert set(table["source"]) == {str(tmp_path / "amo06516_0093.cxi")}
