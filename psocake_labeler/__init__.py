"""psocake-labeler: label XFEL diffraction hits on a diffusion-map manifold.

Public API (see docs/api.md)::

    run = open_run("amo06516_0093.cxi")
    m = build_manifold([run], n_components=10, knn=15)
    s = LabelSession(m, path="labels.h5")
"""
from .errors import (
    ClassNameError,
    DistributedError,
    EmptyRunError,
    InputError,
    LabelerError,
    LayoutError,
    ManifoldMismatchError,
    MissingFileError,
    NoImagesError,
    NotHDF5Error,
)

__version__ = "0.1.0"

__all__ = [
    "ClassNameError", "DistributedError", "EmptyRunError", "InputError", "LabelerError",
    "LayoutError", "ManifoldMismatchError", "MissingFileError", "NoImagesError",
    "NotHDF5Error", "__version__",
]

# Layers are added as they exist; a missing layer must not break the others.
try:
    from .io import Run, open_run  # noqa: F401
    __all__ += ["Run", "open_run"]
except ImportError:  # pragma: no cover
    pass
try:
    from .diffusion import Manifold, build_manifold  # noqa: F401
    __all__ += ["Manifold", "build_manifold"]
except ImportError:  # pragma: no cover
    pass
try:
    from .session import LabelSession, merge_labels  # noqa: F401
    __all__ += ["LabelSession", "merge_labels"]
except ImportError:  # pragma: no cover
    pass
