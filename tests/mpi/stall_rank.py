"""Run under mpiexec: the ranks of an embed-like job, watched by RankWatch, work in steps
for up to a minute; the test stops or kills one of them and expects one line naming it.

Usage: stall_rank.py OUTPUT_PATH SECONDS
"""
import sys
import time

from psocake_labeler.rankwatch import RankWatch


def main() -> int:
    watch = RankWatch.start(sys.argv[1], what="stall_rank")
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    end = time.time() + float(sys.argv[2])
    while time.time() < end:   # collectives in a loop, as the k-NN ring does
        comm.allreduce(comm.rank)
        time.sleep(0.05)
    comm.Barrier()
    watch.stop(remove=comm.rank == 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
