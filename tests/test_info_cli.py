"""``psocake-labeler info``: what a file is, in words; bad input gives one line and exit 2."""
from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
from test_io_layouts import DET, write_litpixels, write_sfx, write_spi

from psocake_labeler.cli import main


def run_info(capsys, *args):
    code = main(["info", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("psocake-labeler info: error: ")
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_info_spi_file(tmp_path, capsys):
    p = tmp_path / "amo06516_0093.cxi"
    write_spi(p, hits=12, shape=(16, 20))
    code, out, err = run_info(capsys, p)
    assert code == 0 and err == ""
    assert "Psocake SPI hits file" in out
    assert "experiment amo06516, run 93, detector pnccdFront" in out
    assert "12 hits out of 50 events in the run (47 processed" in out
    assert "Images: present, 12 x 16 x 20 in /entry_1/instrument_1/detector_1/data" in out
    assert "photon energy 1600 eV, detector distance 0.13 m, pixel size 75 um" in out
    assert "Mask: /entry_1/instrument_1/detector_1/mask, 16 x 20, 93.8% good pixels" in out
    assert "Beam centre (row, col): (7.5, 9.5) pixels (image centre)" in out
    assert "NaN/inf pixels: none in 12 sampled images" in out


def test_info_sfx_and_litpixels(tmp_path, capsys):
    truth = write_sfx(tmp_path, hits=(2, 3, 1))
    code, out, _ = run_info(capsys, truth["master"])
    assert code == 0 and "SFX peak-finder master file gathering 3 per-rank files" in out
    assert "6 hits out of 400 events" in out
    code, out, _ = run_info(capsys, truth["parts"][1][0])
    assert code == 0 and "SFX peak-finder per-rank file" in out and "3 hits" in out
    lp = tmp_path / "amo06516_93.h5"
    write_litpixels(lp)
    code, out, err = run_info(capsys, lp)
    assert code == 0 and "litPixels hit-metric file" in out and "30 events" in out
    assert "Images: none (a litPixels file holds only the hit metric)" in out


def test_info_psocake_label_files(tmp_path, capsys):
    p = tmp_path / "amo06516_0093_labels.h5"
    labels = np.zeros((10, 1), np.int64)
    labels[[1, 2, 5]] = [[1], [1], [3]]
    with h5py.File(p, "w") as f:
        f["labels"] = labels
        f["propLabels"] = np.ones((10, 1), np.int64)
    code, out, _ = run_info(capsys, p)
    assert code == 0
    assert "Psocake label file (labels/propLabels" in out
    assert "experiment amo06516 run 93: 10 events, 3 labelled by hand (codes {1: 2, 3: 1}" \
        in out and "10 with a propagated label" in out
    j = tmp_path / "amo06516_0093.label.json"
    j.write_text(json.dumps({"4": "Single", "9": "Single", "12": "Multiple"}))
    code, out, _ = run_info(capsys, j)
    assert code == 0
    assert "3 events labelled (Single 2, Multiple 1)" in out


def test_info_our_manifold_and_label_files(tmp_path, capsys):
    import scipy.sparse as sp

    from psocake_labeler.embedding.manifold import Manifold
    from psocake_labeler.io import make_event_table
    from psocake_labeler.labelling.session import LabelSession

    n = 8
    events = make_event_table("amo06516_0093.cxi", 93, np.arange(n) * 3)
    graph = sp.csr_matrix(np.ones((n, n)) - np.eye(n))
    m = Manifold(coords=np.random.default_rng(0).random((n, 3)),
                 eigenvalues=np.array([0.9, 0.8, 0.5]), events=events, graph=graph,
                 features=np.zeros((n, 4), np.float32), params={"knn": 5, "alpha": 1.0},
                 density=np.ones(n))
    mp = tmp_path / "manifold.h5"
    m.save(mp)
    code, out, _ = run_info(capsys, mp)
    assert code == 0
    assert "psocake-labeler manifold file" in out
    assert "Events: 8 events from 1 file(s), runs [93]" in out
    assert "Diffusion coordinates: 8 events x 3 components" in out
    assert "Eigenvalues: 0.9, 0.8, 0.5" in out and "knn 5" in out
    lp = tmp_path / "labels.h5"
    s = LabelSession(m, path=lp, user="ada")
    s.label([0, 1], "Single")
    s.label([5], "Multiple")
    s.save()
    code, out, _ = run_info(capsys, lp)
    assert code == 0
    assert "psocake-labeler label file" in out
    assert "Classes: Single, Multiple, Water/Unknown" in out
    assert "Labelled by hand: 3 of 8 events (Single 2, Multiple 1)" in out
    assert "ada" in out


def test_info_simulation_truth(small_spi_run, capsys):
    code, out, _ = run_info(capsys, small_spi_run.truth_path)
    assert code == 0 and "simulation ground truth" in out and "300 hits" in out


def test_info_nan_inf_pixels_are_counted(tmp_path, capsys):
    p = tmp_path / "amo06516_0093.cxi"
    write_spi(p, hits=4, shape=(10, 10))
    with h5py.File(p, "a") as f:
        img = f[f"{DET}/data"][1]
        img[:2, :] = np.nan
        img[3, 3] = np.inf
        f[f"{DET}/data"][1] = img
    code, out, err = run_info(capsys, p, "--sample", "4")
    assert code == 0 and err == ""
    assert "NaN/inf pixels: 20 NaN and 1 inf in 1 of 4 sampled images (5.2500% of " \
        "sampled pixels)" in out
    assert "no finite pixel" not in out
    with h5py.File(p, "a") as f:
        f[f"{DET}/data"][2] = np.full((10, 10), np.nan, np.float32)
    code, out, err = run_info(capsys, p, "--sample", "4")
    assert code == 0 and "1 sampled hit(s) have no finite pixel at all (hit index 2)" in out


def test_info_says_what_a_failing_run_holds_before_the_error(tmp_path, capsys):
    # (the error line itself, for every bad file: test_bad_files.py)
    p = tmp_path / "amo06516_0093.cxi"
    write_spi(p, images=None, hits=5)
    code, out, err = run_info(capsys, p)
    assert code == 2 and "5 hits" in out and "Images: none" in out
    assert_one_line_error(err, str(p), "--saveADU")
    write_spi(p, hits=0)
    code, out, err = run_info(capsys, p)
    assert code == 2 and "0 hits" in out
    assert_one_line_error(err, str(p), "0 hits")


def test_console_script_exit_code(tmp_path):
    # The entry point in its own process: exit status and stderr as a user sees them (every
    # other bad file, in-process: test_bad_files.py).
    p = tmp_path / "amo06516_0093.cxi"
    p.write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "psocake_labeler", "info", str(p)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(p) in proc.stderr


def test_info_psocake_label_file_written_by_us(tmp_path, capsys):
    # Our Psocake-format export carries a schema attribute; info must still read it.
    from psocake_labeler.labelfiles.psocake import write_psocake_h5

    p = tmp_path / "amo06516_0093_labels.h5"
    write_psocake_h5(p, np.array([0, 1, 0, 3]), np.array([1, 1, 2, 3]))
    code, out, err = run_info(capsys, p)
    assert code == 0, err
    assert "Psocake label file" in out and "2 labelled by hand" in out


def test_info_manifold_says_how_features_were_made(tmp_path, capsys):
    import psocake_labeler as pl

    p = tmp_path / "amo06516_0093.cxi"
    write_spi(p, hits=30, shape=(32, 32), events_in_run=60)
    mp = tmp_path / "manifold.h5"
    pl.build_manifold([pl.open_run(p)], n_components=3, knn=5, bin=2).save(mp)
    code, out, err = run_info(capsys, mp)
    assert code == 0, err
    line = next(x for x in out.splitlines() if "Feature transform" in x)
    assert "fitted on 32 x 32 images" in line and "bin 2" in line and "representation" in line


def test_info_warns_of_a_missing_rank_file(tmp_path, capsys):
    truth = write_sfx(tmp_path, ranks=(0, 2), hits=(2, 3))
    code, out, err = run_info(capsys, truth["master"])
    assert code == 0, err
    assert "no per-rank file for rank(s) 1 below the highest rank found" in out
    full = tmp_path / "full"
    full.mkdir()
    code, out, _ = run_info(capsys, write_sfx(full, ranks=(0, 1), hits=(2, 3))["master"])
    assert code == 0 and "Warning" not in out
