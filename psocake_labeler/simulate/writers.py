"""Writers for Psocake's hit-finder layouts: SPI (findHits + xtc2cxi --saveADU) and SFX.

Each writer is opened on a temporary path (renamed into place on success by the caller),
takes the images block by block, and writes the per-run datasets at ``close``. Dataset paths
and dtypes follow Psocake's output (see docs/simulator.md). The simulated ``.cxi`` files get
no ``schema`` attribute, because Psocake's own files have none.
"""
from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np
from scipy import ndimage

from ..io.atomic import close_guarded, guarded_h5, open_guarded

STR = h5py.string_dtype()
MAX_PEAKS = 2048


@dataclass
class RunInfo:
    """What every layout needs besides the images."""

    experiment: str
    run: int
    detector: str
    n_events: int                 # events in the whole run
    events: np.ndarray            # int64 (hits,), sorted event numbers of the hits
    processed: np.ndarray         # bool (n_events,), False = not processed by the hit finder
    photon_energy_eV: float
    distance_m: float
    pixel_m: float
    mask_cxi: np.ndarray          # uint16 (H, W), CXI bits, 0 = good
    machine_time: np.ndarray      # int64 seconds, per event of the run
    nanoseconds: np.ndarray       # int64, per event of the run
    fiducials: np.ndarray         # int64, per event of the run


def lit_pixels(adu: np.ndarray, good: np.ndarray, gain: float) -> np.ndarray:
    """Psocake's SPI hit metric: good pixels above half a photon, per image."""
    return ((adu > 0.5 * gain) & good[None]).sum(axis=(1, 2)).astype(np.int64)


def misses_metric(rng: np.random.Generator, n: int, threshold: int) -> np.ndarray:
    """Metric values for events that were processed but not hits (below the threshold)."""
    return rng.integers(0, max(1, threshold), size=n)


def _write_scalar(g: h5py.Group, name: str, value) -> None:
    g.create_dataset(name, data=value)


class SpiWriter:
    """``<exp>_<run:04d>.cxi`` as "Launch hit finder" + "Save hits" with ``--saveADU`` make it."""

    def __init__(self, path, info: RunInfo, shape: tuple[int, int], gain: float):
        self.info, self.gain = info, gain
        self.f = open_guarded(path)   # a full disk is an OSError at close, no crash
        n = len(info.events)
        det = self.f.require_group("entry_1/instrument_1/detector_1")
        self.data = det.create_dataset("data", shape=(n, *shape), dtype=np.float32,
                                       chunks=(1, *shape))
        self.f["entry_1/data_1/data"] = h5py.SoftLink("/entry_1/instrument_1/detector_1/data")
        self.nhits = np.zeros(n, dtype=np.int64)
        self.good = info.mask_cxi == 0

    def write(self, start: int, adu: np.ndarray) -> None:
        """Store images ``start .. start + len(adu)`` (float32 ADU)."""
        self.data[start:start + len(adu)] = adu
        self.nhits[start:start + len(adu)] = lit_pixels(adu, self.good, self.gain)

    def close(self, rng: np.random.Generator) -> None:
        """Write the hit-finder and save-hits datasets and close the file."""
        f, info = self.f, self.info
        ev = info.events
        thr = int(self.nhits.min()) if len(ev) else 1
        all_ = misses_metric(rng, info.n_events, thr)
        all_[ev] = self.nhits
        all_[~info.processed] = -1
        res = f.require_group("entry_1/result_1")
        res.create_dataset("nHitsAll", data=all_)
        d = res.create_dataset("nHits", data=self.nhits)
        d.attrs["numEvents"] = len(ev)
        f.create_dataset("psana/input", data=(
            f"exp={info.experiment}:run={info.run} -d {info.detector} --mode spi "
            f"--threshold {thr} --saveADU"), dtype=STR)
        f.create_dataset("status/findHits", data="success", dtype=STR)
        lcls = f.require_group("LCLS")
        lcls.create_dataset("eventNumber", data=ev)
        lcls.create_dataset("machineTime", data=info.machine_time[ev].astype(np.int32))
        lcls.create_dataset("machineTimeNanoSeconds", data=info.nanoseconds[ev].astype(np.int32))
        lcls.create_dataset("fiducial", data=info.fiducials[ev].astype(np.int32))
        lcls.create_dataset("photon_energy_eV",
                            data=np.full(len(ev), info.photon_energy_eV, dtype=np.float64))
        f.create_dataset("entry_1/experimental_identifier", data=ev)
        det = f["entry_1/instrument_1/detector_1"]
        _write_scalar(det, "distance", info.distance_m)
        _write_scalar(det, "x_pixel_size", info.pixel_m)
        _write_scalar(det, "y_pixel_size", info.pixel_m)
        det.create_dataset("description", data=info.detector, dtype=STR)
        m = det.create_dataset("mask", data=info.mask_cxi)
        m.attrs["convention"] = ("CXI pixel mask bits, 0 = good; 1 = no pixel (gap, hole), "
                                 "4 = hot, 8 = dead")
        close_guarded(f)


