"""Runs that are partly usable: hits without images, NaN pixels, litPixels files.

Files that cannot be used at all, through every entry point: test_bad_files.py."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from test_io_layouts import DET, write_litpixels, write_spi

import psocake_labeler as pl
from psocake_labeler.io import inspect_file, open_run


def test_hits_without_images_keep_their_metadata(tmp_path):
    # (the error's words, class and exit codes: test_bad_files.py)
    p = tmp_path / "amo06516_0093.cxi"
    truth = write_spi(p, images=None, hits=9)
    run = open_run(p)  # metadata and events still work
    assert len(run) == 9 and not run.has_images and run.image_shape is None
    np.testing.assert_array_equal(run.events, truth["events"])
    with pytest.raises(pl.NoImagesError) as err:
        run.images(slice(0, 3))
    assert str(p) in str(err.value) and str(err.value).count(". ") == 0  # one sentence
    assert isinstance(inspect_file(p).problem, pl.NoImagesError)


def test_hits_without_images_through_psana_needs_psana(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    write_spi(p, images=None, hits=3)
    run = open_run(p, use_psana=True)
    assert isinstance(run.image_source, pl.io.PsanaSource)
    assert run.image_source.describe() == "psana exp=amo06516:run=93 pnccdFront"
    with pytest.raises(pl.NoImagesError, match="psana is not installed"):
        run.image(0)


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


def test_litpixels_file_is_inspected_without_a_problem(tmp_path):
    p = tmp_path / "amo06516_93.h5"
    write_litpixels(p)
    report = inspect_file(p)
    assert report.problem is None and "/litPixels/hitMetric" in str(report.no_images)


def test_empty_list_of_runs():
    with pytest.raises(pl.InputError, match="no run files given"):
        open_run([])
