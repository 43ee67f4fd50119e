"""Tier-1 chaos scenarios: real exchange_sim, watchdog and trader processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack, StackSpec

pytestmark = pytest.mark.chaos


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """A fresh default stack (no proxies) on Binance, or on the venue ``BOTH_VENUES`` or
    ``WITH_OKX`` passes; stopped after the test."""
    with Stack.start(tmp_path, StackSpec(venue=getattr(request, "param", "binance"))) as s:
        yield s
