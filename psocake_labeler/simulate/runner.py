"""``simulate_run``: a PR772-like run written in Psocake's SPI or SFX layout, plus truth.

Every hit draws its parameters from its own generator ``default_rng([seed, i])``, so a hit
does not depend on the block size or on the other hits; images are made and written in
blocks, never all held in memory.
"""
from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_path, check_room
from ..io.outputs import output_kind
from ..io.schema import kind_words, path_kind
from ..progress import ProgressCallback, report
from .conditions import Conditions, parse_conditions
from .detector import MASK_HOT
from .hits import PARTICLE_NM, detector_for, simulate_block, transform_for
from .truth import DEFAULT_CLASSES, KINDS, Truth, classes_for, truth_path_for, write_truth
from .writers import RunInfo, SfxWriter, SpiWriter

DEFAULT_MIX = {"single": 0.30, "multiple": 0.15, "water": 0.45, "nonhit": 0.10}
HIT_RATE = 0.2           # hits / processed events
UNPROCESSED = 0.04       # fraction of the run's events the hit finder never reached
SFX_RANKS = 2
BLOCK = 32               # hits per block at most
BLOCK_PIXELS = 2 ** 21   # pixels per block at most (bounds memory for large images)
_RUN_KINDS = ("spi", "sfx-master", "sfx-rank")
MAX_HITS = 10**7         # an experiment of 10^6 hits, ten times over


@dataclass
class SimulatedRun:
    """What :func:`simulate_run` wrote: ``path`` (.cxi; the master for SFX), ``truth_path``,
    ``labels`` (int, index into ``class_names``), ``events``, ``kinds``, ``rank_paths``."""

    path: Path
    truth_path: Path
    labels: np.ndarray
    events: np.ndarray
    kinds: np.ndarray
    class_names: tuple[str, ...] = DEFAULT_CLASSES
    rank_paths: tuple[Path, ...] = ()


def parse_mix(mix: Mapping[str, float] | str | None) -> dict[str, float]:
    """Validate a class mix (dict or ``"single=0.3,water=0.7"``), normalised to sum 1."""
    if mix is None:
        return dict(DEFAULT_MIX)
    if isinstance(mix, str):
        out = {}
        for part in filter(None, (p.strip() for p in mix.split(","))):
            name, sep, value = part.partition("=")
            if not sep:
                raise InputError(f"mix entry {part!r} is not kind=fraction; "
                                 f"kinds are {', '.join(KINDS)}")
            try:
                out[name.strip()] = float(value)
            except ValueError:
                raise InputError(f"mix entry {part!r}: {value!r} is not a number") from None
        mix = out
    mix = {str(k): float(v) for k, v in dict(mix).items()}
    bad = [k for k in mix if k not in KINDS]
    if bad:
        raise InputError(f"unknown kind(s) {', '.join(bad)} in the mix; use {', '.join(KINDS)}")
    if any(not np.isfinite(v) or v < 0 for v in mix.values()):
        raise InputError("mix fractions must be finite and >= 0")
    total = sum(mix.values())
    if total <= 0:
        raise InputError("mix fractions sum to 0; give at least one positive fraction")
    return {k: mix.get(k, 0.0) / total for k in KINDS}


def draw_kinds(rng: np.random.Generator, hits: int, mix: dict[str, float]) -> np.ndarray:
    """Kinds of the hits in the exact proportions of ``mix`` (largest remainder), shuffled."""
    p = np.array([mix.get(k, 0.0) for k in KINDS])
    counts = np.floor(p * hits).astype(int)
    rest = hits - counts.sum()
    counts[np.argsort(-(p * hits - counts), kind="stable")[:rest]] += 1
    kinds = np.repeat(np.array(KINDS, dtype=object), counts)
    return kinds[rng.permutation(hits)]


def _check(hits, shape, layout, experiment, run) -> tuple[int, int]:
    if isinstance(hits, bool) or not isinstance(hits, (int, np.integer)) or hits < 1:
        raise InputError(f"hits must be a positive integer, got {hits!r}")
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape), int(shape))
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 16 or max(shape) > 4096:
        raise InputError(f"image shape must be two sizes between 16 and 4096, got {shape}")
    if layout not in ("spi", "sfx"):
        raise InputError(f"layout must be 'spi' or 'sfx', got {layout!r}")
    if not experiment or not str(experiment).isidentifier():
        raise InputError(f"experiment name {experiment!r} must be letters and digits")
    if int(run) < 0:
        raise InputError(f"run number must be >= 0, got {run}")
    if hits > MAX_HITS:
        raise InputError(f"hits must be at most {MAX_HITS:,} (a run holds 10^3 to 10^5 hits), "
                         f"got {hits:,}")
    return shape


def _refuse_to_replace(targets: list[Path], truth: Path) -> None:
    """Raise InputError unless every existing target is a run we simulated before.

    A simulated run is known by its truth file beside it; re-simulating it is cheap, but
    a real Psocake run, a label file, a manifold or a file we cannot identify is never
    replaced.
    """
    simulated = path_kind(truth) == "truth"
    for target in targets:
        if not target.exists():
            continue
        kind = output_kind(target)
        if kind == "truth" and target == truth or simulated and kind in _RUN_KINDS:
            continue
        raise InputError(f"{target}: exists and is {kind_words(kind)}; simulate replaces only "
                         f"a run it simulated itself (with its {truth.name} beside it): "
                         "choose another output name")


