"""``FeatureTransform``: hit image -> feature vector, a scikit-learn estimator saved with the
manifold.

Per image (``pipeline.py``): bad-pixel mask -> bin -> photon scale + unit RMS -> fill masked
pixels from their ring -> representation (rotation-invariant polar amplitudes by default);
then centre (and optionally standardise) and PCA. Fitting (``fitting.py``) streams the run
block by block; with an MPI communicator every rank reads only its own rows and the
statistics are summed.
"""
from __future__ import annotations

import json
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .._parallel import block_range
from ..errors import InputError, LayoutError, check_fitted
from ..io.schema import SCHEMA_FEATURES as SCHEMA
from ..progress import ProgressCallback
from . import centering
from . import representations as rep
from .brightness import hit_columns
from .fitting import Fit, fit_run
from .frames import part_frames
from .geometry import Geometry, part_geometries
from .pipeline import ImagePipeline
from .stream import ImageArray, Tracker, as_source, iter_part_blocks, require_images

SCHEMA_VERSION = 1
UNITS = ("auto", "pixel", "q")
FILLS = ("ring", "friedel", "masked")
CENTRES = centering.CENTRES
# Parameter names of files written before the estimator, and their names now.
RENAMED = {"seed": "random_state"}
# Parameters added after files were first written, and what those files were made with:
# a file without one loads (and extends other runs) as it was fitted, not with today's
# default.
BEFORE = {"beam_search": 0.0, "fill": "ring", "zero_rows": False, "units": "pixel",
          "q_fraction": 0.85, "autocorr": 0.0, "classifier_autocorr": False,
          "centre": "friedel"}


