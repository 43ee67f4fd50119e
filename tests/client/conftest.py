"""Fixtures of the client tests: a fake clock and a real ingress that acks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.client.rig import Watchdog
from tests.watchdog.wire import NOW
from watchdog.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=NOW)


@pytest.fixture
async def watchdog(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Watchdog]:
    dog = Watchdog(tmp_path / "wd.sock", clock)
    await dog.start()
    yield dog
    assert dog.ingress is not None
    await dog.ingress.close()
