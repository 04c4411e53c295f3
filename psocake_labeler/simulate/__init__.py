"""Synthetic PR772-like runs in Psocake's SPI and SFX layouts, with ground truth.

>>> sim = simulate_run("amo06516_0093.cxi", hits=300, shape=(64, 64), seed=1)
>>> truth = read_truth(sim.truth_path)   # .events, .labels, .kinds, .class_names
"""
from .conditions import Conditions, parse_conditions
from .runner import DEFAULT_MIX, SimulatedRun, parse_mix, simulate_run
from .truth import DEFAULT_CLASSES, FIVE_CLASSES, KINDS, Truth, read_truth, truth_path_for

__all__ = ["Conditions", "DEFAULT_CLASSES", "DEFAULT_MIX", "FIVE_CLASSES", "KINDS",
           "parse_conditions", "SimulatedRun", "Truth", "parse_mix",
           "read_truth", "simulate_run", "truth_path_for"]
