"""Hit image -> feature vector (see docs/features.md).

``FeatureTransform`` (a scikit-learn estimator) does mask, binning, photon scaling, a
rotation-invariant representation and PCA; ``compute_features`` streams a run through it,
split over MPI ranks.
"""
from .compute import compute_features
from .representations import PHOTON_SCALES, REPRESENTATIONS
from .transform import DEFAULTS, FeatureTransform

__all__ = ["DEFAULTS", "FeatureTransform", "PHOTON_SCALES", "REPRESENTATIONS",
           "compute_features"]
