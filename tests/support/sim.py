"""The ``sim_process`` fixture (import it into your conftest.py); the simulator itself, its
config and admin clients live in ``harness.sim``, shared with the benchmarks and the demo."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.sim import SimConfig, SimProcess


@contextmanager
def running_sim(
    tmp_path: Path, config: SimConfig | None = None, *, venue: str = "binance"
) -> Iterator[SimProcess]:
    """A simulator speaking ``venue``, stopped and reaped when the block ends however it ends:
    what every simulator fixture yields from."""
    sim = SimProcess.start(tmp_path, config, venue=venue)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[SimProcess]:
    """A simulator with the default world; stopped and reaped after the test."""
    with running_sim(tmp_path) as sim:
        yield sim


class SkewedClock:
    """A wall clock far from the venue's: an adapter must learn the offset to be accepted."""

    def __init__(self, skew_s: float) -> None:
        self.skew_s = skew_s

    def wall(self) -> float:
        return time.time() + self.skew_s

    def monotonic(self) -> float:
        return time.monotonic()
