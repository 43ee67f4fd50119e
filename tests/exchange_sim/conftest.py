"""Fixtures: a real simulator process per test, and an HTTP session to talk to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.exchange_sim.venue_client import VenueClient
from tests.support.sim import SimProcess, sim_process

__all__ = ["sim_process"]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
        yield s


@pytest.fixture
def venue(sim_process: SimProcess, session: aiohttp.ClientSession) -> VenueClient:
    return VenueClient(sim_process, session)