def _enter(stack: contextlib.ExitStack, path: Path) -> Path:
    """A temporary file that replaces ``path`` on success; unwritable places are InputError."""
    try:
        return stack.enter_context(atomic_path(path))
    except OSError as exc:
        raise InputError(f"{path}: cannot write there ({exc.strerror or exc}); choose a "
                         "writable folder") from None


def _rank_paths(master: Path, experiment: str, run: int) -> tuple[Path, ...]:
    """Per-rank files beside ``<exp>_<run:04d>[_tag].cxi``: ``<exp>_<run:04d>_<rank>[_tag].cxi``.

    Psocake's readers find the ranks from the master's name, so it must follow the pattern.
    """
    base = f"{experiment}_{run:04d}"
    stem = master.stem
    if master.suffix != ".cxi" or not (stem == base or stem.startswith(base + "_")):
        raise InputError(f"{master}: an SFX master must be named {base}.cxi (or "
                         f"{base}_<tag>.cxi) for experiment {experiment!r}, run {run}")
    tag = stem[len(base):]
    return tuple(master.with_name(f"{base}_{r}{tag}.cxi") for r in range(SFX_RANKS))


def _run_info(rng, hits, det, mask, experiment, run) -> RunInfo:
    """Event numbers of the hits (a sorted subset of a longer run) and per-event clocks."""
    n_proc = int(np.ceil(hits / HIT_RATE))
    n_events = int(np.ceil(n_proc / (1.0 - UNPROCESSED)))
    processed = np.ones(n_events, dtype=bool)
    processed[n_proc:] = False   # the job was stopped before the end of the run
    events = np.sort(rng.choice(n_proc, size=hits, replace=False)).astype(np.int64)
    t0 = 1_460_000_000 + int(rng.integers(0, 10_000_000))
    ns = np.arange(n_events, dtype=np.int64) * 8_333_333 + int(rng.integers(0, 1000))
    return RunInfo(experiment=str(experiment), run=int(run), detector="pnccdFront",
                   n_events=n_events, events=events, processed=processed,
                   photon_energy_eV=det.photon_energy_eV, distance_m=det.distance_m,
                   pixel_m=det.pixel_m, mask_cxi=mask, machine_time=t0 + ns // 10 ** 9,
                   nanoseconds=ns % 10 ** 9, fiducials=(np.arange(n_events) * 3) % 131040)


def _map_blocks(seed, blocks, shape, energy, workers, cond):
    """Yield (start, photons, truth values) per block, in order, computed by ``workers``.

    At most ``2 * workers`` blocks are in flight, so memory stays bounded however long the
    run. Workers are forked where possible, inheriting the particle transform.
    """
    if workers <= 1 or len(blocks) < 2:
        for start, kinds in blocks:
            yield (start, *simulate_block(seed, start, kinds, shape, energy, cond))
        return
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: deque = deque()
        todo = iter(blocks)
        for start, kinds in itertools.islice(todo, 2 * workers):
            pending.append((start, pool.submit(simulate_block, seed, start, kinds, shape,
                                               energy, cond)))
        while pending:
            start, fut = pending.popleft()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append((nxt[0], pool.submit(simulate_block, seed, nxt[0], nxt[1],
                                                    shape, energy, cond)))
            yield (start, *fut.result())


def _check_options(workers: int, photon_energy_eV: float) -> None:
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InputError(f"workers must be a positive integer, got {workers!r}")
    if not 100.0 <= float(photon_energy_eV) <= 30000.0:
        raise InputError(f"photon energy must be 100-30000 eV, got {photon_energy_eV}")


def _truth_attrs(det, info: RunInfo, **run_attrs) -> dict:
    """The run's settings and detector geometry, as the truth file records them."""
    return {**run_attrs, "beam_center": list(det.center), "distance_m": det.distance_m,
            "pixel_size_m": det.pixel_m, "photon_energy_eV": det.photon_energy_eV,
            "gain_adu_per_photon": det.gain_adu, "read_noise_adu": det.read_noise_adu,
            "particle_diameter_nm": PARTICLE_NM, "supersample": det.supersample,
            "n_events": info.n_events}