class FeatureTransform(TransformerMixin, BaseEstimator):
    """Image -> float32 feature vector, with run-wide mask statistics and PCA.

    ``fit``, ``transform`` and ``fit_transform`` take the same input ``X``: a run (anything
    read like one: ``len``, ``images(sel)``, ``image_shape``, ``mask``, ``center``, e.g.
    :class:`~psocake_labeler.io.Run`), or an images array ``(n, H, W)`` (one image
    ``(H, W)``) with no file mask and the beam in the middle. With an MPI ``comm`` each rank
    reads, and gets the features of, rows ``block_range(len(X), size, rank)``; the fit uses
    every rank's rows. Parameters are stored as given and checked in :meth:`fit`
    (:class:`~psocake_labeler.errors.InputError`); docs/features.md explains each.

    Parameters
    ----------
    representation : "polar", "correlation", "radial" or "image", default "polar"
    bin : int or None
        Binning factor; None: the smallest giving at most ``work_size`` pixels.
    work_size : int, default 128
        Working resolution (pixels along the longer side).
    photon : "sqrt", "log" or "none", default "sqrt"
        Photon-count scale, then unit RMS per hit.
    n_pca : int, default 40
        PCA dimension (0: no PCA).
    standardize : bool, default False
        Divide each pre-PCA feature by its run-wide standard deviation.
    n_rings, n_angles, n_harmonics, band
        Polar rings (None: one per working pixel of radius), samples per ring, angular
        harmonics kept per ring, rings compared by ``correlation``.
    mask_sample, detect_bad_pixels, hot_sigma, hot_fraction
        Images sampled to find non-finite / dead / hot pixels, and the hot-pixel test.
    random_state : int, default 0
        Start of the randomized PCA (large D only). Files written before it was named so
        keep it as ``seed``; :meth:`load` reads both.
    beam_search : float or "auto", default "auto"
        Find each hit's beam centre within this many image pixels (0: off); "auto": three
        times the run's beam jitter measured on a sample, 6 to 16 pixels
        (``frames.auto_search``; the value used is ``beam_search_``).
    centre : "rings" or "friedel", default "rings"
        How the search places each hit's beam: the centre of the rings that best explain
        its good pixels (``ringfit``; Friedel symmetry where that finds none), or Friedel
        symmetry (the ring fit where too few mirror pairs are good).
    fill : "ring", "friedel" or "masked", default "friedel"
        Masked pixels: ring mean; Friedel mate then ring mean; or Friedel mate, then each
        ring's mean and angular spectrum from its known part only (polar representation).
    zero_rows : bool, default True
        Mask blocks of rows reading exactly 0 in one event.
    units : "pixel", "q" or "auto", default "auto"
        Polar rings in pixels or in q (from the run's geometry); "auto": q when the run has
        its geometry, else pixels (one log line, no error).
    q_fraction : float, default 0.85
        q units: rings out to this fraction of the inscribed circle.
    autocorr : float, default 2
        Weight of the radial profile of each hit's masked autocorrelation (shift invariant;
        features/autocorr.py) appended to the representation before the PCA; 0: none.
    classifier_autocorr : bool, default True
        Keep each hit's autocorrelation profile beside its brightness, for the labels'
        classifier (``with_brightness`` outputs; labelling/inputs.py); the graph sees the
        profile only through ``autocorr``.

    Attributes
    ----------
    image_shape_, center_, mask_ : the fitted detector shape, beam centre, good pixels
    bin_ : int, the binning factor used;  binned_center_ : beam centre in working pixels
    geometry_, q_edges_ : the fitted run's Geometry and q ring edges (q units; else None)
    mean_, scale_ : centring and scaling of the pre-PCA features
    components_, explained_variance_ : PCA (None when ``n_pca=0``)
    n_features_out_ : int, the output dimension d
    """

    def __init__(self, representation: str = "polar", bin: int | None = None,
                 work_size: int = 128, photon: str = "sqrt", n_pca: int = 40,
                 standardize: bool = False, n_rings: int | None = None, n_angles: int = 64,
                 n_harmonics: int = 16, band: int = 2, mask_sample: int = 500,
                 detect_bad_pixels: bool = True, hot_sigma: float = 6.0,
                 hot_fraction: float = 0.9, random_state: int = 0,
                 beam_search: float | str = "auto", fill: str = "friedel",
                 zero_rows: bool = True, units: str = "auto", q_fraction: float = 0.85,
                 autocorr: float = 2.0, classifier_autocorr: bool = True,
                 centre: str = CENTRES[0]) -> None:
        self.representation = representation
        self.bin = bin
        self.work_size = work_size
        self.photon = photon
        self.n_pca = n_pca
        self.standardize = standardize
        self.n_rings = n_rings
        self.n_angles = n_angles
        self.n_harmonics = n_harmonics
        self.band = band
        self.mask_sample = mask_sample
        self.detect_bad_pixels = detect_bad_pixels
        self.hot_sigma = hot_sigma
        self.hot_fraction = hot_fraction
        self.random_state = random_state
        self.beam_search = beam_search
        self.fill = fill
        self.zero_rows = zero_rows
        self.units = units
        self.q_fraction = q_fraction
        self.autocorr = autocorr
        self.classifier_autocorr = classifier_autocorr
        self.centre = centre

    @classmethod
    def from_options(cls, **options: Any) -> FeatureTransform:
        """``FeatureTransform(**options)``, an unknown name being one clear InputError."""
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise InputError(f"unknown feature option(s) {', '.join(unknown)}; "
                             f"known: {', '.join(DEFAULTS)}")
        return cls(**options)

    def _checked_params(self) -> dict[str, Any]:
        """The parameters, or one InputError naming the first bad value."""
        p = self.get_params()
        if p["representation"] not in rep.REPRESENTATIONS:
            raise InputError(f"unknown feature representation {p['representation']!r}; "
                             f"use one of {', '.join(rep.REPRESENTATIONS)}")
        if p["photon"] not in rep.PHOTON_SCALES:
            raise InputError(f"unknown photon scale {p['photon']!r}; "
                             f"use one of {', '.join(rep.PHOTON_SCALES)}")
        if p["bin"] is not None and int(p["bin"]) < 1:
            raise InputError(f"feature option bin must be >= 1, not {p['bin']}")
        if p["fill"] not in FILLS:
            raise InputError(f"unknown fill {p['fill']!r}; use one of {', '.join(FILLS)}")
        if p["centre"] not in CENTRES:
            raise InputError(f"unknown centre {p['centre']!r}; use one of {', '.join(CENTRES)}")
        if p["units"] not in UNITS:
            raise InputError(f"unknown units {p['units']!r}; use one of {', '.join(UNITS)}")
        if not 0 < float(p["q_fraction"]) <= 1:
            raise InputError(f"q_fraction must be in (0, 1], not {p['q_fraction']}")
        search = p["beam_search"]
        if search != "auto" and (isinstance(search, (bool, str)) or not isinstance(search, Real)
                                 or not 0 <= float(search) <= 64):
            raise InputError(f"beam_search must be 0-64 pixels or 'auto', not {search!r}")
        if isinstance(p["autocorr"], bool) or not isinstance(p["autocorr"], Real) or \
                not 0 <= float(p["autocorr"]) <= 100:
            raise InputError(f"autocorr must be a weight in [0, 100], not {p['autocorr']!r}")
        if not isinstance(p["classifier_autocorr"], (bool, np.bool_)):
            raise InputError(f"classifier_autocorr must be true or false, not "
                             f"{p['classifier_autocorr']!r}")
        if int(p["n_pca"]) < 0:
            raise InputError(f"feature option n_pca must be >= 0, not {p['n_pca']}")
        seed = p["random_state"]
        if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
            raise InputError(f"random_state must be an integer >= 0, got {seed!r}")
        for name in ("hot_sigma", "hot_fraction"):
            if isinstance(p[name], bool) or not isinstance(p[name], Real):
                raise InputError(f"feature option {name} must be a number, not {p[name]!r}")
        return p

    # -- fitted state -----------------------------------------------------------------
    def _set_fitted(self, fit: Fit) -> None:
        pipe = fit.pipeline
        self.pipeline_ = pipe
        self.image_shape_ = pipe.image_shape
        self.center_ = pipe.center
        self.mask_ = pipe.mask
        self.bin_ = pipe.bin
        self.binned_center_ = pipe.binned_center
        self.beam_search_ = float(pipe.params["beam_search"])
        self.geometry_ = pipe.geometry
        self.q_edges_ = pipe.q_edges
        self.mean_ = fit.mean
        self.scale_ = fit.scale
        self.components_ = fit.components
        self.explained_variance_ = fit.explained_variance
        self.n_features_out_ = int(fit.mean.size if fit.components is None
                                   else fit.components.shape[0])

    def _project(self, raw: np.ndarray) -> np.ndarray:
        """Centre, scale and project pre-PCA features: ``(n, D) -> (n, d)`` float32."""
        z = (np.asarray(raw, dtype=np.float64) - self.mean_) / self.scale_
        if self.components_ is not None:
            z = z @ self.components_.T
        return z.astype(np.float32)

    # -- the estimator ----------------------------------------------------------------
    def fit(self, X: Any, y: None = None, comm: Any = None,
            progress: ProgressCallback | None = None) -> FeatureTransform:
        """Find bad pixels and the PCA over all of ``X`` (all ranks of ``comm``)."""
        params = self._checked_params()
        self._set_fitted(fit_run(params, as_source(X), comm, Tracker(progress), keep=False))
        return self

    def fit_transform(self, X: Any, y: None = None, comm: Any = None,
                      progress: ProgressCallback | None = None,
                      with_brightness: bool = False) -> Any:
        """Fit on ``X``, then its features (this rank's rows): ``fit(X).transform(X)``,
        without a second read of ``X`` when its pre-PCA features fit in memory.
        ``with_brightness``: ``(features, columns)``, the columns float32 ``(n, 3 + 40)``:
        each hit's brightness and reliability (``HIT_COLUMNS``, features/brightness.py),
        then its autocorrelation profile (``(n, 3)`` with ``classifier_autocorr=False``),
        from the same read."""
        params = self._checked_params()
        source = as_source(X)
        tracker = Tracker(progress)
        fit = fit_run(params, source, comm, tracker, keep=True, brightness=with_brightness)
        self._set_fitted(fit)
        if fit.local is not None:
            out = self._project(fit.local)
        else:
            out, _ = self._transform_rows(source, comm, tracker, None, None, False)
        return (out, fit.brightness) if with_brightness else out

    def transform(self, X: Any, mask: np.ndarray | None = None,
                  geometry: Geometry | None = None, comm: Any = None,
                  progress: ProgressCallback | None = None,
                  with_brightness: bool = False) -> Any:
        """Features of ``X`` (this rank's rows): float32 ``(n, d)``.

        ``mask`` (bool ``(H, W)``, True = good) is combined with the fitted mask; for a run
        it defaults to the run's file mask. ``geometry`` (q units only) is that of the
        images when it differs from the fitted run's; for a run it is read from the run.
        ``with_brightness``: ``(features, columns)`` as :meth:`fit_transform` gives them,
        both from one read of the images.
        """
        check_fitted(self, "mean_")
        out, bright = self._transform_rows(as_source(X), comm, Tracker(progress), mask,
                                           geometry, with_brightness)
        return (out, bright) if with_brightness else out

    def _transform_rows(self, source, comm, tracker: Tracker, mask, geometry,
                        with_brightness: bool) -> tuple[np.ndarray, np.ndarray | None]:
        size, rank = (1, 0) if comm is None else (comm.Get_size(), comm.Get_rank())
        start, stop = block_range(len(source), size, rank)
        frames = [(len(source), (geometry, self.pipeline_))]
        if not isinstance(source, ImageArray):
            require_images(source)
            if mask is None:
                mask = source.mask
            # each run's own geometry and beam centre (several runs may differ)
            units = "pixel" if self.q_edges_ is None else self.units
            parts = [(len(source), geometry)] if geometry is not None else \
                part_geometries(source, units, self.geometry_)
            if rank == 0:
                runs = getattr(source, "runs", None) or [source]
                for run, (_, g) in zip(runs, parts):
                    self.pipeline_.warn_coarse(getattr(run, "path", "the run"), g)
            frames = part_frames(self.pipeline_, source, parts, (start, stop), comm, mask,
                                 auto=self.beam_search == "auto")
        if tuple(source.image_shape) != self.image_shape_:
            raise InputError(f"{getattr(source, 'path', 'the run')}: images of shape "
                             f"{tuple(source.image_shape)} do not match the "
                             f"{self.image_shape_} images the feature transform was fitted "
                             f"on; embed this detector separately")
        tracker.plan(stop - start)
        out = np.zeros((stop - start, self.n_features_out_), dtype=np.float32)
        bright = np.zeros((stop - start, self.pipeline_.n_hit_columns), dtype=np.float32) \
            if with_brightness else None
        good = self.mask_ if mask is None else self.mask_ & np.asarray(mask, dtype=bool)
        row = 0
        for images, (geometry, pipe) in iter_part_blocks(source, start, stop, frames):
            if bright is None:
                raw = pipe.raw_features(images, mask, geometry)
            else:
                raw, rel, prof = pipe.hit_outputs(images, mask, geometry)
                bright[row:row + len(images)] = hit_columns(images, good, rel, prof)
            out[row:row + len(images)] = self._project(raw)
            row += len(images)
            tracker.add(len(images))
        return out, bright

    def raw_features(self, images: np.ndarray, mask: np.ndarray | None = None,
                     geometry: Geometry | None = None) -> np.ndarray:
        """float32 ``(n, D)`` representation of images before centring and PCA."""
        check_fitted(self, "pipeline_")
        return self.pipeline_.raw_features(images, mask, geometry)

    # -- persistence --------------------------------------------------------------------
    def save(self, group) -> None:
        """Write parameters, mask, geometry and PCA into an open ``h5py.Group``."""
        check_fitted(self, "mean_")
        group.attrs["schema"] = SCHEMA
        group.attrs["schema_version"] = SCHEMA_VERSION
        group.attrs["params"] = json.dumps(self.get_params())
        group.attrs["beam_search_used"] = self.beam_search_
        group.create_dataset("image_shape", data=np.array(self.image_shape_, np.int64))
        group.create_dataset("center", data=np.array(self.center_, np.float64))
        group.create_dataset("mask", data=self.mask_, compression="gzip")
        group.create_dataset("mean", data=self.mean_)
        group.create_dataset("scale", data=self.scale_)
        if self.components_ is not None:
            group.create_dataset("components", data=self.components_)
            group.create_dataset("explained_variance", data=self.explained_variance_)
        if self.q_edges_ is not None:
            group.create_dataset("q_edges", data=self.q_edges_)
            group.create_dataset("geometry", data=np.array(self.geometry_.as_list()))

    @classmethod
    def load(cls, group) -> FeatureTransform:
        """Rebuild a fitted transform written by :meth:`save` (by this or an earlier
        release: a parameter saved under its old name is read under its new one)."""
        name = getattr(group, "name", "group")
        file = getattr(getattr(group, "file", None), "filename", "")
        schema = group.attrs.get("schema")
        if isinstance(schema, bytes):
            schema = schema.decode()
        if schema != SCHEMA or "params" not in group.attrs:
            raise LayoutError(f"{file}:{name} is not a saved feature transform "
                              f"(schema {SCHEMA!r} missing); re-run embed")
        version = int(group.attrs.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise LayoutError(f"{file}:{name} was written by a newer psocake-labeler "
                              f"(feature transform v{version}); upgrade to read it")
        saved = {**BEFORE, **{RENAMED.get(k, k): v
                              for k, v in json.loads(group.attrs["params"]).items()}}
        self = cls(**{k: v for k, v in saved.items() if k in DEFAULTS})
        geometry = Geometry(*group["geometry"][()]) if "geometry" in group else None
        params = self._checked_params()
        if params["beam_search"] == "auto":     # the search the fit measured, not a new one
            params["beam_search"] = float(group.attrs["beam_search_used"])
        pipe = ImagePipeline(params, tuple(group["image_shape"][()]),
                             tuple(group["center"][()]), group["mask"][()], geometry,
                             group["q_edges"][()] if "q_edges" in group else None)
        has_pca = "components" in group
        self._set_fitted(Fit(pipe, group["mean"][()], group["scale"][()],
                             group["components"][()] if has_pca else None,
                             group["explained_variance"][()] if has_pca else None, None))
        return self


# Every parameter and its default, from the signature (the one place they are defined).
DEFAULTS: dict[str, Any] = FeatureTransform().get_params()
