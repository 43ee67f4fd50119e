"""Fixtures: a real simulator process speaking Bybit v5, and a small client for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from harness.sim import SimConfig, SimProcess
from tests.exchange_sim.fronts.bybit.client import BybitClient
from tests.support.sim import running_sim


@pytest.fixture
def bybit_sim(tmp_path: Path) -> Iterator[SimProcess]:
    """A Bybit-speaking simulator whose prices move only when a test jumps them."""
    with running_sim(tmp_path, SimConfig(book_ticker_hz=0), venue="bybit") as sim:
        yield sim


@pytest.fixture
def bybit(bybit_sim: SimProcess, session: aiohttp.ClientSession) -> BybitClient:
    return BybitClient(bybit_sim, session)
