"""Image sources and event tables: the pieces a Run is made of."""
from __future__ import annotations

import importlib.util
import pickle

import h5py
import numpy as np
import pytest
from test_io_layouts import write_spi

import psocake_labeler as pl
from psocake_labeler.io import (
    EVENT_DTYPE,
    ConcatSource,
    H5DatasetSource,
    NoImageSource,
    PsanaSource,
    concat_event_tables,
    event_keys,
    event_table_from_h5,
    event_table_to_h5,
    make_event_table,
    open_run,
)
from psocake_labeler.io.sources import contiguous_segments


def test_contiguous_segments():
    assert contiguous_segments(np.array([], np.int64)) == []
    assert contiguous_segments(np.array([3, 4, 5, 9, 11, 12])) == [(3, 6), (9, 10), (11, 13)]


def test_h5_source_reads_rows_in_the_order_asked(tmp_path):
    p = tmp_path / "stack.h5"
    data = np.arange(6 * 2 * 3, dtype=np.int32).reshape(6, 2, 3)
    with h5py.File(p, "w") as f:
        f["d"] = data
    src = H5DatasetSource(p, "d", 6, (2, 3))
    out = src.read(np.array([5, 0, 5, 2, 3]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, data[[5, 0, 5, 2, 3]])
    assert src.read(np.array([], np.int64)).shape == (0, 2, 3)
    src.close()
    np.testing.assert_array_equal(src.read(np.array([1]))[0], data[1])  # reopens
    clone = pickle.loads(pickle.dumps(src))  # an open h5py handle is not pickled
    np.testing.assert_array_equal(clone.read(np.array([4])), data[[4]])
    assert src.describe() == f"{p}:d"


def test_concat_source_spans_parts(tmp_path):
    paths, parts = [], []
    for k, n in enumerate((2, 0, 3)):
        p = tmp_path / f"part{k}.h5"
        d = np.full((n, 2, 2), k, np.float32) + np.arange(n)[:, None, None] * 10
        with h5py.File(p, "w") as f:
            f["d"] = d
        parts.append(d)
        paths.append(H5DatasetSource(p, "d", n, (2, 2)))
    src = ConcatSource(paths)
    assert len(src) == 5 and src.shape == (2, 2) and src.has_images
    allx = np.concatenate(parts)
    np.testing.assert_array_equal(src.read(np.array([4, 0, 2, 1])), allx[[4, 0, 2, 1]])


def test_no_image_source_and_mixed_parts():
    src = NoImageSource(4, "f.cxi: holds 4 hits but no images")
    assert len(src) == 4 and not src.has_images and src.shape is None
    with pytest.raises(pl.NoImagesError, match="f.cxi: holds 4 hits but no images"):
        src.read(np.array([0]))
    both = ConcatSource([NoImageSource(2, "a: none"), NoImageSource(3, "b: none")])
    with pytest.raises(pl.NoImagesError, match="b: none"):
        both.read(np.array([3]))


def test_psana_source_imports_psana_only_when_reading():
    src = PsanaSource("amo06516", 93, "pnccdFront", np.array([4, 8]))
    assert len(src) == 2 and src.describe() == "psana exp=amo06516:run=93 pnccdFront"
    if importlib.util.find_spec("psana") is not None:
        pytest.skip("psana is installed here; this checks the message where it is not")
    with pytest.raises(pl.NoImagesError, match="psana is not installed"):
        src.read(np.array([0]))


def test_event_table_helpers_round_trip_through_hdf5(tmp_path):
    a = make_event_table("a.cxi", 93, [5, 7])
    b = make_event_table(["b_0.cxi", "b_1.cxi", "b_0.cxi"], [94, 94, 94], np.array([1, 2, 3]))
    t = concat_event_tables([a, b])
    assert t.dtype == EVENT_DTYPE and len(t) == 5
    assert event_keys(t) == [("a.cxi", 93, 5), ("a.cxi", 93, 7), ("b_0.cxi", 94, 1),
                             ("b_1.cxi", 94, 2), ("b_0.cxi", 94, 3)]
    assert len(concat_event_tables([])) == 0
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["events"] = event_table_to_h5(t)
    with h5py.File(tmp_path / "t.h5") as f:
        back = event_table_from_h5(f["events"][()])
    assert event_keys(back) == event_keys(t)
    with pytest.raises(ValueError):
        make_event_table(["x"], 1, [1, 2])


def test_run_pickles_and_closes(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    truth = write_spi(p, hits=5)
    with open_run(p) as run:
        first = run.image(0)
        clone = pickle.loads(pickle.dumps(run))
    np.testing.assert_array_equal(first, truth["images"][0])
    np.testing.assert_array_equal(clone.images([4]), truth["images"][[4]])
    assert repr(run).startswith("<Run spi amo06516 run 93: 5 hits")
