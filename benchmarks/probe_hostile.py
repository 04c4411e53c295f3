"""Run a corpus of hostile inputs through every command; count tracebacks and signals.

    python benchmarks/probe_hostile.py [--keep DIR] [--only NAME,...] [-v]

Each case builds one damaged, hostile or unlucky input from a small simulated run (real
HDF5 files), runs one ``psocake-labeler`` command on it in a fresh process, and sorts the
outcome: ``ok`` (exit 0 where that is right, or exit 2 with one line), ``traceback``,
``signal`` (the process died of one), ``multiline`` (exit 2 but more than one line on
stderr), ``accepted`` (exit 0 where the input had to be refused), ``damaged`` (a file that
had to stay untouched changed), ``exit`` (any other exit code). The last line prints the
counts; the project's promise is 0 tracebacks and 0 signals, and every other count 0 too.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# hostile_builders and hostile_inputs sit beside this script: on the path when loaded by name
sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile_builders import Base, Case, cli_command, make_base  # noqa: E402
from hostile_inputs import corpus  # noqa: E402

# A few of every kind, for tests/test_probe_hostile.py (the whole corpus takes minutes).
SUBSET = ("run-string-events", "run-soft-link-loop", "manifold-graph-index-out-of-range",
          "psocake-labels-class-77", "merge-onto-run", "simulate-huge")


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "absent"


def run_case(case: Case, base: Base, folder: Path, timeout: float = 120.0) -> dict:
    """Build the case in ``folder``, run its command, sort the outcome."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    args = case.build(base, folder)
    if args is None:
        return {"name": case.name, "rc": None, "outcome": "skipped", "seconds": 0.0,
                "command": "-", "last": "does not apply"}
    before = {k: _digest(folder / k) for k in case.keep}
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONFAULTHANDLER="")
    t0 = time.monotonic()
    try:
        p = subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=timeout,
                           env=env, cwd=folder)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        rc, err = None, "timeout"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if rc is None:
        outcome = "timeout"
    elif rc < 0 or rc >= 128:
        outcome = "signal"
    elif "Traceback (most recent call last)" in err:
        outcome = "traceback"
    elif any(_digest(folder / k) != v for k, v in before.items()):
        outcome = "damaged"
    elif rc == 2:
        outcome = "multiline" if len(lines) != 1 else (
            "ok" if case.expect in lines[0] else "wrong-message")
    elif rc == 0:
        outcome = "accepted" if case.refuse else "ok"
    else:
        outcome = "exit"
    return {"name": case.name, "rc": rc, "outcome": outcome, "seconds": time.monotonic() - t0,
            "command": args[0], "last": lines[-1][:200] if lines else ""}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", default=None, help="work folder to keep (default: a temporary)")
    ap.add_argument("--only", default=None, help="comma-separated case names")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = ap.parse_args(argv)
    work = (Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="probe-"))).resolve()
    cases = corpus()
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c.name in wanted]
    base = make_base(work / "base")
    counts: dict[str, int] = {}
    commands = set()
    for case in cases:
        r = run_case(case, base, work / case.name)
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        if r["outcome"] != "skipped":
            commands.add(r["command"])
        if args.verbose or r["outcome"] not in ("ok", "skipped"):
            print(f"{r['outcome']:9s} rc={r['rc']!s:4s} {r['name']:45s} {r['last']}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    bad = sum(v for k, v in counts.items() if k not in ("ok", "skipped"))
    print(f"{len(cases)} hostile inputs through {', '.join(sorted(commands))}: "
          f"tracebacks {counts.get('traceback', 0)}, signals {counts.get('signal', 0)}, "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())
                      if k not in ("traceback", "signal")))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
