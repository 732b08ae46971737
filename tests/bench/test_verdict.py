"""The benchmark's verdict on the latency target: held rates of the portal against the reference's.

The target is a p99 within 100 ms at a rate at least the reference's, both measured in one run. What
the verdict prints decides whether a run is reported as meeting it, so its reading of the runs is
checked on figures made up here; nothing is started.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import traffic  # bench/ holds scripts, not a package


def latency(target: str, rate: float, p99: float, *, lost: int = 0) -> traffic.Scenario:
    return traffic.Scenario(
        key=f"b-{target}-{rate:g}",
        target=target,
        kind="latency",
        offered=f"{rate:g}/s",
        rate=rate,
        figures={"reply_p99_ms": p99, "lost": lost, "replied_ratio": 1.0 if not lost else 0.9},
    )


@pytest.fixture
def bench(tmp_path: Path) -> traffic.Bench:
    return traffic.Bench(traffic.parse_args(["--out-dir", str(tmp_path)]))


def target(bench: traffic.Bench, *scenarios: traffic.Scenario) -> dict[str, Any]:
    bench.scenarios = list(scenarios)
    return bench.verdict_data()["p99_100ms_at_reference_rate"]


def test_the_portal_meets_the_target_at_a_rate_the_reference_did_not_hold(bench: traffic.Bench) -> None:
    found = target(
        bench,
        latency("portal", 250, 86.0),
        latency("portal", 300, 221.5),
        latency("reference", 250, 74.0),
        latency("reference", 300, 95.0, lost=257),
    )
    assert found["met"] is True
    assert found["value"] == "portal holds 250/s, reference 250/s"


def test_a_reference_that_held_a_higher_rate_means_the_target_is_missed(bench: traffic.Bench) -> None:
    found = target(bench, latency("portal", 250, 86.0), latency("portal", 300, 150.0), latency("reference", 300, 60.0))
    assert found["met"] is False


def test_a_reference_that_held_none_of_the_rates_holds_a_lower_one(bench: traffic.Bench) -> None:
    found = target(bench, latency("portal", 250, 86.0), latency("reference", 250, 549.9))
    assert found["met"] is True, "the reference's own rate is below 250/s, which the portal held"
    assert "its rate is lower" in found["value"]
    assert "add a lower one" not in found["value"]


def test_the_target_is_open_when_neither_held_a_rate(bench: traffic.Bench) -> None:
    found = target(bench, latency("portal", 300, 221.5), latency("reference", 300, 95.0, lost=603))
    assert found["met"] is None
    assert "add a lower one" in found["value"]
    assert "open" in bench.verdict()
