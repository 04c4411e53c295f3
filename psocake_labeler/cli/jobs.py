"""How an ``embed`` job is run as a process: its command line (``mpiexec``), its Slurm batch
script, and the lines it prints that say how far it got and how it ended.

Qt-free: the GUI's Compute dialog (``gui/compute.py``) and the demo (``cli/demo.py``) both
start the job from these.
"""
from __future__ import annotations

import re
import shlex
import shutil
import sys
from pathlib import Path

from ..errors import InputError

# A progress line printed by ``embed`` (``stage: done/total ...``).
PROGRESS = re.compile(r"^(?P<stage>[^:\n]+): (?P<done>\d+)/(?P<total>\d+)")
# The batch script's last line: the job is over, with this exit code.
DONE_MARKER = "psocake-labeler job finished, exit"
DONE_LINE = re.compile(rf"^{re.escape(DONE_MARKER)} (?P<code>\d+)\s*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def embed_command(runs: list[str], out: str, options: str = "") -> list[str]:
    """The ``embed`` command line, run with this Python (no need for the script on PATH)."""
    return [sys.executable, "-m", "psocake_labeler", "embed", *runs, "-o", out,
            *shlex.split(options)]


def mpiexec_command(runs: list[str], out: str, ranks: int, options: str = "") -> list[str]:
    """``mpiexec -n ranks <embed>``; plain ``embed`` for one rank or without mpiexec."""
    cmd = embed_command(runs, out, options)
    mpiexec = shutil.which("mpiexec") or shutil.which("mpiexec",
                                                      path=str(Path(sys.executable).parent))
    if ranks > 1 and mpiexec:
        return [mpiexec, "-n", str(ranks), *cmd]
    return cmd


def check_job_values(runs: list[str], out: str, **names: str) -> None:
    """Refuse newlines and control characters in any path or name of a job.

    In a batch script a newline ends the line: a run path or a partition holding one would
    put the rest on a line of its own, and bash would run it.
    """
    for what, value in [*((f"run {r!r}", r) for r in runs), ("output", out), *names.items()]:
        if _CONTROL.search(str(value)):
            raise InputError(f"{what.replace('_', ' ')} {str(value)!r}: holds a newline or "
                             "control character; rename it (jobs refuse such names)")


def sbatch_script(runs: list[str], out: str, ranks: int, partition: str = "",
                  account: str = "", options: str = "", hours: int = 2) -> str:
    """A batch script for Slurm, as Psocake's own launchers submit their MPI jobs.

    Every value is quoted (``shlex.quote``) and none may hold a newline or a control
    character. The job's last line in its log is :data:`DONE_MARKER` with the exit code:
    the GUI decides by it, not by an output file that may have been there before.
    """
    check_job_values(runs, out, partition=partition, account=account, options=options)
    q = shlex.quote
    lines = ["#!/bin/bash", "#SBATCH --job-name=psocake-labeler-embed",
             f"#SBATCH --ntasks={int(ranks)}", f"#SBATCH --time={int(hours):02d}:00:00",
             f"#SBATCH --output={q(out + '.log')}"]
    if partition:
        lines.append(f"#SBATCH --partition={q(partition)}")
    if account:
        lines.append(f"#SBATCH --account={q(account)}")
    lines.append("mpirun -n $SLURM_NTASKS " + shlex.join(embed_command(runs, out, options)))
    lines += ["status=$?", f'echo "{DONE_MARKER} $status"', "exit $status"]
    return "\n".join(lines) + "\n"