def find_peaks(img: np.ndarray, good: np.ndarray, threshold: float):
    """Local maxima above ``threshold`` on good pixels: (rows, cols, values), brightest first."""
    peak = (img == ndimage.maximum_filter(img, size=3)) & (img > threshold) & good
    r, c = np.nonzero(peak)
    v = img[r, c]
    order = np.argsort(-v, kind="stable")[:MAX_PEAKS]
    return r[order], c[order], v[order]


class SfxWriter:
    """Per-rank ``<exp>_<run:04d>_<rank>.cxi`` files and the master ``<exp>_<run:04d>.cxi``.

    Hits go to ranks round-robin by event number, as MPI ranks take events in turn.
    """

    def __init__(self, tmp_paths: list, info: RunInfo, shape: tuple[int, int], gain: float):
        self.info, self.gain, self.shape = info, gain, shape
        self.rank_of = info.events % len(tmp_paths)
        self.pos = np.zeros(len(info.events), dtype=np.int64)
        self.files = []
        for r, p in enumerate(tmp_paths):
            f = open_guarded(p)
            n = int((self.rank_of == r).sum())
            self.pos[self.rank_of == r] = np.arange(n)
            f.create_dataset("entry_1/data_1/data", shape=(n, *shape), dtype=np.float32,
                             chunks=(1, *shape))
            res = f.require_group("entry_1/result_1")
            res.create_dataset("nPeaks", shape=(n,), dtype=np.int64)
            for name in ("peakXPosRaw", "peakYPosRaw", "peakTotalIntensity"):
                res.create_dataset(name, shape=(n, MAX_PEAKS), dtype=np.float32,
                                   chunks=(1, MAX_PEAKS))
            f.create_dataset("LCLS/eventNumber", data=info.events[self.rank_of == r])
            self.files.append(f)
        self.good = info.mask_cxi == 0
        self.npeaks = np.zeros(len(info.events), dtype=np.int64)
        self.powder_hits = np.zeros(shape, dtype=np.float32)
        self.threshold = 3.0 * gain

    def write(self, start: int, adu: np.ndarray) -> None:
        """Store images ``start .. start + len(adu)`` with their peaks in their rank's file."""
        np.maximum(self.powder_hits, adu.max(axis=0), out=self.powder_hits)
        for k, img in enumerate(adu):
            i = start + k
            f = self.files[self.rank_of[i]]
            j = self.pos[i]
            f["entry_1/data_1/data"][j] = img
            r, c, v = find_peaks(img, self.good, self.threshold)
            row = np.zeros((3, MAX_PEAKS), dtype=np.float32)
            row[0, :len(c)], row[1, :len(r)], row[2, :len(v)] = c, r, v
            res = f["entry_1/result_1"]
            res["peakXPosRaw"][j], res["peakYPosRaw"][j] = row[0], row[1]
            res["peakTotalIntensity"][j] = row[2]
            res["nPeaks"][j] = len(v)
            self.npeaks[i] = len(v)

    def close(self, master_tmp, rng: np.random.Generator, misses: np.ndarray) -> None:
        """Write the per-rank metadata and the master file; close everything."""
        info = self.info
        for f in self.files:
            lcls = f["LCLS"]
            ev = lcls["eventNumber"][()]
            lcls.create_dataset("machineTime", data=info.machine_time[ev].astype(np.int32))
            lcls.create_dataset("machineTimeNanoSeconds",
                                data=info.nanoseconds[ev].astype(np.int32))
            lcls.create_dataset("fiducial", data=info.fiducials[ev].astype(np.int32))
            lcls.create_dataset("photon_energy_eV",
                                data=np.full(len(ev), info.photon_energy_eV))
            # Geometry as the per-rank files carry it for CrystFEL: camera length per hit.
            lcls.create_dataset("detector_1/EncoderValue",
                                data=np.full(len(ev), info.distance_m * 1e3))
            det = f.require_group("entry_1/instrument_1/detector_1")
            det.create_dataset("distance", data=np.full(len(ev), info.distance_m))
            _write_scalar(det, "x_pixel_size", info.pixel_m)
            _write_scalar(det, "y_pixel_size", info.pixel_m)
            det.create_dataset("description", data=info.detector, dtype=STR)
            close_guarded(f)
        thr = int(self.npeaks.min()) if len(self.npeaks) else 1
        all_ = misses_metric(rng, info.n_events, thr)
        all_[info.events] = self.npeaks
        all_[~info.processed] = -1
        with guarded_h5(master_tmp) as m:
            m.create_dataset("entry_1/result_1/nPeaksAll", data=all_)
            d = m.require_group("entry_1/data_1")
            d.create_dataset("powderHits", data=self.powder_hits)
            d.create_dataset("powderMisses", data=misses.max(axis=0).astype(np.float32))
            mk = d.create_dataset("mask", data=(info.mask_cxi == 0).astype(np.int16))
            mk.attrs["convention"] = "psana mask: 1 = good pixel, 0 = bad"
            m.create_dataset("psana/input", data=(
                f"exp={info.experiment}:run={info.run} -d {info.detector} --mode sfx "
                f"--minPeaks {thr}"), dtype=STR)
            m.create_dataset("status/findPeaks", data="success", dtype=STR)
