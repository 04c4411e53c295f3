"""A watch on the ranks of an MPI job: a rank that stops responding ends the job.

A rank stopped (SIGSTOP, a frozen node) leaves the others blocked in MPI forever, and MPI
never notices; a killed rank ends the job with only the launcher's banner. Each rank forks
a small watcher process before MPI starts (MPI_Init itself waits for every rank, holding
the interpreter). The watcher writes a heartbeat file (host, pid, time) every :data:`BEAT`
seconds into a folder beside the output (on a cluster, the shared file system) while its
rank runs, and reads the other ranks' files. A rank whose heartbeat is older than the
timeout (``PSOCAKE_LABELER_RANK_TIMEOUT`` seconds, default :data:`DEFAULT_TIMEOUT`), or
whose process ended before the job finished, is named in one line on stderr; the watchers
then end their ranks (SIGKILL), and the launcher ends the job. See docs/embedding.md,
"When a rank fails".
"""
from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import time
from pathlib import Path

BEAT = 1.0
DEFAULT_TIMEOUT = 120.0
# Files of an earlier job in the folder are older than this before our start: ignored.
STALE = 60.0


def rank_timeout() -> float:
    """Seconds without a heartbeat after which a rank counts as stopped."""
    try:
        value = float(os.environ.get("PSOCAKE_LABELER_RANK_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        value = DEFAULT_TIMEOUT
    return max(value, 3 * BEAT)


def launcher_rank() -> tuple[int, int]:
    """(rank, size) from the MPI launcher's environment (MPICH, Open MPI, Slurm), or
    (0, 1) outside a parallel job."""
    for rank, size in (("PMI_RANK", "PMI_SIZE"), ("OMPI_COMM_WORLD_RANK",
                                                  "OMPI_COMM_WORLD_SIZE"),
                       ("SLURM_PROCID", "SLURM_NTASKS")):
        try:
            return int(os.environ[rank]), int(os.environ[size])
        except (KeyError, ValueError):
            continue
    return 0, 1


class RankWatch:
    """This rank's watcher process; :meth:`stop` when the rank's work is done."""

    def __init__(self, pid: int, pipe: int, rank: int, folder: Path) -> None:
        self.pid, self._pipe, self.rank, self.folder = pid, pipe, rank, folder

    @classmethod
    def start(cls, near: str | os.PathLike, what: str = "psocake-labeler embed"
              ) -> RankWatch | None:
        """Fork the watcher when this process is a rank of a parallel job, else None."""
        rank, size = launcher_rank()
        if size < 2 or not hasattr(os, "fork"):
            return None
        near = Path(near)
        folder = near.parent / f".{near.name}.ranks"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None   # nowhere to beat: MPI's own handling only
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:   # the watcher: plain os calls only, then _exit
            os.close(write)
            code = 0
            try:
                _Watcher(rank, size, folder, what, os.getppid(), read).run()
            except BaseException:  # noqa: BLE001 (a watcher must never outlive its rank)
                code = 1
            os._exit(code)
        os.close(read)
        return cls(pid, write, rank, folder)

    def stop(self, remove: bool = False) -> None:
        """The rank is done: tell the watcher (it marks the rank finished) and reap it;
        ``remove`` the folder too (rank 0, once every rank is done)."""
        try:
            os.write(self._pipe, b"done")
            os.close(self._pipe)
            os.waitpid(self.pid, 0)
        except OSError:
            pass
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)


class _Watcher:
    def __init__(self, rank: int, size: int, folder: Path, what: str, parent: int,
                 pipe: int) -> None:
        self.rank, self.size, self.folder, self.what = rank, size, folder, what
        self.parent, self.pipe = parent, pipe
        self.timeout = rank_timeout()
        self.host = socket.gethostname()
        self.started = time.time()

    def run(self) -> None:
        self._write("beat")
        while True:
            ready, _, _ = select.select([self.pipe], [], [], BEAT)
            if ready:
                if os.read(self.pipe, 16):
                    self._write("done")
                    return
                self._verdict(self.rank, f"died (its process {self.parent} on {self.host} "
                                         "ended before the job finished)")
                return
            if not _stopped(self.parent):
                self._write("beat")
            self._judge()

    def _write(self, state: str) -> None:
        path = self.folder / f"rank{self.rank}"
        tmp = self.folder / f".rank{self.rank}.tmp"
        try:
            tmp.write_text(f"{self.host} {self.parent} {time.time()} {state}\n")
            os.replace(tmp, path)
        except OSError:
            pass   # a missed beat: the timeout is generous

    def _fresh(self, path: Path) -> bool:
        try:
            return path.stat().st_mtime >= self.started - STALE
        except OSError:
            return False

    def _judge(self) -> None:
        if self._fresh(self.folder / "verdict"):
            _kill(self.parent)   # another watcher has said why: end this rank too
            return
        now = time.time()
        for r in range(self.size):
            if r == self.rank:
                continue
            try:
                host, pid, when, state = (self.folder / f"rank{r}").read_text().split()
                when = float(when)
                if when < self.started - STALE:
                    raise ValueError("a heartbeat of an earlier job")
            except (OSError, ValueError):
                host, pid, when, state = "", "0", self.started, "missing"
            if state == "done" or now - when <= self.timeout:
                continue
            why = (f"never started (no heartbeat within {self.timeout:.0f} s)"
                   if state == "missing" else
                   f"stopped responding (no heartbeat for {now - when:.0f} s; the limit "
                   f"is PSOCAKE_LABELER_RANK_TIMEOUT = {self.timeout:.0f} s)")
            if host == self.host:
                _kill(int(pid))   # a stopped process takes no part in ending the job
            self._verdict(r, why)
            return

    def _verdict(self, r: int, why: str) -> None:
        """Say it once for the whole job (the first watcher to create the file), then end
        this rank."""
        verdict = self.folder / "verdict"
        if verdict.exists() and not self._fresh(verdict):
            verdict.unlink(missing_ok=True)
        try:
            fd = os.open(verdict, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(fd)
            line = f"{self.what}: error: rank {r} of {self.size} {why}; the job is stopped\n"
            os.write(2, line.encode("utf-8", "replace"))
        except OSError:
            pass   # said already
        _kill(self.parent)


def _stopped(pid: int) -> bool:
    """Whether ``pid`` is stopped (Linux /proc; elsewhere never known)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] in ("T", "t")


def _kill(pid: int) -> None:
    if pid > 0:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
