"""The simulator for tests: ``harness.sim`` (shared with the benchmarks), plus the
``sim_process`` fixture (import it into your conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.sim import (
    BTCUSDT,
    ETHUSDT,
    MASTER_ACCOUNT,
    MASTER_KEY,
    TRADER_ACCOUNT,
    TRADER_KEY,
    WATCHDOG_KEY,
    AdminError,
    AsyncSimAdmin,
    SimAccount,
    SimAdmin,
    SimConfig,
    SimKey,
    SimProcess,
    SimSymbol,
    bybit_headers,
    sign,
    signed_query,
)

__all__ = [
    "BTCUSDT",
    "ETHUSDT",
    "MASTER_ACCOUNT",
    "MASTER_KEY",
    "TRADER_ACCOUNT",
    "TRADER_KEY",
    "WATCHDOG_KEY",
    "AdminError",
    "AsyncSimAdmin",
    "SimAccount",
    "SimAdmin",
    "SimConfig",
    "SimKey",
    "SimProcess",
    "SimSymbol",
    "bybit_headers",
    "sign",
    "signed_query",
    "sim_process",
]


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[SimProcess]:
    """A simulator with the default world; stopped and reaped after the test."""
    sim = SimProcess.start(tmp_path)
    try:
        yield sim
    finally:
        sim.stop()
