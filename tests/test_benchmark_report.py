"""The benchmark report's arithmetic over hash seeds (benchmarks/results.py, targets.py).

Counts are made up: what is checked is how the report combines them, which no CI run of the
benchmarks exercises (``--quick`` counts no instructions). Each seed's figure is set against
bare botocore and the floor of the same seed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import instructions
from results import Results
from targets import headline_lines, target_lines

OPS = ("GetItem", "SendMessage")


def _floors(per_seed_scale: list[float]) -> instructions.PerSeed:
    """Probes whose defaults floor is 100k times the seed's scale, in both modes."""
    probes: instructions.PerSeed = {"recording": {}, "unsampled": {}}
    for sampling in probes:
        by_name = probes[sampling]
        by_name["headers"] = [10e3 * s for s in per_seed_scale]
        for op in OPS:
            by_name[f"{op}:span"] = [40e3 * s for s in per_seed_scale]
            by_name[f"{op}:lean-record"] = [30e3 * s for s in per_seed_scale]
            by_name[f"{op}:all-records"] = [180e3 * s for s in per_seed_scale]
            by_name[f"{op}:emits"] = [5e3 for _ in per_seed_scale]
            by_name[f"{op}:emits-handled"] = [5e3 + 20e3 * s for s in per_seed_scale]
    probes["recording"]["SendMessage:context-into-body"] = [0.0 for _ in per_seed_scale]
    return probes


def _results() -> Results:
    results = Results(1, 1, ["bare", "otel", "otel-unsampled", "official", "official-unsampled"])
    bare = [2_600e3, 2_610e3]  # seed 0, seed 1
    added = {  # instructions each variant adds, per seed
        "otel": [200e3, 330e3],
        "otel-unsampled": [110e3, 150e3],
        "official": [250e3, 300e3],
        "official-unsampled": [100e3, 200e3],
    }
    results.instructions = {"bare": {op: list(bare) for op in OPS}}
    for variant, per_seed in added.items():
        results.instructions[variant] = {
            op: [b + a for b, a in zip(bare, per_seed, strict=True)] for op in OPS
        }
    results.floors = _floors([1.0, 1.5])  # floors: 100k under seed 0, 150k under seed 1
    results.window_calls = 500
    return results


def test_figures_are_means_over_seeds_against_bare_of_the_same_seed() -> None:
    results = _results()
    assert results.added_per_seed("otel", "GetItem") == [200e3, 330e3]
    assert results.added_instructions("otel", "GetItem") == pytest.approx(265e3)
    assert results.floor("GetItem", "defaults", "recording") == pytest.approx(125e3)


def test_each_seed_meets_its_own_floor() -> None:
    """Seed 0: 200k over a 100k floor; seed 1: 330k over 150k. Paired with the mean floor
    (125k) they would read 1.60x and 2.64x."""
    ratios = _results().floor_ratios("otel", "GetItem", "defaults", "recording")
    assert ratios == pytest.approx([2.0, 2.2])


def test_report_prints_the_seeds_range() -> None:
    results = _results()
    headline = "\n".join(headline_lines(results))
    assert "| GetItem | defaults | recording | +265k (200 to 330) | +275k (250 to 300) | 0.96x |" in headline
    assert "the mean over 2 hash seeds" in headline
    targets = "\n".join(target_lines(results))
    # recording, against the official package: 200/250 = 0.80, 330/300 = 1.10 (mean 265/275)
    assert "| GetItem, recording: <= 0.8x the official package | 0.96x (0.80 to 1.10) |" in targets
    assert "| GetItem, recording: within 1.15x of its floor | 2.12x (2.00 to 2.20) |" in targets


def test_a_single_seed_prints_no_range() -> None:
    assert instructions.spread([1e3]) == ""
    assert instructions.spread([1e3, 3e3]) == " (1 to 3)"
