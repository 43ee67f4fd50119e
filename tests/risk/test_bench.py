"""The risk benchmark runs and prints one JSON object with unit-named keys."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).parents[2]


def test_the_benchmark_prints_its_figures_as_one_json_object() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.risk_eval", "--events", "8000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures = json.loads(done.stdout)
    assert figures["final_state"] == "ACTIVE"
    assert figures["warn_state"] == "WARN"
    for key in ("p50_ns", "p50_us", "p99_us", "max_us", "events_per_s", "batch_events_per_s"):
        assert figures[key] > 0
