"""Fixtures: a real simulator process per test, and an HTTP session to talk to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from harness.sim import SimConfig, SimProcess
from tests.exchange_sim.venue_client import VenueClient
from tests.support.sim import running_sim, sim_process

__all__ = ["sim_process"]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
        yield s


@pytest.fixture
def frozen_sim(tmp_path: Path) -> Iterator[SimProcess]:
    """A simulator whose prices move only when a test jumps them: exact, race-free quotes."""
    with running_sim(tmp_path, SimConfig(book_ticker_hz=0)) as sim:
        yield sim


@pytest.fixture
def venue(frozen_sim: SimProcess, session: aiohttp.ClientSession) -> VenueClient:
    return VenueClient(frozen_sim, session)
