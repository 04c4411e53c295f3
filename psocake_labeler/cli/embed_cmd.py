"""``psocake-labeler embed``: runs -> diffusion-map manifold file, under MPI or not.

    mpiexec -n 8 psocake-labeler embed RUN.cxi [RUN2.cxi ...] -o manifold.h5
    psocake-labeler embed --extend manifold.h5 NEWRUN.cxi -o bigger.h5

Started by ``mpiexec``/``mpirun``/``srun`` every rank reads its own block of hits; rank 0
prints progress and writes the file. A failure on any rank stops every rank with one message
naming the rank (see :func:`psocake_labeler.neighbors.mpi.run_step`).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from typing import Any

from ..errors import InputError, LabelerError
from ..progress import ProgressPrinter

# Set by MPICH/Hydra, Open MPI, PMIx and Slurm's PMI: we are one rank of a parallel job.
_MPI_ENV = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def world_comm() -> Any:
    """``MPI.COMM_WORLD`` when started by an MPI launcher with more than one rank, else None.

    A plain ``psocake-labeler embed`` never imports MPI, so it runs where MPI is missing.
    """
    if not any(v in os.environ for v in _MPI_ENV):
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


def register(subparsers: Any) -> None:
    """Add the ``embed`` sub-command."""
    p = subparsers.add_parser(
        "embed", help="build a diffusion-map manifold from runs (MPI-parallel)",
        description="Compute features of every hit, the k-NN graph and the diffusion map; "
                    "write the manifold file. Run under 'mpiexec -n N' to split the work.")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="Psocake hits files (.cxi/.h5), run folders or globs")
    p.add_argument("-o", "--output", required=True, metavar="MANIFOLD.h5",
                   help="manifold file to write (replaced atomically)")
    p.add_argument("--extend", metavar="MANIFOLD.h5",
                   help="place the RUNs on this existing manifold instead (out-of-sample)")
    p.add_argument("--knn", type=int, default=15, help="neighbours per event (default 15)")
    p.add_argument("--n-components", type=int, default=10,
                   help="diffusion coordinates to keep (default 10)")
    p.add_argument("--alpha", type=float, default=1.0,
                   help="density normalisation, 1 removes the sampling density (default 1)")
    p.add_argument("--epsilon", default="auto",
                   help="kernel bandwidth: auto, bgh, knn, median or a number (default auto)")
    p.add_argument("--features", dest="representation", metavar="KIND",
                   help="feature representation: polar, correlation, radial or image")
    p.add_argument("--bin", type=int, help="binning factor (default: automatic)")
    p.add_argument("--n-pca", type=int, help="PCA dimension of the features (0: none)")
    p.add_argument("--beam-search", type=_beam_search, metavar="PX",
                   help="find each hit's beam centre within PX image pixels, 0: off "
                        "(default auto: 3x the run's measured jitter, 6-16 px)")
    p.add_argument("--autocorr", type=float, metavar="WEIGHT",
                   help="append each hit's shift-invariant autocorrelation profile with this "
                        "weight (default 2; 0: off; docs/features.md)")
    p.add_argument("--solver", default="eigsh", choices=("eigsh", "lobpcg"),
                   help="sparse eigensolver (default eigsh)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("--external-links", action="store_true",
                   help="follow HDF5 external links into other files (refused by default)")
    p.set_defaults(func=main)


def _beam_search(text: str) -> str | float:
    """``--beam-search``: "auto" or pixels (checked with the other feature options)."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give pixels (0-64) or auto") from None


def _epsilon(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        if text not in ("auto", "bgh", "knn", "median"):
            raise InputError(f"--epsilon {text!r}: use auto, bgh, knn, median or a "
                             "positive number") from None
        return text


def _open_runs(paths: list[str]) -> Any:
    from ..embedding.manifold import as_run
    from ..features.stream import require_images

    run = as_run(paths)
    require_images(run)
    return run


def main(args: argparse.Namespace) -> int:
    """Run ``embed``; returns the exit code (the same on every rank)."""
    from ..rankwatch import RankWatch

    watch = RankWatch.start(args.output)   # before MPI: a rank that stops ends the job
    comm = world_comm()
    rank = 0 if comm is None else comm.Get_rank()
    done = False
    try:
        code = _embed(args, comm, rank)
        if watch is not None and comm is not None:
            comm.Barrier()   # every rank is done before the watch ends
            done = True
        return code
    except LabelerError:
        if comm is not None and rank != 0:
            return 2  # raised on every rank alike by run_step: rank 0 alone prints it
        raise  # the dispatcher prints it as one line, exit 2
    except Exception:
        if comm is None:
            raise
        # A bug on one rank: the others may be waiting in a collective, so stop them all.
        print(f"psocake-labeler embed: rank {rank} crashed:", file=sys.stderr, flush=True)
        traceback.print_exc()
        sys.stderr.flush()
        comm.Abort(1)
        return 1
    finally:
        if watch is not None:
            watch.stop(remove=done and rank == 0)


def _embed(args: argparse.Namespace, comm: Any, rank: int) -> int:
    from .._parallel import as_comm, run_step
    from ..embedding.diffusion import build_manifold
    from ..embedding.manifold import Manifold, check_output

    size = 1 if comm is None else comm.Get_size()
    progress = ProgressPrinter(enabled=rank == 0 and not args.quiet)
    t0 = time.monotonic()
    options = {k: getattr(args, k) for k in ("representation", "bin", "n_pca",
                                               "beam_search", "autocorr")
               if getattr(args, k) is not None}
    if args.extend and options:
        raise InputError("--features/--bin/--n-pca/--beam-search/--autocorr cannot be used "
                         "with --extend: new runs are transformed with the manifold's saved "
                         "transform")
    epsilon = _epsilon(args.epsilon)
    # Before any work: -o must not destroy a label file, a run or anything not a manifold.
    replaces = run_step(comm, "check output",
                        lambda: check_output(args.output) if rank == 0 else None)
    # Every rank opens the runs and checks they hold images outside any collective, so a
    # bad input stops the job with one clean message instead of an abort.
    runs = run_step(comm, "open runs", _open_runs, list(args.runs))
    if args.extend:

        def extend() -> Any:
            if rank != 0:
                return None  # out-of-sample placement is light: rank 0 does it alone
            return Manifold.load(args.extend).extend(runs, progress=progress)

        m = run_step(comm, "extend", extend)
    else:
        m = build_manifold(runs, n_components=args.n_components, knn=args.knn,
                           alpha=args.alpha, comm=comm, progress=progress,
                           epsilon=epsilon, solver=args.solver, **options)

    def write() -> None:
        if rank == 0:
            check_output(args.output)  # again: the file may have appeared meanwhile
            m.save(args.output)

    run_step(as_comm(comm), "write", write)
    if rank == 0 and not args.quiet:
        vals = ", ".join(f"{v:.4f}" for v in m.eigenvalues[:5])
        note = " (replaced the older manifold there)" if replaces else ""
        print(f"wrote {args.output}{note}: {len(m)} events, {m.coords.shape[1]} components, "
              f"epsilon {m.params['epsilon']:.4g}, eigenvalues {vals}"
              f"{' ...' if len(m.eigenvalues) > 5 else ''}; {size} rank(s), "
              f"{time.monotonic() - t0:.1f} s", file=sys.stderr)
        parts = m.params.get("knn_graph_components", m.params.get("graph_components", 1))
        if parts > 1:
            print(f"note: the k-NN graph had {parts} disconnected parts (e.g. non-hits); "
                  f"{parts - 1} link(s) between nearest events join them", file=sys.stderr)
    return 0
