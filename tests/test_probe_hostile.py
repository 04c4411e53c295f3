"""A subset of benchmarks/probe_hostile.py: hostile inputs through the real commands, in
fresh processes; none may end in a traceback, a signal, or a damaged file (issue 11, item 6).
The whole corpus (>= 40 inputs through every command) is `python benchmarks/probe_hostile.py`."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parent.parent / "benchmarks" / "probe_hostile.py"


@pytest.fixture(scope="module")
def probe():
    spec = importlib.util.spec_from_file_location("probe_hostile", PROBE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def base(probe, tmp_path_factory):
    return probe.make_base(tmp_path_factory.mktemp("probe") / "base")


def test_the_corpus_is_large_and_covers_every_command(probe):
    cases = probe.corpus()
    assert len(cases) >= 40 and set(probe.SUBSET) <= {c.name for c in cases}


@pytest.mark.parametrize("name", [
    "run-string-events", "run-soft-link-loop", "manifold-graph-index-out-of-range",
    "psocake-labels-class-77", "merge-onto-run", "simulate-huge"])
def test_hostile_input_is_one_line(probe, base, tmp_path, name):
    case = next(c for c in probe.corpus() if c.name == name)
    result = probe.run_case(case, base, tmp_path / name)
    assert result["outcome"] == "ok", result
