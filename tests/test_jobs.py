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
from psocake_labeler.gui.compute import DONE_MARKER, sbatch_script

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
    from psocake_labeler.gui.compute import ComputeDialog
    from psocake_labeler.gui.hosts.standalone import StandaloneWindow

    w = StandaloneWindow()
    qtbot.addWidget(w)
    dialog = ComputeDialog(w.dock)
    qtbot.addWidget(dialog)
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
