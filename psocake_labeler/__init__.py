"""psocake-labeler: label XFEL diffraction hits on a diffusion-map manifold.

Public API (docs/architecture.md; DESIGN.md, "Public API")::

    run = open_run("amo06516_0093.cxi")
    m = build_manifold([run], n_components=10, knn=15)
    s = LabelSession(m, path="labels.h5")
"""
from .errors import (
    ClassNameError,
    ConvergenceWarning,
    DistributedError,
    EmptyRunError,
    InputError,
    LabelerError,
    LayoutError,
    ManifoldMismatchError,
    MissingFileError,
    NoImagesError,
    NotFittedError,
    NotHDF5Error,
    WriteError,
)

__version__ = "0.1.0"

__all__ = [
    "ClassNameError", "ConvergenceWarning", "DistributedError", "EmptyRunError", "InputError",
    "LabelerError", "LayoutError", "ManifoldMismatchError", "MissingFileError", "NoImagesError",
    "NotFittedError", "NotHDF5Error", "WriteError", "__version__",
]

from .embedding import DiffusionMap, Manifold, build_manifold  # noqa: E402
from .io import Run, open_run  # noqa: E402
from .labelling.session import LabelSession, merge_labels  # noqa: E402

__all__ += ["DiffusionMap", "LabelSession", "Manifold", "Run", "build_manifold", "merge_labels",
            "open_run"]
