"""Hostile run files: bad event numbers, insane declared sizes, links. One line each, no
traceback, naming the file and the dataset (issue 11, items 3 and 4)."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from test_io_layouts import DET, write_spi

import psocake_labeler as pl
from psocake_labeler.io import open_run
from psocake_labeler.io.h5files import allow_external_links

EVENTS = "/LCLS/eventNumber"
IDS = "/entry_1/experimental_identifier"


def _set_events(path, values):
    with h5py.File(path, "r+") as f:
        for name in (EVENTS, IDS):
            del f[name]
            f[name] = values


@pytest.fixture
def spi(tmp_path):
    p = tmp_path / "amo06516_0093.cxi"
    held = write_spi(p, hits=12, shape=(16, 20), events_in_run=50)
    return p, held


@pytest.mark.parametrize("change, words", [
    (lambda e: np.concatenate([[e[0]], e[:-1]]), "holds event"),           # duplicate
    (lambda e: e - 100, "negative event number"),
    (lambda e: np.array([str(x).encode() for x in e]), "not integer event numbers"),
    (lambda e: e + 0.5, "not integer event numbers"),
    (lambda e: np.concatenate([e[:-1], [2**62]]), "but the run has 50 events"),
    (lambda e: np.concatenate([e[:-1], [55]]), "but the run has 50 events"),
    (lambda e: np.stack([e, e], 1), "one event number per hit"),
])
def test_bad_event_numbers_are_refused_on_open(spi, change, words):
    p, held = spi
    with h5py.File(p, "r") as f:
        events = f[EVENTS][()]
    _set_events(p, change(events))
    with pytest.raises(pl.LayoutError, match=words) as err:
        open_run(p)
    assert str(p) in str(err.value) and EVENTS in str(err.value)
    assert "\n" not in str(err.value)


def test_whole_integral_float_event_numbers_are_read(spi):
    p, held = spi
    with h5py.File(p, "r") as f:
        events = f[EVENTS][()]
    _set_events(p, events.astype(np.float64))
    assert open_run(p).events.tolist() == events.tolist()


def test_duplicate_events_across_sfx_ranks_are_refused(small_sfx_run, tmp_path):
    import shutil
    from pathlib import Path

    master = Path(small_sfx_run.path)
    for q in master.parent.glob(master.stem + "*.cxi"):
        shutil.copy(q, tmp_path / q.name)
    ranks = sorted(p for p in tmp_path.glob("*_*_*.cxi"))
    with h5py.File(ranks[0], "r") as f:
        first = f[EVENTS][0]
    with h5py.File(ranks[1], "r+") as f:
        ev = f[EVENTS][()]
        ev[0] = first
        del f[EVENTS]
        f[EVENTS] = ev
    with pytest.raises(pl.LayoutError, match=f"holds event {first} 2 times"):
        open_run(tmp_path / master.name)


def test_declared_size_is_checked_before_allocating(spi):
    p, _ = spi
    with h5py.File(p, "r+") as f:
        del f[EVENTS]
        f.create_dataset(EVENTS, shape=(10**12,), dtype=np.int64, chunks=(1024,))
    # the file stays a few kB: reading it whole would need 7.3 TiB
    assert p.stat().st_size < 10**6
    with pytest.raises(pl.LayoutError, match=r"declares \(1000000000000,\) elements"):
        open_run(p)


def test_soft_link_loop_is_one_line(spi):
    p, _ = spi
    with h5py.File(p, "r+") as f:
        del f["/entry_1/data_1/data"]
        del f[f"{DET}/data"]
        f[f"{DET}/data"] = h5py.SoftLink("/entry_1/data_1/data")
        f["/entry_1/data_1/data"] = h5py.SoftLink(f"{DET}/data")
    with pytest.raises(pl.LayoutError, match="loop of soft links") as err:
        open_run(p)
    assert str(p) in str(err.value)


def test_broken_soft_link_is_reported_as_a_broken_link(spi):
    p, _ = spi
    with h5py.File(p, "r+") as f:
        del f[f"{DET}/data"]   # /entry_1/data_1/data still points at it
    with pytest.raises(pl.LayoutError, match="broken soft link") as err:
        open_run(p)
    assert "--saveADU" not in str(err.value) and "/entry_1/data_1/data" in str(err.value)


def _external(p, target):
    with h5py.File(p, "r+") as f:
        images = f[f"{DET}/data"][()]
        del f["/entry_1/data_1/data"]
        del f[f"{DET}/data"]
        f[f"{DET}/data"] = h5py.ExternalLink(target, "/data")
        f["/entry_1/data_1/data"] = h5py.SoftLink(f"{DET}/data")
    return images


def test_external_links_are_refused_unless_asked_for(spi):
    p, _ = spi
    images = _external(p, "elsewhere.h5")
    with h5py.File(p.with_name("elsewhere.h5"), "w") as g:
        g["data"] = images
    with pytest.raises(pl.LayoutError, match="external link to elsewhere.h5:/data"):
        open_run(p)
    allow_external_links(True)
    try:
        run = open_run(p)
        np.testing.assert_array_equal(run.images([0, 1]), images[:2])
    finally:
        allow_external_links(False)


def test_broken_external_link_when_followed(spi):
    p, _ = spi
    _external(p, "gone.h5")
    allow_external_links(True)
    try:
        with pytest.raises(pl.LayoutError, match="broken external link"):
            open_run(p)
    finally:
        allow_external_links(False)


def test_images_of_zero_pixels(spi):
    p, _ = spi
    with h5py.File(p, "r+") as f:
        del f["/entry_1/data_1/data"]
        del f[f"{DET}/data"]
        f[f"{DET}/data"] = np.zeros((12, 0, 0), np.float32)
    with pytest.raises(pl.LayoutError, match="0x0 pixels"):
        open_run(p)
