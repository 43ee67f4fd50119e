"""The order benchmark runs against each front and counts only orders the venue accepted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx"])
def test_sim_orders_measures_each_front(venue: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.sim_orders", "--orders", "60", "--pipeline", "4",
         "--venue", venue],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["venue"] == venue
    assert result["orders_per_s"] > 0
    assert result["p50_us"] <= result["p99_us"] <= result["max_us"]
