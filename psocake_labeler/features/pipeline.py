"""The per-image half of the feature transform: one hit image -> its pre-PCA vector.

Pipeline per image: bad-pixel mask -> bin -> photon scale + unit RMS -> fill masked pixels
from their Friedel mates or ring -> representation (rotation-invariant polar amplitudes by
default), optionally with the shift-invariant autocorrelation profile appended (``autocorr``). An
:class:`ImagePipeline` is built from the transform's parameters and what the fit found (image
shape, beam centre, mask, geometry); it holds no statistics of the run. Beside the features it
gives each hit's reliability and, with ``classifier_autocorr``, its autocorrelation profile
for the labels' classifier (:meth:`ImagePipeline.hit_outputs`).
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from ..progress import LOG
from . import centering
from . import representations as rep
from .autocorr import MAX_LAG, AutocorrProfile
from .brightness import HIT_COLUMNS
from .geometry import Geometry, hole_radius, ring_layout
from .masked_polar import masked_polar_features
from .ringfit import FIRM

#: A run that sees the q rings on fewer pixels than the fitted run keeps full reliability
#: down to this share of its pixel scale. Measured on run B of the transfer case (labels on
#: A only, docs/features.md "Runs at a shorter distance"): at 0.8 0.975 right and every
#: sure answer right; at 0.7 0.88; at 0.58 0.64, 12% of the sure answers wrong.
COARSEST_SAMPLING = 0.8


class ImagePipeline:
    """Hit images -> float32 pre-PCA features, for one detector shape, centre and mask.

    Parameters
    ----------
    params
        The transform's parameters (``FeatureTransform.get_params()``), already validated.
    shape, center, mask
        Image shape, beam centre (row, col, image pixels) and good-pixel mask of the fit.
    geometry
        The fitted run's geometry (q units only).
    q_edges
        Saved q ring edges (when loading), else None to lay them out from the geometry.
    """

    def __init__(self, params: Mapping[str, Any], shape, center, mask,
                 geometry: Geometry | None = None, q_edges: np.ndarray | None = None) -> None:
        self.params = dict(params)
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
        self.bin = b
        hb, wb = self.image_shape[0] // b, self.image_shape[1] // b
        self.binned_shape = (hb, wb)
        self.binned_center = rep.binned_center(self.center, b)
        cy, cx = self.binned_center
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
        r_max = float(r_max) - search
        # units="auto": q units exactly when the fitted run has a geometry.
        q = p["units"] == "q" or (p["units"] == "auto" and geometry is not None)
        # q units: rings start a margin outside the beam hole, so that a run at another
        # distance (whose hole covers other q) does not have part of the hole in its rings.
        friedel = p["fill"] in ("friedel", "masked")
        r_start = 1.25 * hole_radius(self.mask, b, self.binned_center, friedel) if q else 0.0
        # q units: rings out to q_fraction of the circle, so that a run at a somewhat longer
        # distance (or lower energy) still sees every ring.
        top = r_max * (float(p["q_fraction"]) if q else 1.0)
        if top - r_start < 2 and p["representation"] != "image":
            raise InputError(f"beam_search {p['beam_search']} leaves no rings inside the "
                             f"{self.image_shape} image; use a smaller search")
        # A saved layout keeps its rings, whatever the code now finds the hole to be.
        self.n_rings = (len(q_edges) - 1 if q_edges is not None
                        else int(p["n_rings"] or max(2, int(round(top - r_start)))))
        self.geometry = geometry if q else None
        self.edges, self.q_edges = ring_layout(r_start, top, self.n_rings, b, self.geometry,
                                               q_edges)
        self._fill = rep.RingFiller(self.binned_shape, self.binned_center)
        self._pmat = None
        self._pmats: dict = {}
        self._acorr: dict = {}
        if p["representation"] != "image":
            self._pmat = rep.polar_matrix(self.binned_shape, self.binned_center, self.n_rings,
                                          int(p["n_angles"]), top, self.edges)

    def moved(self, shift, search: float | None = None) -> ImagePipeline:
        """This pipeline for a run whose beam hit ``shift`` (row, col, image pixels) away
        from the fitted run's: the same rings (in q, or in pixels about the beam), sampled,
        filled and searched about that run's beam; each hit's centre searched ``search``
        image pixels about it (None: as fitted) when the run's beam jitters more."""
        new = copy.copy(self)
        if search is not None:
            new.params = {**self.params, "beam_search": float(search)}
        new.center = (self.center[0] + float(shift[0]), self.center[1] + float(shift[1]))
        new.binned_center = rep.binned_center(new.center, self.bin)
        new._fill = rep.RingFiller(self.binned_shape, new.binned_center)
        new._pmats = {}
        if self._pmat is not None:
            new._pmat = rep.polar_matrix(self.binned_shape, new.binned_center, self.n_rings,
                                         int(self.params["n_angles"]), float(self.edges[-1]),
                                         self.edges)
        return new

    def _edges_for(self, geometry: Geometry | None) -> np.ndarray:
        """Ring edges (working pixels) for a run of ``geometry``: the same q rings."""
        if self.q_edges is None or geometry is None or geometry == self.geometry:
            return self.edges
        return geometry.radius_of_q(self.q_edges) / self.bin

    def _polar_for(self, geometry: Geometry | None):
        """The polar operator for a run of ``geometry``."""
        if self.q_edges is None or geometry is None or geometry == self.geometry:
            return self._pmat
        if geometry not in self._pmats:
            edges = self._edges_for(geometry)
            self._pmats[geometry] = rep.polar_matrix(
                self.binned_shape, self.binned_center, self.n_rings,
                int(self.params["n_angles"]), float(edges[-1]), edges)
        return self._pmats[geometry]

    def raw_features(self, images: np.ndarray, mask: np.ndarray | None = None,
                     geometry: Geometry | None = None, with_reliability: bool = False) -> Any:
        """float32 ``(n, D)`` representation of images ``(n, H, W)`` or one ``(H, W)``.

        ``mask`` (bool ``(H, W)``, True = good) is combined with the fitted mask;
        ``geometry`` (q units only) is the images' own when it differs from the fitted run's.
        Non-finite pixels are masked image by image. ``with_reliability``: ``(features,
        reliability)``, the second float32 ``(n,)`` (:meth:`reliability`).
        """
        out, rel, _ = self._outputs(images, mask, geometry, with_reliability, False)
        return (out, rel) if with_reliability else out

    @property
    def n_hit_columns(self) -> int:
        """Columns of a hit's side outputs: ``HIT_COLUMNS``, then the profile if kept."""
        return len(HIT_COLUMNS) + (MAX_LAG if self.params["classifier_autocorr"] else 0)

    def hit_outputs(self, images: np.ndarray, mask: np.ndarray | None = None,
                    geometry: Geometry | None = None) -> tuple:
        """What the features pass keeps of each hit: ``(features, reliability, profile)``
        as :meth:`raw_features` gives them; the profile float32 ``(n, MAX_LAG)`` for the
        labels' classifier with ``classifier_autocorr``, else None."""
        return self._outputs(images, mask, geometry, True,
                             bool(self.params["classifier_autocorr"]))

    def _outputs(self, images, mask, geometry, reliability: bool, profile: bool) -> tuple:
        """(features, reliability or None, profile or None) of :meth:`hit_outputs`."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3 or images.shape[1:] != self.image_shape:
            got = images.shape[1:] if images.ndim == 3 else images.shape
            raise InputError(f"images of shape {got} do not match the {self.image_shape} "
                             f"images this feature "
                             f"transform was fitted on; embed this detector separately")
        good = self.mask if mask is None else self.mask & np.asarray(mask, dtype=bool)
        static = good
        p = self.params
        if p["zero_rows"]:
            rows = centering.unread_rows(images, good)
            if rows[:, :, 0].any():   # else one mask for the block stays one (faster)
                good = good[None] & ~rows
        values, ok = rep.bin_images(images, good, self.bin)
        v = rep.photon_scale(values, ok, p["photon"])
        off, firm, v, ok = self._centre_and_mirror(v, ok)
        out = self._representation(v, ok, off, geometry)
        prof = None
        if float(p["autocorr"]) > 0 or profile:
            # On the working image with its Friedel mates filled in, not resampled about
            # any centre: shift invariant, and a half missing in one event reads as its
            # mirror instead of changing which pairs of pixels the profile averages.
            prof = self._autocorr_for(geometry)(v, ok)
        if float(p["autocorr"]) > 0:
            out = np.hstack([out, np.float32(p["autocorr"]) * prof])
        # Belt and braces: nothing non-finite may reach the distances.
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)
        rel = self.reliability(off, firm, ok, static, geometry) if reliability else None
        return out, rel, prof if profile else None

    def reliability(self, off: np.ndarray, firm: np.ndarray, known: np.ndarray,
                    static: np.ndarray, geometry: Geometry | None = None) -> np.ndarray:
        """float32 ``(n,)`` in [0, 1]: how far each hit's features can be trusted.

        The share of the rings' working pixels about the hit's own centre (``off``) that
        were measured or have a measured Friedel mate (``known``), over the same share about
        the nominal centre with the run's ``static`` mask (image pixels; a detector's gaps
        are not the hit's fault), at most 1; at most ``firm / FIRM``, how firmly the centre
        was placed (``centering.find_offsets``: a beam on a dead half cannot be placed along
        the normal to its edge, and is pulled to it); 0 where the search found no centre
        (``firm`` NaN: the features are about the nominal one); at most
        :meth:`sampling_share` of ``geometry``. labelling/honest.py caps the confidence
        where it is low.
        """
        edges = self._edges_for(geometry)
        radii = (float(edges[0]), float(edges[-1]))
        centre = np.asarray(self.binned_center)
        _, base = rep.bin_images(np.zeros((1,) + self.image_shape, np.float32), static,
                                 self.bin)
        if self.params["fill"] in ("friedel", "masked"):
            _, base = centering.friedel_fill(base.astype(np.float32), base, centre[None])
        ref = centering.known_share(base, centre[None], radii)[0]
        share = centering.known_share(known, off + centre, radii) / max(ref, 1e-9)
        rel = np.minimum(np.minimum(share, 1.0), np.where(np.isnan(firm), 0.0, firm) / FIRM)
        return np.minimum(rel, self.sampling_share(geometry)).astype(np.float32)

    def sampling_share(self, geometry: Geometry | None) -> float:
        """How much of the fitted run's q resolution a run of ``geometry`` keeps, in [0, 1]:
        1 down to ``COARSEST_SAMPLING`` of the fitted run's pixels per q ring, then in
        proportion (a shorter distance, larger pixels or a lower energy see the rings on
        fewer, coarser pixels, and its speckles are averaged away)."""
        return min(1.0, self._ring_scale(geometry) / COARSEST_SAMPLING)

    def warn_coarse(self, path: str, geometry: Geometry | None) -> None:
        """One log line when a run of ``geometry`` (file ``path``) keeps less than all of
        the fitted run's q resolution (:meth:`sampling_share`)."""
        share = self.sampling_share(geometry)
        if share < 0.995:    # not for a run at the threshold itself, to rounding
            LOG.warning("%s: this run sees the manifold's q rings on %.2f of the pixels of "
                        "the run it was fitted on (a shorter detector distance, larger pixels "
                        "or a lower photon energy), so its hits' reliability is at most %.2f "
                        "and a low one caps their confidence; for full accuracy embed it "
                        "together with the manifold's runs instead", path,
                        self._ring_scale(geometry), share)

    def _ring_scale(self, geometry: Geometry | None) -> float:
        """Pixels per q ring of a run of ``geometry`` over the fitted run's."""
        edges = self._edges_for(geometry)
        return float((edges[-1] - edges[0]) / (self.edges[-1] - self.edges[0]))

    def _representation(self, v: np.ndarray, ok: np.ndarray, off: np.ndarray,
                        geometry: Geometry | None) -> np.ndarray:
        """The chosen representation of photon-scaled, mirror-filled working images (good
        pixels ``ok``, beam offsets ``off``)."""
        p = self.params
        kind = p["representation"]
        if p["fill"] == "masked" and kind == "polar":
            # Only the known part of each ring counts (masked_polar): no fill to read.
            pv = self._polar(np.where(ok, v, np.float32(0)), off, geometry)
            pk = self._polar(ok.astype(np.float32), off, geometry)
            return masked_polar_features(pv, pk, int(p["n_harmonics"]), self.q_edges is not None)
        v = self._fill(v, ok)
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
        return out

    def _autocorr_for(self, geometry: Geometry | None) -> AutocorrProfile:
        """The autocorrelation profile for a run of ``geometry``: in q units its lags are
        the fitted run's at the same q, so another distance or energy gives the same
        columns."""
        scale = self._ring_scale(geometry)
        key = round(scale, 9)
        if key not in self._acorr:
            self._acorr[key] = AutocorrProfile(self.binned_shape, MAX_LAG, scale)
        return self._acorr[key]

    def locate(self, v: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-hit beam-centre offsets (working pixels) of photon-scaled working images, NaN
        where the search found no centre, and how firmly each is placed
        (``centering.find_offsets``); with the search off 0 and inf everywhere."""
        search = float(self.params["beam_search"]) / self.bin
        if search <= 0:
            return np.zeros((len(v), 2)), np.full(len(v), np.inf)
        return centering.find_offsets(v, ok, self.binned_center, search,
                                      self.params["centre"])

    def beam_offsets(self, v: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """:meth:`locate`'s offsets, 0 (the nominal centre) where it found none."""
        off = self.locate(v, ok)[0]
        off[np.isnan(off[:, 0])] = 0.0
        return off

    def _centre_and_mirror(self, v: np.ndarray, ok: np.ndarray):
        """Each hit's beam offset (0 where none was found) and its firmness (NaN for none,
        :meth:`locate`); bad pixels filled from their Friedel mates if asked."""
        off, firm = self.locate(v, ok)
        off[np.isnan(off[:, 0])] = 0.0
        if self.params["fill"] in ("friedel", "masked"):
            v, ok = centering.friedel_fill(v, ok, off + np.asarray(self.binned_center))
            # Unit RMS again over the filled image: a half-missing hit was scaled on the
            # half that holds the bright centre, and would look brighter than it is.
            v = rep.photon_scale(v, ok, "none")
        return off, firm, v, ok

    def _polar(self, v: np.ndarray, off: np.ndarray, geometry: Geometry | None) -> np.ndarray:
        """Polar grids of filled working images, each about its own beam centre."""
        if not np.any(off):
            return rep.polar_images(v, self._polar_for(geometry), self.n_rings)
        edges = self._edges_for(geometry)
        pts = rep.polar_points(self.n_rings, int(self.params["n_angles"]), edges[-1], edges)
        return rep.polar_at(v, off + np.asarray(self.binned_center), pts, self.n_rings,
                            int(self.params["n_angles"]))
