"""A full disk in every command that writes: one line naming the file, the space needed and
that nothing was lost; exit 2; no temporary file left; never a signal (issue 11, item 2).

The disk is a small tmpfs mounted for the module (root only; skipped otherwise), filled
up to a few kB, so that writes fail part-way, inside HDF5, as on a real full disk.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import psocake_labeler as pl


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "psocake_labeler", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory):
    """A 4 MB tmpfs with only about 16 kB free."""
    folder = tmp_path_factory.mktemp("tmpfs")
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mount.stderr.strip() or 'not root'})")
    try:
        _leave_free(folder, 16 * 1024)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _leave_free(folder, margin: int) -> None:
    """Resize the filler so that about ``margin`` bytes stay free."""
    filler = folder / "filler"
    filler.write_bytes(b"")
    filler.write_bytes(b"\0" * max(0, shutil.disk_usage(folder).free - margin))


@pytest.fixture(scope="module")
def labelled(small_spi_manifold_path, tmp_path_factory):
    """A label file (outside the full disk) with a few labels and predictions."""
    path = tmp_path_factory.mktemp("labels") / "run93.labels.h5"
    s = pl.LabelSession(pl.Manifold.load(small_spi_manifold_path), path=path)
    s.label(list(range(0, 60, 3)), "Single")
    s.label(list(range(1, 60, 3)), "Multiple")
    s.label(list(range(2, 60, 3)), "Water/Unknown")
    s.propagate()
    s.save()
    return path


def _assert_clean_refusal(p, disk, target, before):
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    line = lines[0]
    assert str(target) in line and "no space left" in line and "needs" in line
    assert "free" in line and "nothing was lost" in line
    assert sorted(q.name for q in disk.iterdir()) == before   # no temporary file left


@pytest.mark.parametrize("fmt", ["cxi", "csv", "json", "blacklist"])
def test_export_on_a_full_disk(full_disk, labelled, fmt):
    _leave_free(full_disk, 0 if fmt in ("csv", "json", "blacklist") else 16 * 1024)
    before = sorted(q.name for q in full_disk.iterdir())
    target = full_disk / f"out.{fmt}"
    p = _cli("export", labelled, "--format", fmt, "-o", target, "--quiet")
    _assert_clean_refusal(p, full_disk, target, before)


def test_export_cxi_keeps_the_previous_export(full_disk, labelled):
    # the SIGSEGV of issue 11 (rc 139) happened here: h5py closing after a failed write
    target = full_disk / "single.cxi"
    _leave_free(full_disk, 3 << 20)
    assert _cli("export", labelled, "--format", "cxi", "-o", target).returncode == 0
    older = target.read_bytes()
    _leave_free(full_disk, 16 * 1024)
    before = sorted(q.name for q in full_disk.iterdir())
    try:
        p = _cli("export", labelled, "--format", "cxi", "--min-confidence", "0.1", "-o",
                 target, "--quiet")
        _assert_clean_refusal(p, full_disk, target, before)
        assert "the existing file is unchanged" in p.stderr
        assert target.read_bytes() == older
    finally:
        target.unlink()


def test_export_psocake_on_a_full_disk(full_disk, labelled):
    _leave_free(full_disk, 16 * 1024)
    out = full_disk / "psocake"
    out.mkdir()
    try:
        p = _cli("export", labelled, "--format", "psocake", "-o", out)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert "no space left" in p.stderr and "nothing was lost" in p.stderr
        assert not any(q.name.endswith(".tmp") for q in out.iterdir())
    finally:
        shutil.rmtree(out)


def test_merge_on_a_full_disk(full_disk, labelled):
    _leave_free(full_disk, 16 * 1024)
    before = sorted(q.name for q in full_disk.iterdir())
    target = full_disk / "merged.h5"
    p = _cli("merge", labelled, "-o", target)
    _assert_clean_refusal(p, full_disk, target, before)


def test_embed_on_a_full_disk(full_disk, small_spi_run):
    _leave_free(full_disk, 16 * 1024)
    before = sorted(q.name for q in full_disk.iterdir())
    target = full_disk / "m.h5"
    p = _cli("embed", small_spi_run.path, "-o", target, "-q", "--knn", "8",
             "--n-components", "4")
    _assert_clean_refusal(p, full_disk, target, before)


@pytest.mark.parametrize("layout", ["spi", "sfx"])
def test_simulate_on_a_full_disk(full_disk, layout):
    _leave_free(full_disk, 16 * 1024)
    before = sorted(q.name for q in full_disk.iterdir())
    target = full_disk / "amo06516_0093.cxi"
    p = _cli("simulate", target, "--hits", "40", "--shape", "64", "--layout", layout,
             "--quiet")
    _assert_clean_refusal(p, full_disk, target, before)


def test_guarded_write_past_the_space_check(full_disk):
    """No size known in advance: HDF5 itself meets the full disk, part-way through."""
    _leave_free(full_disk, 16 * 1024)
    import numpy as np

    from psocake_labeler.io.atomic import atomic_h5

    target = full_disk / "big.h5"
    before = sorted(q.name for q in full_disk.iterdir())
    with pytest.raises(pl.WriteError) as err:
        with atomic_h5(target, "test/big", 1) as f:
            for i in range(40):
                f.create_dataset(f"d{i}", data=np.random.default_rng(i).random(2000))
    msg = str(err.value)
    assert "needs" in msg and "kB" in msg and "no file was created" in msg
    assert sorted(q.name for q in full_disk.iterdir()) == before


def test_export_with_a_manifold_says_the_label_file_kept_its_old_predictions(
        full_disk, small_spi_manifold_path, tmp_path):
    # the label file sits on the full disk with labels but no predictions yet: export
    # --manifold propagates, cannot save that, and must say so, not fail or stay silent
    _leave_free(full_disk, 1 << 20)
    path = full_disk / "stale.labels.h5"
    s = pl.LabelSession(pl.Manifold.load(small_spi_manifold_path), path=path)
    s.auto_propagate = False
    s.label(list(range(0, 60, 3)), "Single")
    s.label(list(range(1, 60, 3)), "Multiple")
    s.label(list(range(2, 60, 3)), "Water/Unknown")
    s.save()
    del s
    before = path.read_bytes()
    _leave_free(full_disk, 0)
    out = tmp_path / "out.json"
    try:
        p = _cli("export", path, "--manifold", small_spi_manifold_path, "--format", "json",
                 "-o", out, "--quiet")
        assert p.returncode == 0, p.stderr
        warning = [ln for ln in p.stderr.splitlines() if ln.startswith("warning:")]
        assert len(warning) == 1 and str(path) in warning[0], p.stderr
        assert "predictions could not be saved" in warning[0]
        assert path.read_bytes() == before
        rows = json.loads(out.read_text())
        assert {r["source"] for r in rows} > {"user"}     # predictions were made and exported
    finally:
        path.unlink()
        for extra in full_disk.glob("stale.labels.h5*"):
            extra.unlink()
