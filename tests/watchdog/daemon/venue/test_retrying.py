"""The inner retry of a kill attempt: transient answers retried, final ones not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.watchdog.daemon.venue.fakes import FakeClock
from tests.watchdog.venues.fake_venue import FakeVenue, Reply, running
from watchdog.daemon.venue.retrying import VenueCallFailed, call_venue
from watchdog.venues import Credentials, SubAccountRef, open_session
from watchdog.venues.errors import (
    KeyRefused,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from watchdog.venues.okx import Okx, OkxEndpoint


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


async def test_a_429_without_retry_after_backs_off_growing_and_capped() -> None:
    clock = FakeClock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await clock.sleep(seconds)

    limited = RateLimited(50011, "slow", http_status=429, endpoint="e", retry_after=None)
    _, op = _script(*[limited] * 6, "ok")
    ok = await call_venue("x", op, clock=clock, budget_s=60.0, sleep=sleep, draw=lambda: 0.0)
    assert ok == "ok"
    assert waits == [0.125, 0.25, 0.5, 1.0, 1.0, 1.0]


async def test_okx_rate_limiting_a_key_deletion_gets_a_few_requests_not_one_every_20_ms() -> None:
    """OKX allows one sub-account key change a second and sends no Retry-After: the kill's
    retry must back off rather than send a request every pause for the whole budget."""
    route = "POST /api/v5/users/subaccount/delete-apikey"
    async with running(FakeVenue(secrets={})) as fake:
        fake.defaults[route] = Reply(429, {"code": "50011", "msg": "Too Many Requests", "data": []})
        session = open_session()
        try:
            venue = Okx(session, OkxEndpoint(fake.base_url), Credentials("K", "S", passphrase="p"))
            ref = SubAccountRef("T" * 18, sub_account="trader1")
            clock = FakeClock()
            with pytest.raises(VenueCallFailed, match="RateLimited"):
                await call_venue(
                    "delete key", lambda: venue.delete_sub_account_key(ref),
                    clock=clock, budget_s=2.0, sleep=clock.sleep,
                )  # fmt: skip
        finally:
            await session.close()
    # Jittered waits of 0.125-0.25, 0.25-0.5, 0.5-1 and 1-2 s: four or five fit in 2 s.
    assert 4 <= len(fake.calls(route)) <= 5
