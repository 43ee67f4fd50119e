"""The inner retry of a kill attempt: transient answers retried, final ones not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.watchdog.daemon.venue.fakes import FakeClock
from watchdog.daemon.venue.retrying import VenueCallFailed, call_venue
from watchdog.venues.errors import (
    KeyRefused,
    RateLimited,
    VenueError,
    VenueUnavailable,
)


def _script(*outcomes: VenueError | str) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []
    queue = list(outcomes)

    async def op() -> str:
        calls.append(1)
        item = queue.pop(0)
        if isinstance(item, VenueError):
            raise item
        return item

    return calls, op


def _503() -> VenueUnavailable:
    return VenueUnavailable("HTTP 503", endpoint="e")


async def test_5xx_is_retried_at_once_then_after_short_pauses() -> None:
    clock = FakeClock()
    calls, op = _script(_503(), _503(), "ok")
    assert await call_venue("x", op, clock=clock, budget_s=1.0, sleep=clock.sleep) == "ok"
    assert len(calls) == 3
    assert clock.mono == pytest.approx(1000.02)


async def test_429_waits_the_venues_retry_after() -> None:
    clock = FakeClock()
    limited = RateLimited(-1003, "slow", http_status=429, endpoint="e", retry_after=0.5)
    _, op = _script(limited, "ok")
    assert await call_venue("x", op, clock=clock, budget_s=1.0, sleep=clock.sleep) == "ok"
    assert clock.mono == pytest.approx(1000.5)


async def test_a_retry_after_beyond_the_budget_ends_the_attempt_with_the_answer() -> None:
    clock = FakeClock()
    limited = RateLimited(-1003, "slow", http_status=429, endpoint="e", retry_after=30)
    _, op = _script(limited)
    with pytest.raises(VenueCallFailed, match="RateLimited"):
        await call_venue("x", op, clock=clock, budget_s=1.0, sleep=clock.sleep)


async def test_a_final_answer_is_not_retried() -> None:
    clock = FakeClock()
    calls, op = _script(KeyRefused(-2015, "no", http_status=401, endpoint="e"), "ok")
    with pytest.raises(VenueCallFailed, match="KeyRefused") as info:
        await call_venue("x", op, clock=clock, budget_s=1.0, sleep=clock.sleep)
    assert isinstance(info.value.last, KeyRefused)
    assert len(calls) == 1
