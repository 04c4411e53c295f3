"""Kill a labelling process (SIGKILL) between and during saves, ten times: nothing confirmed
is lost, the label store always opens, and nothing is left beside it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import psocake_labeler as pl
from psocake_labeler.labelfiles.store import read_label_file

CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    import psocake_labeler as pl

    manifold_path, labels_path, start = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    m = pl.Manifold.load(manifold_path)
    if labels_path.exists():
        s = pl.LabelSession.load(labels_path, m, user="crash")
    else:
        s = pl.LabelSession(m, path=labels_path, user="crash")
    s.propagate()            # every label now also re-propagates: saves are bigger
    print("ready", flush=True)
    for row in range(start, len(m.events)):
        s.label([row], s.classes[row % len(s.classes)])
        print(row, flush=True)   # the label call returned: it is confirmed
""")


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_sigkill_loses_nothing_confirmed(small_spi_run, small_spi_manifold_path, tmp_path):
    m = pl.Manifold.load(small_spi_manifold_path)
    mpath, lpath = tmp_path / "manifold.h5", tmp_path / "labels.h5"
    m.save(mpath)
    confirmed: list[int] = []
    rng = np.random.default_rng(0)
    start = 0
    for round_ in range(10):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(mpath), str(lpath),
                                 str(start)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
            want = 2 + int(rng.integers(0, 4))
            for _ in range(want):
                line = proc.stdout.readline()
                assert line, proc.stderr.read()
                confirmed.append(int(line))
            time.sleep(float(rng.uniform(0, 0.05)))   # land anywhere, often inside a save
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            # lines printed after our last read were confirmed too
            confirmed += [int(x) for x in proc.stdout.read().split()]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        data = read_label_file(lpath)                # never corrupt
        s = pl.LabelSession.load(lpath, pl.Manifold.load(mpath))
        labels = s.user_labels()
        lost = [r for r in confirmed if r not in labels]
        assert not lost, f"round {round_}: confirmed labels lost: {lost}"
        for r in confirmed:
            assert labels[r] == r % 3
        assert data.log.labels.max() >= 0
        # SQLite's own -journal may remain (rolled back by the next writer); nothing of ours
        left = {p.name for p in tmp_path.iterdir()} - {"labels.h5-journal"}
        assert left == {"labels.h5", "manifold.h5"}
        start = max(labels) + 1
    assert len(confirmed) >= 20
