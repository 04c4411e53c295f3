"""FeatureTransform as a scikit-learn estimator: files and features of the code before it.

tests/data/manifold_main_v1* were written by main's code before the change
(tests/data/write_main_v1.py): a manifold whose transform uses q units, the Friedel fill and
a beam search, the features that transform gave a few images, and the features main fitted
on 24 images with three sets of options.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted

from psocake_labeler import Manifold
from psocake_labeler.errors import InputError, NotFittedError
from psocake_labeler.features import FeatureTransform
from psocake_labeler.features.geometry import Geometry

DATA = Path(__file__).parent / "data"
# The defaults main had then (issue 13 changed them since), under every option set.
BEFORE_13 = {"work_size": 64, "beam_search": 0.0, "fill": "ring", "zero_rows": False,
             "units": "pixel", "autocorr": 0.0}
OPTIONS = {"default": BEFORE_13, "image": {**BEFORE_13, "representation": "image", "n_pca": 5},
           "correlation": {**BEFORE_13, "representation": "correlation", "standardize": True,
                           "n_pca": 4}}


def test_a_manifold_saved_by_the_old_code_loads_and_gives_the_same_features():
    m = Manifold.load(DATA / "manifold_main_v1.h5")
    probe = np.load(DATA / "manifold_main_v1_probe.npz")
    t = m.transform
    assert (t.units, t.fill, t.beam_search, t.n_pca) == ("q", "friedel", 2.0, 6)
    images = probe["images"].astype(np.float32)
    # The same up to float32 rounding: the beam-centre search's FFTs are smaller since
    # issue 14 (the same correlation on the candidates, other rounding: < 1e-3 px).
    scale = np.abs(probe["features"]).max()
    np.testing.assert_allclose(t.transform(images), probe["features"], rtol=0,
                               atol=1e-5 * scale)
    other = Geometry(*probe["other_geometry"])
    np.testing.assert_allclose(t.transform(images, geometry=other),
                               probe["features_other_geometry"], rtol=0, atol=1e-5 * scale)


def test_the_old_seed_key_is_read_as_random_state(tmp_path):
    path = tmp_path / "m.h5"
    shutil.copy(DATA / "manifold_main_v1.h5", path)
    with h5py.File(path, "r+") as f:
        params = json.loads(f["transform"].attrs["params"])
        assert "seed" in params and "random_state" not in params   # written before
        params["seed"] = 7
        f["transform"].attrs["params"] = json.dumps(params)
    t = Manifold.load(path).transform
    assert t.random_state == 7
    # Saved again, it is written under its new name and reads back the same.
    with h5py.File(tmp_path / "t.h5", "w") as f:
        t.save(f.create_group("t"))
        assert json.loads(f["t"].attrs["params"])["random_state"] == 7
        assert FeatureTransform.load(f["t"]).get_params() == t.get_params()


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_features_are_the_old_codes_to_float32_rounding(name):
    fits = np.load(DATA / "manifold_main_v1_fits.npz")
    images = fits["images"].astype(np.float32)
    expected = fits[f"fit_{name}"]
    # Bit for bit under the numpy the file was written with; numpy 1.x's FFT rounds float32
    # differently (up to 4e-8 of the largest feature), so that far and no further.
    tol = {"rtol": 0, "atol": 1e-6 * np.abs(expected).max()}
    np.testing.assert_allclose(FeatureTransform(**OPTIONS[name]).fit_transform(images),
                               expected, **tol)
    t = FeatureTransform(**OPTIONS[name]).fit(images)
    np.testing.assert_allclose(t.transform(images), expected, **tol)


def test_estimator_conventions():
    images = np.load(DATA / "manifold_main_v1_fits.npz")["images"][:12].astype(np.float32)
    t = FeatureTransform(representation="zernike", n_pca=3)   # stored, not checked
    assert t.representation == "zernike" and t.get_params()["n_pca"] == 3
    with pytest.raises(InputError, match="zernike"):
        t.fit(images)
    t.set_params(representation="radial")
    c = clone(t)
    assert c.get_params() == t.get_params() and c is not t
    for call in (lambda: c.transform(images), lambda: check_is_fitted(c)):
        with pytest.raises(SklearnNotFittedError):
            call()
    with pytest.raises(NotFittedError, match="not fitted"):
        c.transform(images)
    c.fit(images)
    check_is_fitted(c)
    assert c.mask_.shape == images.shape[1:] and c.components_.shape[0] == c.n_features_out_ == 3
    assert c.transform(images[0]).shape == (1, 3)
    assert not hasattr(t, "mask_")   # clone(t) was fitted, not t
