"""Fixtures: a real simulator process speaking OKX v5, and a small client for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from harness.sim import SimConfig, SimProcess
from tests.exchange_sim.fronts.okx.client import OkxClient
from tests.support.sim import running_sim


@pytest.fixture
def okx_sim(tmp_path: Path) -> Iterator[SimProcess]:
    """An OKX-speaking simulator whose prices move only when a test jumps them."""
    with running_sim(tmp_path, SimConfig(book_ticker_hz=0), venue="okx") as sim:
        yield sim


@pytest.fixture
def okx(okx_sim: SimProcess, session: aiohttp.ClientSession) -> OkxClient:
    return OkxClient(okx_sim, session)
