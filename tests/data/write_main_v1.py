"""Writes tests/data/manifold_main_v1*: run with main's code at commit 3c44bb9, in tests/data,
before FeatureTransform became an estimator (its saved params hold the old "seed" key).
"""
import numpy as np

import psocake_labeler as pl
from psocake_labeler.features import compute_features
from psocake_labeler.features.geometry import Geometry
from psocake_labeler.simulate import simulate_run

sim = simulate_run("old_run.cxi", hits=40, shape=(48, 48), seed=3, run=93)
run = pl.open_run(sim.path)
m = pl.build_manifold(run, n_components=3, knn=6, units="q", n_pca=6, beam_search=2.0,
                      fill="friedel")
m.save("manifold_main_v1.h5")
m2 = pl.Manifold.load("manifold_main_v1.h5")
images = np.round(run.images(np.arange(0, 40, 5))).astype(np.int32)
t = m2.transform
other = Geometry(0.00609375 * 1.1, 7.5e-05, 1600.0)
np.savez_compressed("manifold_main_v1_probe.npz", images=images,
                    features=t.transform(images.astype(np.float32)),
                    features_other_geometry=t.transform(images.astype(np.float32), geometry=other),
                    other_geometry=np.array(other.as_list()))
print(m, t.params)

# Features main's code fits on these 24 images (no file mask, centre in the middle), to check
# that the estimator gives the same bits for the same options.
class ArrayRun:
    def __init__(self, x):
        self._x, self.mask, self.path = x, None, "<array>"
        self.image_shape = x.shape[1:]
        self.center = ((x.shape[1] - 1) / 2, (x.shape[2] - 1) / 2)

    def __len__(self):
        return len(self._x)

    def images(self, sel=slice(None)):
        return self._x[sel].copy()


train = np.round(run.images(slice(0, 24))).astype(np.int32)
fits = {}
for name, opts in {"default": {}, "image": {"representation": "image", "n_pca": 5},
                   "correlation": {"representation": "correlation", "standardize": True,
                                   "n_pca": 4}}.items():
    fits[f"fit_{name}"] = compute_features(ArrayRun(train.astype(np.float32)), **opts)[0]
np.savez_compressed("manifold_main_v1_fits.npz", images=train, **fits)
