"""What the labels' classifier reads per event, beside the features the graph is built from.

The features remove brightness by design (unit RMS per hit), yet some classes differ mainly
by it (a faint particle from a single). The manifold keeps, for the classifier only, each
hit's brightness (features/brightness.py) and, in files made since ``classifier_autocorr``
existed, the 40 values of its autocorrelation radial profile (features/autocorr.py).

:func:`classifier_inputs` appends a cubic B-spline basis of each brightness column to the
features: a class may then be both dimmer and brighter than its neighbours (the "unknown"
class holds faint and contaminated particles), which one linear term cannot say. The
profile columns follow as they are (the classifier standardises every column). The profile
needs no beam centre and tells the envelope of a faint pattern, which the polar features,
resampled about a centre found on a few hundred photons, blur. In the graph's features it
made the k-NN graph worse where the polar features work (rare singles, the dead half;
docs/features.md), so it is the classifier's alone.
"""
from __future__ import annotations

import numpy as np

#: Knots of the spline basis of each brightness column (quantiles of the run).
BRIGHTNESS_KNOTS = 5


def classifier_inputs(features: np.ndarray | None, brightness: np.ndarray | None = None,
                      profile: np.ndarray | None = None) -> np.ndarray | None:
    """The classifier's inputs: ``features``, with a cubic B-spline basis of each
    ``brightness`` column appended (knots at the run's quantiles), then the ``profile``
    columns as they are. Brightness columns with too few distinct values for the knots are
    left out; a brightness or profile of another length than the features is ignored;
    neither: the features as they are."""
    if features is None:
        return None
    parts = [np.asarray(features, dtype=np.float32)]
    if brightness is not None and len(brightness) == len(features):
        parts += _spline_basis(np.asarray(brightness, dtype=np.float64))
    if profile is not None and len(profile) == len(features):
        parts.append(np.asarray(profile, dtype=np.float32).reshape(len(features), -1))
    return features if len(parts) == 1 else np.hstack(parts)


def manifold_inputs(manifold) -> np.ndarray | None:
    """:func:`classifier_inputs` of a manifold's features, brightness and profile (each
    None where the manifold has none)."""
    return classifier_inputs(getattr(manifold, "features", None),
                             getattr(manifold, "brightness", None),
                             getattr(manifold, "profile", None))


def _spline_basis(b: np.ndarray) -> list[np.ndarray]:
    """[float32 basis of the usable columns of ``b``], or [] when none is usable."""
    from sklearn.preprocessing import SplineTransformer

    b = b.reshape(len(b), -1)
    sample = b[np.random.default_rng(0).choice(len(b), min(len(b), 20000), replace=False)]
    usable = [j for j in range(b.shape[1])
              if np.unique(sample[:, j]).size >= 2 * BRIGHTNESS_KNOTS]
    if not usable:
        return []
    spline = SplineTransformer(n_knots=BRIGHTNESS_KNOTS, degree=3, knots="quantile")
    spline.fit(sample[:, usable])
    return [spline.transform(b[:, usable]).astype(np.float32)]