def simulate_run(path: str | Path, hits: int = 2000, shape: int | tuple[int, int] = (256, 256),
                 seed: int = 0, mix: Mapping[str, float] | str | None = None,
                 layout: str = "spi", experiment: str = "amo06516", run: int = 93,
                 photon_energy_eV: float = 1600.0, workers: int = 1,
                 progress: ProgressCallback | None = None,
                 conditions: Conditions | Mapping | str | None = None) -> SimulatedRun:
    """Simulate a PR772-like run and write it in Psocake's layout, with ground truth.

    Parameters
    ----------
    path : path of the ``.cxi`` (SPI) or of the SFX master; SFX per-rank files
        ``<exp>_<run:04d>_<rank>.cxi`` go beside it.
    hits, shape, seed : number of hits, image (H, W) or N, random seed (deterministic).
    mix : fractions of kinds single, multiple, water, nonhit (dict or "k=v,..."); default
        :data:`DEFAULT_MIX`.
    layout : "spi" or "sfx".
    workers : processes computing hits in parallel (the result does not depend on it).
    conditions : beam jitter, photon range, dead or clipped halves, distance, pixel size
        (:class:`~.conditions.Conditions`, a dict or ``"jitter=2,clipped=0.1"``).

    Returns
    -------
    SimulatedRun with ``path``, ``truth_path``, ``labels`` (index into DEFAULT_CLASSES).
    """
    shape = _check(hits, shape, layout, experiment, run)
    _check_options(workers, photon_energy_eV)
    mix = parse_mix(mix)
    cond = parse_conditions(conditions)
    class_names, kind_to_label = classes_for(mix)
    path, hits, seed = Path(path), int(hits), int(seed)
    rng = np.random.default_rng([seed, 2**31])   # run-level draws, apart from the hits'
    det = detector_for(shape, float(photon_energy_eV), cond.distance_m, cond.pixel_m)
    mask = det.pixel_mask(rng)
    hot_values = rng.uniform(2000.0, 16000.0, size=int(((mask & MASK_HOT) > 0).sum()))
    info = _run_info(rng, hits, det, mask, experiment, run)
    kinds = draw_kinds(rng, hits, mix)
    labels = np.array([kind_to_label[k] for k in kinds], dtype=np.int64)
    params = _empty_params(hits)

    rank_paths = _rank_paths(path, experiment, int(run)) if layout == "sfx" else ()
    _refuse_to_replace([Path(t) for t in (path, *rank_paths, truth_path_for(path))],
                       Path(truth_path_for(path)))
    # images, float32, and their per-hit metadata: refuse before any work what cannot fit
    check_room(path, hits * (shape[0] * shape[1] * 4 + 64))
    with contextlib.ExitStack() as stack:
        tmp = _enter(stack, path)
        tmps: list[Path] = []
        if layout == "spi":
            writer = SpiWriter(tmp, info, shape, det.gain_adu)
        else:
            tmps = [_enter(stack, p) for p in rank_paths]
            writer = SfxWriter(tmps, info, shape, det.gain_adu)
        block = max(1, min(BLOCK, BLOCK_PIXELS // (shape[0] * shape[1])))
        blocks = [(start, kinds[start:start + block]) for start in range(0, hits, block)]
        if any(k in ("single", "multiple", "unknown") for k in kinds):
            transform_for(det)  # build the grid once, before any worker is forked
        for start, photons, values in _map_blocks(seed, blocks, shape, photon_energy_eV,
                                                  workers, cond):
            stop = start + len(photons)
            for k, v in values.items():
                params[k][start:stop] = v
            params["detected_photons"][start:stop] = photons.sum(axis=(1, 2))
            adu = det.to_adu(photons, mask, rng, hot_values)
            writer.write(start, read_out(adu, det, cond, values["clipped"]))
            report(progress, "simulate", stop, hits)
        if layout == "spi":
            writer.close(rng)
        else:
            misses = np.stack([det.to_adu(rng.poisson(det.background_map * 100.0)[None], mask,
                                          rng, hot_values)[0] for _ in range(4)])
            writer.close(tmp, rng, misses)
        attrs = _truth_attrs(det, info, seed=seed, shape=list(shape), layout=layout, mix=mix,
                             experiment=experiment, run=int(run), conditions=cond.as_dict())
        for t in (tmp, *tmps):
            os.chmod(t, 0o644)  # mkstemp makes 0600; a run is meant to be shared
        truth = Truth(info.events, labels, kinds, class_names, params, attrs)
        truth_path = truth_path_for(path)
        write_truth(truth_path, truth)
        os.chmod(truth_path, 0o644)
    return SimulatedRun(path, truth_path, labels, info.events, kinds, class_names, rank_paths)


def _empty_params(hits: int) -> dict:
    """Per-hit truth arrays, filled block by block."""
    params = {k: np.zeros(hits) for k in ("photons", "background_photons", "diameter_nm")}
    for k in ("n_particles", "clipped", "unknown_type", "detected_photons"):
        params[k] = np.zeros(hits, dtype=np.int64)
    params["rotation"] = np.zeros((hits, 3, 3))
    params["beam_center"] = np.zeros((hits, 2))
    return params


def read_out(adu: np.ndarray, det, cond: Conditions, clipped: np.ndarray) -> np.ndarray:
    """Zero a dead half in every image and the clipped half of single events (no mask bit:
    a failed read-out reads 0 and nothing in the file says so)."""
    if cond.dead_half is not None:
        adu[:, det.half(cond.dead_half)] = 0.0
    for k in np.flatnonzero(clipped):
        adu[k, det.half("top" if clipped[k] == 1 else "bottom")] = 0.0
    return adu
