"""Run under mpiexec: one rank raises inside a step; every rank must stop with a message.

Usage: fail_rank.py FAILING_RANK [local|collective|collective-input]

``collective-input``: every rank (FAILING_RANK < 0) or one rank meets an expected input
error inside a collective step, after rank 0 has printed "started".
"""
import sys

import numpy as np
from mpi4py import MPI

from psocake_labeler._parallel import run_step
from psocake_labeler.errors import LabelerError, NoImagesError
from psocake_labeler.neighbors.mpi import knn


def read_block(rank: int, failing: int) -> np.ndarray:
    if rank == failing:
        raise OSError(f"cannot read /data/broken_{rank}.cxi: unexpected end of file")
    return np.random.default_rng(rank).standard_normal((50, 4)).astype(np.float32)


def main() -> int:
    failing, mode = int(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else "local")
    comm = MPI.COMM_WORLD
    try:
        if mode == "collective-input":
            def step() -> object:
                if failing < 0 or comm.rank == failing:
                    raise NoImagesError("/data/r0093.cxi: holds 40 hits but no images; "
                                        "re-run xtc2cxi with --saveADU")
                return knn(np.ones((50, 4), np.float32) * comm.rank, 3, comm=comm)
            block = run_step(comm, "features", step, collective=True)
        elif mode == "local":
            block = run_step(comm, "read", read_block, comm.rank, failing)
        else:
            # A step with collectives inside: the healthy ranks are already in knn's
            # collectives when the failing rank raises.
            def step() -> object:
                if comm.rank == failing:
                    raise MemoryError("out of memory in the features step")
                return knn(np.ones((50, 4), np.float32) * comm.rank, 3, comm=comm)
            block = run_step(comm, "k-NN", step, collective=True)
        knn(block, 3, comm=comm)
    except LabelerError as exc:
        print(f"rank {comm.rank}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
