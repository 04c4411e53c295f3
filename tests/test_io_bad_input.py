"""Bad input through the API: each raises a specific InputError naming file and dataset."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from test_io_layouts import DET, write_litpixels, write_spi

import psocake_labeler as pl
from psocake_labeler.io import describe, inspect_file, open_run


def test_missing_file(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    with pytest.raises(pl.MissingFileError) as err:
        open_run(p)
    assert str(p) in str(err.value) and "no such file" in str(err.value)
    assert isinstance(err.value, pl.InputError) and isinstance(err.value, FileNotFoundError)


def test_empty_file(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    p.write_bytes(b"")
    with pytest.raises(pl.NotHDF5Error, match=r"empty \(0 bytes\)") as err:
        open_run(p)
    assert str(p) in str(err.value)


def test_not_hdf5(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    p.write_text("event,label\n1,Single\n")
    with pytest.raises(pl.NotHDF5Error, match="not an HDF5 file") as err:
        open_run(p)
    assert str(p) in str(err.value)


def test_truncated_hdf5(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    write_spi(p, hits=40, shape=(32, 32))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(pl.NotHDF5Error, match="truncated") as err:
        open_run(p)
    assert str(p) in str(err.value)
    with pytest.raises(pl.NotHDF5Error, match="truncated"):
        describe(p)


def test_wrong_layout(tmp_path):
    p = tmp_path / "something.h5"
    with h5py.File(p, "w") as f:
        f["/images/stack"] = np.zeros((3, 4, 4))
    with pytest.raises(pl.LayoutError) as err:
        open_run(p)
    msg = str(err.value)
    assert str(p) in msg and "/entry_1/result_1/nHits" in msg and "/LCLS/eventNumber" in msg
    assert "images" in msg  # says what the file holds instead
    with pytest.raises(pl.LayoutError):
        describe(p)


def test_label_json_is_not_a_run(tmp_path):
    p = tmp_path / "amo06516_0093.label.json"
    p.write_text('{"3": "Single"}')
    with pytest.raises(pl.LayoutError, match="not a run"):
        open_run(p)


def test_image_dataset_of_wrong_rank(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    write_spi(p, images=None, hits=4)
    with h5py.File(p, "a") as f:
        f[f"{DET}/data"] = np.zeros((4, 16))
    with pytest.raises(pl.LayoutError, match=f"{DET}/data has shape"):
        open_run(p)


def test_manifold_or_label_file_is_not_a_run(tmp_path):
    for schema, what in (("psocake-labeler/manifold", "manifold"),
                         ("psocake-labeler/labels", "label")):
        p = tmp_path / f"{what}.h5"
        with h5py.File(p, "w") as f:
            f.attrs["schema"] = schema
        with pytest.raises(pl.LayoutError, match=f"is a psocake-labeler {what} file"):
            open_run(p)


def test_hits_without_images(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    truth = write_spi(p, images=None, hits=9)
    run = open_run(p)  # metadata and events still work
    assert len(run) == 9 and not run.has_images and run.image_shape is None
    np.testing.assert_array_equal(run.events, truth["events"])
    with pytest.raises(pl.NoImagesError) as err:
        run.images(slice(0, 3))
    msg = str(err.value)
    assert str(p) in msg and f"{DET}/data" in msg
    assert "re-run xtc2cxi with --saveADU" in msg and "inside Psocake" in msg
    assert "psana" in msg and msg.count(". ") == 0  # one sentence
    with pytest.raises(pl.NoImagesError):
        run.image(0)
    report = inspect_file(p)
    assert isinstance(report.problem, pl.NoImagesError)


def test_hits_without_images_through_psana_needs_psana(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    write_spi(p, images=None, hits=3)
    run = open_run(p, use_psana=True)
    assert isinstance(run.image_source, pl.io.PsanaSource)
    assert run.image_source.describe() == "psana exp=amo06516:run=93 pnccdFront"
    with pytest.raises(pl.NoImagesError, match="psana is not installed"):
        run.image(0)


@pytest.mark.parametrize("num_events_attr", [True, False])
def test_mismatched_lengths(tmp_path, num_events_attr):
    p = tmp_path / "amo06516_0093.cxi"
    write_spi(p, images=None, hits=10, num_events_attr=num_events_attr,
              experiment_id=False)
    with h5py.File(p, "a") as f:
        f[f"{DET}/data"] = np.zeros((9, 4, 4), np.float32)
    with pytest.raises(pl.LayoutError) as err:
        open_run(p)
    msg = str(err.value)
    assert str(p) in msg and "disagree in length" in msg
    assert f"{DET}/data has 9" in msg
    assert ("/LCLS/eventNumber" in msg or "numEvents" in msg or "nHits" in msg)


def test_mismatched_event_numbers(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    write_spi(p, hits=10, num_events_attr=False)
    with h5py.File(p, "a") as f:
        del f["/LCLS/eventNumber"]
        f["/LCLS/eventNumber"] = np.arange(12)
    with pytest.raises(pl.LayoutError, match="/LCLS/eventNumber has 12 rows but"):
        open_run(p)


def test_nan_and_inf_pixels_are_kept_and_reported(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    write_spi(p, hits=8, shape=(10, 10))
    with h5py.File(p, "a") as f:
        d = f[f"{DET}/data"]
        img = d[2]
        img[0, :4] = np.nan
        img[5, 5] = np.inf
        d[2] = img
        img = d[7]
        img[9, 9] = -np.inf
        d[7] = img
    run = open_run(p)
    assert np.isnan(run.image(2)[0, :4]).all() and np.isinf(run.image(2)[5, 5])
    bad = run.bad_pixel_mask([2, 7, 0])
    assert bad.shape == (3, 10, 10) and bad.reshape(3, -1).sum(axis=1).tolist() == [5, 1, 0]
    report = inspect_file(p, sample=8)
    assert report.problem is None
    assert report.nonfinite == {"images": 8, "pixels": 800, "nan": 4, "inf": 2,
                                "bad_images": 2, "blank": [], "fraction": 6 / 800}
    assert "4 NaN and 2 inf in 2 of 8 sampled images (0.7500% of sampled pixels)" in \
        report.text()


def test_litpixels_asked_for_images(tmp_path):
    p = tmp_path / "amo06516_93.h5"
    write_litpixels(p)
    run = open_run(p)
    with pytest.raises(pl.NoImagesError) as err:
        run.image(0)
    assert str(p) in str(err.value) and "/litPixels/hitMetric" in str(err.value)
    assert inspect_file(p).no_images is not None and inspect_file(p).problem is None


def test_empty_run(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    write_spi(p, hits=0)
    with pytest.raises(pl.EmptyRunError) as err:
        open_run(p)
    assert str(p) in str(err.value) and "0 hits" in str(err.value)
    assert "/LCLS/eventNumber" in str(err.value)


def test_hit_finder_output_without_saved_hits(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    with h5py.File(p, "w") as f:
        f["/entry_1/result_1/nHitsAll"] = np.array([3, 50, -1, 7])
    with pytest.raises(pl.EmptyRunError) as err:
        open_run(p)
    msg = str(err.value)
    assert "/entry_1/result_1/nHitsAll" in msg and "4 events, 3 processed" in msg
    assert "Save hits" in msg
    folder = tmp_path
    with pytest.raises(pl.EmptyRunError, match="Save hits"):
        open_run(folder)


def test_litpixels_of_mismatched_length(tmp_path):
    p = tmp_path / "amo06516_93.h5"
    write_litpixels(p, events=5)
    with h5py.File(p, "a") as f:
        del f["/litPixels/event"]
        f["/litPixels/event"] = np.arange(4)
    with pytest.raises(pl.LayoutError, match="/litPixels/event has 4"):
        open_run(p)


def test_empty_list_of_runs():
    with pytest.raises(pl.InputError, match="no run files given"):
        open_run([])
