"""Feature transform: masking, NaN safety, rotation invariance, PCA over ranks, persistence.

Synthetic patterns go through ``ArrayRun`` (the duck-typed run interface compute_features
accepts: ``__len__``, ``images``, ``mask``, ``center``, ``image_shape``); the integration
tests use simulated runs in real HDF5 files read by ``open_run``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.spatial.distance import pdist

from psocake_labeler.errors import EmptyRunError, InputError, LayoutError
from psocake_labeler.features import FeatureTransform, compute_features
from psocake_labeler.features.reduction import Moments, pca_from_moments, randomized_pca

SHAPE = (48, 48)
CENTER = ((SHAPE[0] - 1) / 2, (SHAPE[1] - 1) / 2)


class ArrayRun:
    """Hits held in memory, with the attributes of a Run that features read."""

    def __init__(self, images, mask=None, center=CENTER):
        self.x = np.asarray(images, dtype=np.float32)
        self.mask = mask
        self.center = center
        self.image_shape = self.x.shape[1:]
        self.path = "<array>"
        self.reads = 0

    def __len__(self):
        return len(self.x)

    def images(self, sel=slice(None)):
        self.reads += 1
        return self.x[sel].copy()


def pattern(rng, kind: int, angle: float, photons: float) -> np.ndarray:
    """A speckle-free anisotropic pattern: kind 0 has 3-fold, kind 1 has 5-fold structure."""
    y, x = np.mgrid[:SHAPE[0], :SHAPE[1]].astype(float)
    y -= CENTER[0]
    x -= CENTER[1]
    r = np.hypot(y, x)
    th = np.arctan2(y, x)
    fold = 3 if kind == 0 else 5
    img = np.exp(-r / 8.0) * (1.0 + 0.8 * np.cos(fold * (th - angle)) * (r > 4))
    return rng.poisson(img / img.sum() * photons).astype(np.float32)


def synthetic_run(n: int = 120, seed: int = 0, mask=None) -> tuple[ArrayRun, np.ndarray]:
    rng = np.random.default_rng(seed)
    kinds = rng.integers(0, 2, n)
    imgs = np.stack([pattern(rng, k, rng.uniform(0, 2 * np.pi), rng.uniform(2e3, 5e4))
                     for k in kinds])
    return ArrayRun(imgs, mask), kinds


# -- masking and NaN safety ----------------------------------------------------------------
def test_nan_inf_dead_hot_and_file_mask_never_reach_features():
    run, _ = synthetic_run(100)
    x = run.x
    mask = np.ones(SHAPE, bool)
    mask[:, :2] = False                      # file mask
    x[3, 10, 12] = np.nan                    # NaN in one image
    x[8, 30, 5] = np.inf                     # inf in another
    x[:, 20, 40] = 1e7                       # hot: extreme in every image
    x[:, 28, 20] = 0.0                       # dead: always 0 in a bright ring
    x[:, 28, 21] += 1.0                      # ... and a neighbour that is never 0
    x[-1] = np.nan                           # an image that is entirely NaN
    run.mask = mask
    feats, t = compute_features(run, n_pca=10)
    assert feats.shape == (100, 10) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    good = t.mask_
    assert not good[:, :2].any()
    assert not good[10, 12] and not good[30, 5]
    assert not good[20, 40] and not good[28, 20]
    assert good[28, 21] and good.sum() > 0.95 * good.size - 2 * SHAPE[0]
    # A masked pixel cannot change features, whatever it holds (NaN, inf, huge).
    img = x[:5].copy()
    ref = t.transform(img)
    for value in (np.nan, np.inf, -np.inf, 1e30):
        img2 = img.copy()
        img2[:, 20, 40] = value
        img2[:, 10, 12] = value
        np.testing.assert_array_equal(t.transform(img2), ref)
    # A NaN at a pixel the fit found good is masked in that image only.
    img3 = img.copy()
    img3[:, 24, 30] = np.nan
    out = t.transform(img3)
    assert np.isfinite(out).all()
    assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()


def test_blank_and_negative_images_give_finite_features():
    run, _ = synthetic_run(40)
    weird = np.stack([np.zeros(SHAPE), -np.ones(SHAPE), np.full(SHAPE, np.nan),
                      np.full(SHAPE, 3e38)]).astype(np.float32)
    for rep in ("polar", "correlation", "image"):
        _, t = compute_features(run, representation=rep, n_pca=5)
        out = t.transform(weird)
        assert out.shape == (4, 5) and np.isfinite(out).all()
        # A blank hit and an all-NaN hit carry no signal: the same (centre) point.
        np.testing.assert_array_equal(out[0], out[2])


def test_rectangular_detector_with_offset_beam_and_binning():
    rng = np.random.default_rng(2)
    x = rng.poisson(3.0, (30, 50, 70)).astype(np.float32)
    run = ArrayRun(x, center=(20.3, 41.7))
    for rep in ("polar", "correlation", "image"):
        feats, t = compute_features(run, representation=rep, bin=3, n_pca=6)
        assert np.isfinite(feats).all()
        # the fitted transform gives the same features again; the mask stays in detector
        # pixels (not binned ones), and 6 components of 30 noisy images hold distinct rows
        np.testing.assert_allclose(t.transform(x), feats, atol=1e-4 * np.abs(feats).max())
        assert t.mask_.shape == (50, 70)
        assert np.linalg.matrix_rank(feats) == 6


# -- photon scale and rotation invariance ------------------------------------------------
def test_brightness_does_not_change_features():
    run, _ = synthetic_run(60)
    _, t = compute_features(run, n_pca=8)
    img = run.x[:4]
    np.testing.assert_allclose(t.transform(img * 37.0), t.transform(img), atol=1e-4)


def rotated_kinds() -> ArrayRun:
    """12 rotations of a pattern of kind 0, then 12 of kind 1 (the same radial profile)."""
    rng = np.random.default_rng(5)
    angles = np.linspace(0, 2 * np.pi, 12)
    return ArrayRun(np.stack([pattern(rng, 0, a, 1e9) for a in angles]
                             + [pattern(rng, 1, a, 1e9) for a in angles]))


def spread_and_gap(representation: str) -> tuple[float, float, float]:
    """(largest distance among rotations of kind 0, smallest to kind 1, norm of one)."""
    run = rotated_kinds()
    # No beam search: 3- and 5-fold patterns are not centrosymmetric (no diffraction pattern
    # is), so Friedel symmetry has no centre to find in them.
    raw = FeatureTransform(representation=representation, n_pca=0, beam_search=0).fit(
        run).raw_features(run.images(slice(None)))
    return (np.linalg.norm(raw[:12] - raw[0], axis=1).max(),
            np.linalg.norm(raw[12:] - raw[0], axis=1).min(), np.linalg.norm(raw[0]))


@pytest.mark.parametrize("representation", ["polar", "correlation"])
def test_rotation_invariant_representations_tell_kinds_apart(representation):
    same, other, _ = spread_and_gap(representation)
    assert same < 0.1 * other


def test_radial_profile_is_invariant_but_blind_to_the_kind():
    # The two kinds share their radial profile: radial alone cannot tell them apart.
    same, other, norm = spread_and_gap("radial")
    assert same < 0.02 * norm and other < 0.02 * norm


def test_plain_image_is_not_rotation_invariant():
    # rotated copies are as far apart as other kinds
    same, other, _ = spread_and_gap("image")
    assert same > 0.5 * other


# -- PCA -------------------------------------------------------------------------------------
def test_randomized_pca_matches_exact_covariance_pca():
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((6, 300))
    x = (rng.standard_normal((500, 6)) * [9, 7, 5, 3, 2, 1.5]) @ basis \
        + 0.01 * rng.standard_normal((500, 300)) + 4.0
    full = Moments(300)
    full.update(x)
    mean, scale, comps, var = pca_from_moments(full, 6, standardize=False)
    diag = Moments(300, gram=False)
    for block in np.array_split(x, 7):
        diag.update(block)
    mean2, _, comps2, var2 = randomized_pca(lambda: np.array_split(x, 3), diag, 6, False)
    np.testing.assert_allclose(mean2, mean)
    np.testing.assert_allclose(var2, var, rtol=1e-6)
    np.testing.assert_allclose(np.abs(comps2 @ comps.T), np.eye(6), atol=1e-6)
    np.testing.assert_allclose(var[0], np.var(x @ comps[0]), rtol=1e-9)


def test_compute_features_reads_each_row_once_and_reports_progress():
    run, _ = synthetic_run(90)
    calls = []
    feats, t = compute_features(run, n_pca=6, mask_sample=30,
                                progress=lambda s, d, n: calls.append((s, d, n)))
    assert {c[0] for c in calls} == {"features"}
    assert calls[-1][1] == calls[-1][2] == 90 + 30
    assert all(b[1] >= a[1] for a, b in zip(calls, calls[1:]))
    # The pre-PCA features were kept: no second read of the run for the projection.
    np.testing.assert_allclose(feats, t.transform(run.x), atol=1e-5)


# -- persistence and errors -------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    run, _ = synthetic_run(50)
    mask = np.ones(SHAPE, bool)
    mask[5:9] = False
    run.mask = mask
    feats, t = compute_features(run, representation="correlation", n_pca=7, photon="log")
    with h5py.File(tmp_path / "m.h5", "w") as f:
        t.save(f.create_group("features"))
    with h5py.File(tmp_path / "m.h5", "r") as f:
        t2 = FeatureTransform.load(f["features"])
    assert t2.get_params() == t.get_params() and t2.n_features_out_ == 7
    np.testing.assert_array_equal(t2.mask_, t.mask_)
    np.testing.assert_array_equal(t2.transform(run.x), feats)


def test_errors_name_the_problem(tmp_path):
    run, _ = synthetic_run(20)
    with pytest.raises(InputError, match="unknown feature option"):
        compute_features(run, bins=4)
    with pytest.raises(InputError, match="representation"):
        FeatureTransform(representation="zernike").fit(run)
    with pytest.raises(EmptyRunError):
        compute_features(ArrayRun(np.zeros((0,) + SHAPE)))
    _, t = compute_features(run, n_pca=3)
    with pytest.raises(InputError, match="fitted on"):
        t.transform(np.zeros((2, 32, 32), np.float32))
    with pytest.raises(InputError, match="not fitted"):
        FeatureTransform().transform(run.x)
    with pytest.raises(InputError, match="cannot change"):
        compute_features(run, t, n_pca=4)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        with pytest.raises(LayoutError, match="not a saved feature transform"):
            FeatureTransform.load(f.create_group("features"))
    with pytest.raises(LayoutError, match="mask shape"):
        compute_features(ArrayRun(run.x, mask=np.ones((3, 3), bool)))
    with pytest.raises(InputError, match="beam centre"):
        compute_features(ArrayRun(run.x, center=(-40.0, 10.0)))
    # The plain image needs no centre.
    feats, _ = compute_features(ArrayRun(run.x, center=(-40.0, 10.0)),
                                representation="image", n_pca=3)
    assert np.isfinite(feats).all()


# -- simulated runs in real HDF5 files --------------------------------------------------------
def _open(sim):
    from psocake_labeler.io import open_run

    return open_run(sim.path)


def test_simulated_run_singles_multiples_water_separate(small_spi_run):
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    from psocake_labeler.simulate import read_truth

    run = _open(small_spi_run)
    feats, t = compute_features(run)
    labels = np.asarray(read_truth(small_spi_run.truth_path).labels)
    assert feats.shape == (len(run), t.n_features_out_) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    # The file mask (gap, central hole) is kept; the simulator's dead/hot pixels are found.
    assert not t.mask_[~run.mask].any()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    acc = cross_val_score(KNeighborsClassifier(10), feats, labels, cv=cv).mean()
    assert acc > 0.85


def test_dead_and_hot_pixels_found_when_the_file_mask_omits_them(small_spi_run, tmp_path):
    """The simulator writes dead (0) and hot pixels and flags them (CXI bits 8, 4); with
    those bits cleared from the file mask, the run-wide statistics must find them alone."""
    from psocake_labeler.io import open_run

    path = tmp_path / small_spi_run.path.name
    shutil.copy(small_spi_run.path, path)
    with h5py.File(path, "r+") as f:
        d = f["/entry_1/instrument_1/detector_1/mask"]
        bits = d[()]
        d[...] = bits & 1          # keep only "no pixel here" (gap, central hole)
    dead, hot = (bits & 8) > 0, (bits & 4) > 0
    assert dead.any() and hot.any()
    run = open_run(path)
    assert run.mask[dead | hot].all()
    t = FeatureTransform().fit(run)
    assert not t.mask_[dead].any() and not t.mask_[hot].any()
    assert not t.mask_[(bits & 1) > 0].any()
    # Good pixels are not thrown away with them.
    assert t.mask_.sum() >= 0.99 * (bits == 0).sum()


def test_nan_pixels_in_a_simulated_file(small_spi_run, tmp_path):
    path = tmp_path / small_spi_run.path.name
    shutil.copy(small_spi_run.path, path)
    run = _open(small_spi_run)
    clean, _ = compute_features(run)
    with h5py.File(path, "r+") as f:
        d = f["/entry_1/data_1/data"]
        img = d[4]
        img[30:33, 40:43] = np.nan
        img[10, 10] = np.inf
        d[4] = img
        d[7] = np.full(d.shape[1:], np.nan, np.float32)
    from psocake_labeler.io import open_run

    feats, t = compute_features(open_run(path))
    assert np.isfinite(feats).all()
    assert not t.mask_[30:33, 40:43].any() and not t.mask_[10, 10]
    # Masking a handful of pixels hardly moves the other hits in feature space: their
    # distances (what the graph uses) stay; PCA axes of near-equal variance may rotate.
    others = np.setdiff1d(np.arange(len(feats)), [4, 7])
    d_clean, d_masked = pdist(clean[others]), pdist(feats[others])
    assert np.abs(d_masked - d_clean).mean() < 0.05 * d_clean.mean()


def test_saved_transform_applies_to_a_new_run(small_spi_run, second_spi_run, tmp_path):
    run = _open(small_spi_run)
    _, t = compute_features(run)
    with h5py.File(tmp_path / "manifold.h5", "w") as f:
        t.save(f.create_group("features"))
    with h5py.File(tmp_path / "manifold.h5", "r") as f:
        loaded = FeatureTransform.load(f["features"])
    new = _open(second_spi_run)
    a, same = compute_features(new, loaded)
    assert same is loaded and a.shape == (len(new), t.n_features_out_)
    b = t.transform(new.images(slice(None)), mask=new.mask)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


MPI_SCRIPT = r"""
import sys
import numpy as np
from mpi4py import MPI
from psocake_labeler.features import compute_features
from psocake_labeler.io import open_run

