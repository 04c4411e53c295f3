"""Exceptions for expected failures.

Every error a user can cause (a bad file, a bad class name, a crashed rank) is a
``LabelerError``; the command line prints its message and exits with code 2, with no
traceback. Anything else is a bug and keeps its traceback.
"""
from sklearn.exceptions import NotFittedError as SklearnNotFittedError


class LabelerError(Exception):
    """Base of all expected errors; the message says what happened and what to do."""


class InputError(LabelerError):
    """A file or value given to the labeler cannot be used."""


class MissingFileError(InputError, FileNotFoundError):
    """The named file or folder does not exist."""


class NotHDF5Error(InputError):
    """The file exists but is not (or no longer) a readable HDF5 file."""


class LayoutError(InputError):
    """The HDF5 file lacks a dataset we need, or datasets disagree in length."""


class NoImagesError(InputError):
    """The file holds hit metadata but no images (e.g. "Save hits" without --saveADU)."""


class EmptyRunError(InputError):
    """The run holds no hits."""


class NotFittedError(InputError, SklearnNotFittedError):
    """An estimator (``FeatureTransform``, ``DiffusionMap``) was used before ``fit``.

    Also a scikit-learn ``NotFittedError``, so code written for scikit-learn catches it.
    """


def check_fitted(estimator: object, attribute: str) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has the fitted ``attribute``."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(f"this {type(estimator).__name__} is not fitted: call fit(...) "
                             f"first, or load a fitted one")


class ClassNameError(LabelerError, ValueError):
    """An unknown, duplicate or empty class name."""


class ManifoldMismatchError(LabelerError):
    """A label file was made for another manifold."""


class WriteError(LabelerError):
    """A file could not be written (full disk, quota, permissions); nothing was lost."""


class DistributedError(LabelerError):
    """A rank of an MPI job failed; the message names the rank and the cause."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at its iteration limit before reaching its tolerance.

    The result is still returned (the best iterate), as scikit-learn does with its own
    ``ConvergenceWarning``; the message says which solver and how far it got.
    """


class DisplayError(LabelerError):
    """Qt cannot open the display (missing system libraries, or no X server answers)."""
