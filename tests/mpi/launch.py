"""Find ``mpiexec`` and run a command under it (used by the tests, not under MPI)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

HERE = Path(__file__).parent


def find_mpiexec() -> Optional[str]:
    """The ``mpiexec`` beside this Python (a venv's mpich), else the one on PATH."""
    local = Path(sys.executable).parent / "mpiexec"
    if local.exists():
        return str(local)
    return shutil.which("mpiexec")


def run_mpi(n: int, args: Sequence[str], timeout: float = 120.0,
            cwd: Optional[str] = None) -> subprocess.CompletedProcess:
    """Run ``mpiexec -n n args...``; raises TimeoutExpired if it hangs."""
    exe = find_mpiexec()
    if exe is None:
        raise RuntimeError("mpiexec not found")
    return subprocess.run([exe, "-n", str(n), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)