comm = MPI.COMM_WORLD
run = open_run(sys.argv[1])
rep = sys.argv[3]
local, t = compute_features(run, comm=comm, representation=rep)
parts = comm.gather(local, root=0)
if comm.Get_rank() == 0:
    serial, t1 = compute_features(run, representation=rep)
    np.savez(sys.argv[2], mpi=np.concatenate(parts), serial=serial,
             mask_mpi=t.mask_, mask_serial=t1.mask_, sizes=[len(p) for p in parts])
"""


@pytest.mark.parametrize("ranks,representation", [(2, "polar"), (3, "image")])
def test_features_do_not_depend_on_rank_count(small_spi_run, tmp_path, ranks, representation):
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) \
        or shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("mpiexec not installed")
    script = tmp_path / "feat_mpi.py"
    script.write_text(MPI_SCRIPT)
    out = tmp_path / "out.npz"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, str(script),
                           str(small_spi_run.path), str(out), representation],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = np.load(out)
    assert list(r["sizes"]) == [len(a) for a in np.array_split(np.arange(300), ranks)]
    np.testing.assert_array_equal(r["mask_mpi"], r["mask_serial"])
    scale = np.abs(r["serial"]).max()
    np.testing.assert_allclose(r["mpi"], r["serial"], rtol=0, atol=1e-5 * scale)


def test_fitted_transform_on_a_run_without_images_says_why(small_spi_run, tmp_path):
    # A saved transform (embed --extend) applied to hits saved without --saveADU.
    from psocake_labeler.errors import NoImagesError
    from psocake_labeler.io import open_run

    run = open_run(small_spi_run.path)
    t = FeatureTransform(bin=4).fit(run)
    copy = tmp_path / "amo06516_0093.cxi"
    shutil.copy(small_spi_run.path, copy)
    with h5py.File(copy, "a") as f:
        del f["entry_1/data_1/data"]
        del f["entry_1/instrument_1/detector_1/data"]
    with pytest.raises(NoImagesError, match="saveADU") as err:
        compute_features(open_run(copy), t)
    assert str(copy) in str(err.value) and "shape None" not in str(err.value)
    # Several runs, the second without images: the message names that one.
    with pytest.raises(NoImagesError, match="saveADU") as err:
        compute_features(open_run([small_spi_run.path, copy]))
    assert str(copy) in str(err.value)
