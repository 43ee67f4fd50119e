"""The ``sim_process`` fixture (import it into your conftest.py); the simulator itself, its
config and admin clients live in ``harness.sim``, shared with the benchmarks and the demo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.sim import SimProcess


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[SimProcess]:
    """A simulator with the default world; stopped and reaped after the test."""
    sim = SimProcess.start(tmp_path)
    try:
        yield sim
    finally:
        sim.stop()
