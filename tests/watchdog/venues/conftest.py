"""Fixtures every adapter test against a real simulator shares."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from watchdog.venues import open_session


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The adapters' own session (their timeouts and connector), closed after the test."""
    s = open_session()
    yield s
    await s.close()
