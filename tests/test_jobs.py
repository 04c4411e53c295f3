"""Batch jobs from the GUI (issue 11, item 5): every value quoted, no newline or control
character in a path or name, paths with spaces kept, "done" decided by the job itself."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest

import psocake_labeler as pl
from psocake_labeler.cli.jobs import DONE_MARKER, sbatch_script

HOSTILE = "run 93 'quoted' \"double\" $(touch PWNED2) `touch PWNED3`.cxi"


def _fake(bin_dir, name, body):
    p = bin_dir / name
    p.write_text("#!/bin/bash\n" + body)
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return p


def test_script_quotes_every_value(tmp_path):
    """bash runs the script; the embed receives exactly the paths given, nothing else runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake(bin_dir, "mpirun", 'shift 2; printf "%s\\n" "$@" > "$ARGS_OUT"\n')
    run, out = str(tmp_path / HOSTILE), str(tmp_path / "out dir" / "m $(x).h5")
    script = sbatch_script([run, str(tmp_path / "b.cxi")], out, 4, partition="milano",
                           account="lcls:amo06516", options="--knn 8")
    (tmp_path / "job.sh").write_text(script)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SLURM_NTASKS="4",
               ARGS_OUT=str(tmp_path / "args.txt"))
    p = subprocess.run(["bash", str(tmp_path / "job.sh")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    args = (tmp_path / "args.txt").read_text().splitlines()
    assert args[:4] == [sys.executable, "-m", "psocake_labeler", "embed"]
    assert args[4:] == [run, str(tmp_path / "b.cxi"), "-o", out, "--knn", "8"]
    assert not list(tmp_path.glob("PWNED*"))
    assert p.stdout.strip().endswith(f"{DONE_MARKER} 0")


@pytest.mark.parametrize("field", ["run", "out", "partition", "account", "options"])
def test_newlines_and_control_characters_are_refused(tmp_path, field):
    values = {"run": "a.cxi", "out": str(tmp_path / "m.h5"), "partition": "milano",
              "account": "lcls", "options": "--knn 8"}
    values[field] += "\ntouch PWNED" if field != "account" else "\x1b[31m"
    with pytest.raises(pl.InputError, match="newline or control character"):
        sbatch_script([values["run"]], values["out"], 2, partition=values["partition"],
                      account=values["account"], options=values["options"])


def test_runs_field_keeps_paths_with_spaces(qtbot, tmp_path):
    from psocake_standin import keep

    from psocake_labeler.gui.compute import ComputeDialog
    from psocake_labeler.gui.hosts.standalone import StandaloneWindow

    # kept, not deleted in teardown: a deleted window's pyqtgraph items can segfault a
    # later test's paint (seen once in this test under load)
    w = keep(StandaloneWindow())
    dialog = keep(ComputeDialog(w.dock))
    dialog.runs.setPlainText("")
    paths = [str(tmp_path / "my runs" / "amo06516_0093.cxi"), str(tmp_path / "it's.cxi")]
    dialog.runs.setFocus()
    qtbot.keyClicks(dialog.runs, paths[0])
    qtbot.keyClick(dialog.runs, "\r")
    qtbot.keyClicks(dialog.runs, paths[1])
    assert dialog.run_list() == paths


def test_sbatch_job_is_done_when_the_job_says_so(qtbot, tmp_path, small_spi_run,
                                                 small_spi_manifold_path):
    """A manifold already at the output path does not make the job "finished"."""
    from psocake_labeler.gui.compute import ComputeJob

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # sbatch: run the script in the background, its output to the --output log
    _fake(bin_dir, "sbatch", 'script="$2"; log=$(sed -n "s/^#SBATCH --output=//p" "$script")\n'
                             'log=$(eval echo "$log")\n'
                             '(sleep 2; SLURM_NTASKS=1 bash "$script" > "$log" 2>&1) &\n'
                             'echo 4242\n')
    _fake(bin_dir, "mpirun", 'shift 2; exec "$@"\n')
    out = tmp_path / "m.h5"
    shutil.copy(small_spi_manifold_path, out)   # an older manifold is already there
    old_mtime = out.stat().st_mtime_ns
    os.environ["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
    try:
        job = ComputeJob(str(out))
        job.poll_ms = 200
        job.start_sbatch(sbatch_script([str(small_spi_run.path)], str(out), 1,
                                       options="--knn 8 --n-components 4 -q"))
        with qtbot.waitSignal(job.sigFinished, timeout=120000) as done:
            pass
    finally:
        os.environ["PATH"] = os.environ["PATH"].split(":", 1)[1]
    assert done.args[0], done.args[1]
    assert out.stat().st_mtime_ns != old_mtime   # finished means written by this job


def _mpiexec():
    exe = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(
        sys.executable))
    if exe is None:
        pytest.skip("no mpiexec here")
    return exe


@pytest.mark.parametrize("sig, words", [("STOP", "stopped responding"), ("KILL", "died")])
def test_a_rank_that_stops_or_dies_ends_the_job_with_one_line(tmp_path, sig, words):
    """SIGSTOP: after PSOCAKE_LABELER_RANK_TIMEOUT (here 5 s); SIGKILL: at once."""
    import signal
    import time
    from pathlib import Path

    script = Path(__file__).parent / "mpi" / "stall_rank.py"
    out = tmp_path / "m.h5"
    env = dict(os.environ, PSOCAKE_LABELER_RANK_TIMEOUT="5")
    proc = subprocess.Popen([_mpiexec(), "-n", "2", sys.executable, str(script), str(out),
                             "90"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    beat = tmp_path / ".m.h5.ranks" / "rank1"
    deadline = time.time() + 60
    while not beat.exists() and time.time() < deadline:
        time.sleep(0.2)
    pid = int(beat.read_text().split()[1])
    time.sleep(2)   # both ranks in their collectives
    t0 = time.time()
    os.kill(pid, getattr(signal, f"SIG{sig}"))
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    took = time.time() - t0
    assert proc.returncode != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    ours = [ln for ln in lines if ln.startswith("stall_rank: error:")]
    assert len(ours) == 1 and "rank 1 of 2" in ours[0] and words in ours[0], err
    assert took < 30, took
