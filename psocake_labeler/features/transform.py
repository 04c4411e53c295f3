"""``FeatureTransform``: hit image -> feature vector, fitted on a run, saved with the manifold.

Pipeline per image: bad-pixel mask -> bin -> photon scale + unit RMS -> fill masked pixels
from their ring -> representation (rotation-invariant polar amplitudes by default) ->
centre (and optionally standardise) -> PCA. Fitting streams the run block by block; with an
MPI communicator every rank reads only its own rows and the statistics are summed.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from .._parallel import block_range
from ..errors import EmptyRunError, InputError, LayoutError
from ..io.schema import SCHEMA_FEATURES as SCHEMA
from . import centering
from . import representations as rep
from .geometry import Geometry, hole_radius, ring_layout, run_geometry
from .masking import MIN_SAMPLE, PixelStats
from .reduction import COV_MAX_DIM, Moments, allreduce, pca_from_moments, randomized_pca
from .stream import Tracker, chunk_rows, iter_blocks, require_images

SCHEMA_VERSION = 1
# Keep this rank's pre-PCA features in memory (to avoid a second read) below this size.
CACHE_BYTES = 256 * 2 ** 20
# At most this many pixels (summed over sampled images) go into the bad-pixel statistics.
MASK_PIXELS = 2 ** 26

DEFAULTS: dict[str, Any] = {
    "representation": "polar",   # polar | correlation | radial | image
    "bin": None,                 # binning factor; None: smallest giving <= work_size pixels
    "work_size": 64,             # working resolution (pixels along the longer side)
    "photon": "sqrt",            # sqrt | log | none, then unit RMS per hit
    "n_pca": 40,                 # PCA dimension (0: no PCA)
    "standardize": False,        # divide each pre-PCA feature by its run-wide std
    "n_rings": None,             # polar rings; None: one per working pixel of radius
    "n_angles": 64,              # polar samples per ring
    "n_harmonics": 16,           # angular Fourier harmonics kept per ring
    "band": 2,                   # correlation: rings up to this far apart
    "mask_sample": 500,          # images sampled to find non-finite / dead / hot pixels
    "detect_bad_pixels": True,
    "hot_sigma": 6.0,
    "hot_fraction": 0.9,
    "seed": 0,                   # randomized PCA start (large D only)
    "beam_search": 0.0,          # find each hit's beam centre within this many pixels (0: off)
    "fill": "ring",              # masked pixels: "ring" mean, or "friedel" mate, then ring
    "zero_rows": False,          # mask blocks of rows reading exactly 0 in one event
    "units": "pixel",            # polar rings in "pixel" or "q" (from the run's geometry)
    "q_fraction": 0.85,          # q units: rings out to this fraction of the inscribed circle
}
UNITS = ("pixel", "q")
FILLS = ("ring", "friedel")


class FeatureTransform:
    """Image -> float32 feature vector, with run-wide mask statistics and PCA.

    Parameters
    ----------
    **options
        Any of :data:`DEFAULTS` (see docs/features.md); unknown names raise
        :class:`~psocake_labeler.errors.InputError`.
    """

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise InputError(f"unknown feature option(s) {', '.join(unknown)}; "
                             f"known: {', '.join(DEFAULTS)}")
        self.params: dict[str, Any] = {**DEFAULTS, **options}
        p = self.params
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
        if p["units"] not in UNITS:
            raise InputError(f"unknown units {p['units']!r}; use one of {', '.join(UNITS)}")
        if not 0 < float(p["q_fraction"]) <= 1:
            raise InputError(f"q_fraction must be in (0, 1], not {p['q_fraction']}")
        if not 0 <= float(p["beam_search"]) <= 64:
            raise InputError(f"beam_search must be 0-64 pixels, not {p['beam_search']}")
        if int(p["n_pca"]) < 0:
            raise InputError(f"feature option n_pca must be >= 0, not {p['n_pca']}")
        self.image_shape: tuple[int, int] | None = None
        self.center: tuple[float, float] | None = None
        self.mask: np.ndarray | None = None
        self.mean = self.scale = self.components = self.explained_variance = None
        self.geometry: Geometry | None = None
        self.q_edges: np.ndarray | None = None
        self._pmats: dict = {}

    # -- geometry -------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        """True once :meth:`fit` (or :meth:`load`) has set the mask and the PCA."""
        return self.mean is not None

    @property
    def n_features(self) -> int:
        """Output dimension d (valid once fitted)."""
        if self.components is not None:
            return int(self.components.shape[0])
        return 0 if self.mean is None else int(self.mean.size)

    def _set_geometry(self, shape, center, mask, geometry: Geometry | None = None,
                      q_edges: np.ndarray | None = None) -> None:
        self.image_shape = (int(shape[0]), int(shape[1]))
        self.center = (float(center[0]), float(center[1]))
        self.mask = np.asarray(mask, dtype=bool)
        p = self.params
        b = p["bin"]
        if b is None:
            b = max(1, max(self.image_shape) // int(p["work_size"]))
        b = int(b)
        if b > min(self.image_shape):
            raise InputError(f"bin {b} is larger than the image {self.image_shape}")
        self._bin = b
        hb, wb = self.image_shape[0] // b, self.image_shape[1] // b
        self._bshape = (hb, wb)
        self._bcenter = rep.binned_center(self.center, b)
        cy, cx = self._bcenter
        # Largest circle inside the working image: every ring is fully observed.
        r_max = min(cy + 0.5, hb - 0.5 - cy, cx + 0.5, wb - 0.5 - cx)
        if r_max < 2 and p["representation"] != "image":
            raise InputError(f"beam centre {self.center} lies outside (or at the edge of) the "
                             f"{self.image_shape} image, so there are no rings to resample; "
                             f"fix the geometry or use representation='image'")
        # A hit's own beam centre may lie beam_search pixels off: its rings stay inside the
        # image, and start outside the beam hole, which would otherwise move with the beam
        # relative to the rings and become the feature.
        search = float(p["beam_search"]) / b
        self._r_max = float(r_max) - search
        q = p["units"] == "q"
        # q units: rings start a margin outside the beam hole, so that a run at another
        # distance (whose hole covers other q) does not have part of the hole in its rings.
        r_start = 1.25 * hole_radius(self.mask, b, self._bcenter) if q else 0.0
        # q units: rings out to q_fraction of the circle, so that a run at a somewhat longer
        # distance (or lower energy) still sees every ring.
        top = self._r_max * (float(p["q_fraction"]) if q else 1.0)
        if top - r_start < 2 and p["representation"] != "image":
            raise InputError(f"beam_search {p['beam_search']} leaves no rings inside the "
                             f"{self.image_shape} image; use a smaller search")
        self._n_rings = int(p["n_rings"] or max(2, int(round(top - r_start))))
        self.geometry = geometry if q else None
        self._edges, self.q_edges = ring_layout(r_start, top, self._n_rings, b, self.geometry,
                                                q_edges)
        self._fill = rep.RingFiller(self._bshape, self._bcenter)
        self._pmat = None
        self._pmats = {}
        if p["representation"] != "image":
            self._pmat = rep.polar_matrix(self._bshape, self._bcenter, self._n_rings,
                                          int(p["n_angles"]), top, self._edges)

    def _edges_for(self, geometry: Geometry | None) -> np.ndarray:
        """Ring edges (working pixels) for a run of ``geometry``: the same q rings."""
        if self.q_edges is None or geometry is None or geometry == self.geometry:
            return self._edges
        return geometry.radius_of_q(self.q_edges) / self._bin

    def _polar_for(self, geometry: Geometry | None):
        """The polar operator for a run of ``geometry``."""
        if self.q_edges is None or geometry is None or geometry == self.geometry:
            return self._pmat
        if geometry not in self._pmats:
            edges = self._edges_for(geometry)
            self._pmats[geometry] = rep.polar_matrix(
                self._bshape, self._bcenter, self._n_rings, int(self.params["n_angles"]),
                float(edges[-1]), edges)
        return self._pmats[geometry]

    # -- per-image features -----------------------------------------------------------
    def raw_features(self, images: np.ndarray, mask: np.ndarray | None = None,
                     geometry: Geometry | None = None) -> np.ndarray:
        """float32 ``(n, D)`` representation before centring and PCA.

        ``geometry`` (q units only): the images' detector distance, pixel size and energy,
        when they differ from the run the transform was fitted on.

        ``mask`` (bool ``(H, W)``, True = good) is combined with the fitted mask, e.g. the
        file mask of a new run. Non-finite pixels are masked image by image.
        """
        if self.image_shape is None:
            raise InputError("this FeatureTransform is not fitted: call fit(run) or load() first")
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3 or images.shape[1:] != self.image_shape:
            got = images.shape[1:] if images.ndim == 3 else images.shape
            raise InputError(f"images of shape {got} do not match the {self.image_shape} "
                             f"images this feature "
                             f"transform was fitted on; embed this detector separately")
        good = self.mask if mask is None else self.mask & np.asarray(mask, dtype=bool)
        p = self.params
        if p["zero_rows"]:
            good = good[None] & ~centering.zero_rows(images, good, max(2, images.shape[1] // 16))
        values, ok = rep.bin_images(images, good, self._bin)
        v = rep.photon_scale(values, ok, p["photon"])
        off, v, ok = self._centre_and_mirror(v, ok)
        v = self._fill(v, ok)
        kind = p["representation"]
        if kind == "image":
            out = v.reshape(len(v), -1)
        else:
            polar = self._polar(v, off, geometry)
            if self.q_edges is not None:
                # Unit RMS over the q range the rings cover, not over the image: a run at
                # another distance sees another q range, whose RMS would set the scale.
                polar = rep.unit_rms(polar)
            if kind == "radial":
                out = polar.mean(axis=2)
            elif kind == "polar":
                out = rep.polar_features(polar, int(p["n_harmonics"]))
            else:
                out = rep.correlation_features(polar, int(p["n_harmonics"]), int(p["band"]))
        # Belt and braces: nothing non-finite may reach the distances.
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)

    def beam_offsets(self, v: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Per-hit beam-centre offsets (working pixels) of photon-scaled working images."""
        search = float(self.params["beam_search"]) / self._bin
        if search <= 0:
            return np.zeros((len(v), 2))
        return centering.beam_offsets(v, ok, self._bcenter, search)

    def _centre_and_mirror(self, v: np.ndarray, ok: np.ndarray):
        """Each hit's beam offset; bad pixels filled from their Friedel mates if asked."""
        off = self.beam_offsets(v, ok)
        if self.params["fill"] == "friedel":
            v, ok = centering.friedel_fill(v, ok, off + np.asarray(self._bcenter))
            # Unit RMS again over the filled image: a half-missing hit was scaled on the
            # half that holds the bright centre, and would look brighter than it is.
            v = rep.photon_scale(v, ok, "none")
        return off, v, ok

    def _polar(self, v: np.ndarray, off: np.ndarray, geometry: Geometry | None) -> np.ndarray:
        """Polar grids of filled working images, each about its own beam centre."""
        if not np.any(off):
            return rep.polar_images(v, self._polar_for(geometry), self._n_rings)
        edges = self._edges_for(geometry)
        pts = rep.polar_points(self._n_rings, int(self.params["n_angles"]), edges[-1], edges)
        return rep.polar_at(v, off + np.asarray(self._bcenter), pts, self._n_rings,
                            int(self.params["n_angles"]))

    def project(self, raw: np.ndarray) -> np.ndarray:
        """Centre, scale and project pre-PCA features: ``(n, D) -> (n, d)`` float32."""
        z = (np.asarray(raw, dtype=np.float64) - self.mean) / self.scale
        if self.components is not None:
            z = z @ self.components.T
        return z.astype(np.float32)

    def transform(self, images: np.ndarray, mask: np.ndarray | None = None,
                  geometry: Geometry | None = None) -> np.ndarray:
        """Features of images ``(n, H, W)`` (or one ``(H, W)``): float32 ``(n, d)``."""
        if not self.fitted:
            raise InputError("this FeatureTransform is not fitted: call fit(run) or load() first")
        return self.project(self.raw_features(images, mask, geometry))

    # -- fitting ------------------------------------------------------------------------
    def fit(self, run, comm=None, progress=None) -> FeatureTransform:
        """Find bad pixels and the PCA over the whole run (all ranks of ``comm``)."""
        self._fit(run, comm, Tracker(progress), keep=False)
        return self

    def _fit(self, run, comm, tracker: Tracker, keep: bool) -> np.ndarray | None:
        """Fit; return this rank's pre-PCA features when ``keep`` and they fit in memory."""
        n = len(run)
        path = getattr(run, "path", "the run")
        if n == 0:
            raise EmptyRunError(f"{path}: the run holds no hits, so there is nothing to embed")
        require_images(run)
        shape = run.image_shape
        file_mask = run.mask
        if file_mask is None:
            file_mask = np.ones(shape, dtype=bool)
        elif tuple(np.shape(file_mask)) != tuple(shape):
            raise LayoutError(f"{path}: mask shape {np.shape(file_mask)} differs from the "
                              f"image shape {tuple(shape)}; fix or drop the mask")
        center = run.center
        if center is None:
            center = ((shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0)
        size, rank = (1, 0) if comm is None else (comm.Get_size(), comm.Get_rank())
        start, stop = block_range(n, size, rank)
        p = self.params
        # Bounded pixel count too: on a megapixel detector 64 images already tell dead and
        # hot pixels apart, and the statistics cost ~0.3 s per megapixel image.
        budget = max(4 * MIN_SAMPLE, MASK_PIXELS // (shape[0] * shape[1]))
        n_sample = min(n, int(p["mask_sample"]), budget)
        sample = np.unique(np.linspace(0, n - 1, n_sample).round().astype(np.int64))
        local_sample = sample[(sample >= start) & (sample < stop)]
        tracker.plan(len(local_sample) + (stop - start))

        # 1. Bad pixels from a sample spread over the run; integer counts summed over ranks.
        stats = PixelStats(shape, center, file_mask, float(p["hot_sigma"]))
        rows = chunk_rows(shape, 2 ** 19)
        for a in range(0, len(local_sample), rows):
            idx = local_sample[a:a + rows]
            stats.update(run.images(idx))
            tracker.add(len(idx))
        counts = allreduce(stats.counts, comm)
        mask = stats.bad_mask(counts, float(p["hot_fraction"]), bool(p["detect_bad_pixels"]))
        if not mask.any():
            raise InputError(f"{path}: every pixel is masked (file mask, NaN/inf, dead or hot); "
                             f"check the mask or pass detect_bad_pixels=False")
        self._set_geometry(shape, center, mask, run_geometry(run, p["units"] == "q"))

        # 2. Pre-PCA features of this rank's rows: moments, and a cache if small enough.
        dim = self.raw_features(np.zeros((1,) + tuple(shape), np.float32)).shape[1]
        exact = dim <= COV_MAX_DIM
        mom = Moments(dim, gram=exact)
        keep = keep or not exact
        cache = [] if keep and (stop - start) * dim * 4 <= CACHE_BYTES else None
        for images in iter_blocks(run, start, stop):
            raw = self.raw_features(images)
            mom.update(raw)
            if cache is not None:
                cache.append(raw)
            tracker.add(len(raw))
        mom.reduce(comm)
        local = np.concatenate(cache) if cache else (
            np.zeros((0, dim), np.float32) if cache is not None else None)

        # 3. PCA (or only centring).
        k = min(int(p["n_pca"]), dim)
        if k == 0:
            self.mean, self.scale = mom.mean_scale(bool(p["standardize"]))
            self.components = None
            self.explained_variance = None
        elif exact:
            self.mean, self.scale, self.components, self.explained_variance = \
                pca_from_moments(mom, k, bool(p["standardize"]))
        else:
            def blocks():
                if local is not None:
                    yield from np.array_split(local, max(1, len(local) // 4096))
                else:
                    for images in iter_blocks(run, start, stop):
                        yield self.raw_features(images)
            self.mean, self.scale, self.components, self.explained_variance = randomized_pca(
                blocks, mom, k, bool(p["standardize"]), comm, seed=int(p["seed"]))
        return local

    # -- persistence --------------------------------------------------------------------
    def save(self, group) -> None:
        """Write params, mask, geometry and PCA into an open ``h5py.Group``."""
        if not self.fitted:
            raise InputError("cannot save a FeatureTransform that is not fitted")
        group.attrs["schema"] = SCHEMA
        group.attrs["schema_version"] = SCHEMA_VERSION
        group.attrs["params"] = json.dumps(self.params)
        group.create_dataset("image_shape", data=np.array(self.image_shape, np.int64))
        group.create_dataset("center", data=np.array(self.center, np.float64))
        group.create_dataset("mask", data=self.mask, compression="gzip")
        group.create_dataset("mean", data=self.mean)
        group.create_dataset("scale", data=self.scale)
        if self.components is not None:
            group.create_dataset("components", data=self.components)
            group.create_dataset("explained_variance", data=self.explained_variance)
        if self.q_edges is not None:
            group.create_dataset("q_edges", data=self.q_edges)
            group.create_dataset("geometry", data=np.array(self.geometry.as_list()))

    @classmethod
    def load(cls, group) -> FeatureTransform:
        """Rebuild a fitted transform written by :meth:`save`."""
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
        params = json.loads(group.attrs["params"])
        self = cls(**{k: v for k, v in params.items() if k in DEFAULTS})
        geometry = Geometry(*group["geometry"][()]) if "geometry" in group else None
        self._set_geometry(tuple(group["image_shape"][()]), tuple(group["center"][()]),
                           group["mask"][()], geometry,
                           group["q_edges"][()] if "q_edges" in group else None)
        self.mean = group["mean"][()]
        self.scale = group["scale"][()]
        if "components" in group:
            self.components = group["components"][()]
            self.explained_variance = group["explained_variance"][()]
        return self

    def __repr__(self) -> str:
        state = f"d={self.n_features}" if self.fitted else "not fitted"
        return f"FeatureTransform({self.params['representation']}, {state})"
