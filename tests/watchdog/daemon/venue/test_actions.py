"""Kill actions against recording fakes: each ends verified, or fails with the venue's answer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.watchdog.daemon.venue.fakes import FakeBook, FakeClock, FakeKeys, order
from watchdog.daemon.errors import KillStepError
from watchdog.daemon.venue.actions import (
    CancelAllOrders,
    FlattenPositions,
    RevokeTraderKey,
    SweepOpenOrders,
)
from watchdog.venues.base import Position, SubAccountRef
from watchdog.venues.errors import (
    KeyRefused,
    RateLimited,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
)

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def _cancel(book: FakeBook, clock: FakeClock) -> CancelAllOrders:
    return CancelAllOrders(book, SYMBOLS, clock=clock, sleep=clock.sleep)


async def test_cancel_all_covers_configured_and_unconfigured_symbols() -> None:
    clock = FakeClock()
    book = FakeBook(orders={"BTCUSDT": [order("BTCUSDT")], "XRPUSDT": [order("XRPUSDT", 2)]})
    action = _cancel(book, clock)
    detail = await action.attempt()
    assert await action.verify()
    assert "venue shows no open orders" in detail
    assert {"cancel BTCUSDT", "cancel ETHUSDT", "cancel XRPUSDT"} <= set(book.calls)
    assert book.orders == {}


async def test_cancel_all_rides_out_5xx_timeouts_and_429() -> None:
    clock = FakeClock()
    book = FakeBook(orders={"BTCUSDT": [order("BTCUSDT")]})
    book.failures.extend(
        [
            VenueUnavailable("HTTP 503", endpoint="e"),
            VenueTimeout("no answer", endpoint="e"),
            RateLimited(-1003, "slow", http_status=429, endpoint="e", retry_after=0.3),
        ]
    )
    action = _cancel(book, clock)
    await action.attempt()
    assert await action.verify()
    assert clock.mono >= 1000.3  # the venue's Retry-After was honoured


async def test_cancel_all_fails_the_attempt_with_the_venues_answer_when_refused() -> None:
    clock = FakeClock()
    book = FakeBook(orders={"BTCUSDT": [order("BTCUSDT")]})
    book.failures.extend([KeyRefused(-2015, "Invalid API-key", http_status=401, endpoint="e")] * 3)
    with pytest.raises(KillStepError, match="Invalid API-key"):
        await _cancel(book, clock).attempt()


async def test_cancels_go_out_first_and_complete_even_when_the_listing_fails() -> None:
    clock = FakeClock()
    book = FakeBook(orders={"BTCUSDT": [order("BTCUSDT")], "ETHUSDT": [order("ETHUSDT", 2)]})
    book.list_failures.extend([KeyRefused(-2015, "no", http_status=401, endpoint="e")])
    with pytest.raises(KillStepError, match="KeyRefused"):
        await _cancel(book, clock).attempt()
    assert book.calls[:3] == ["cancel BTCUSDT", "cancel ETHUSDT", "list *"]
    assert book.orders == {}


async def test_cancel_all_relists_until_orders_that_keep_arriving_are_gone() -> None:
    clock = FakeClock()
    book = FakeBook(orders={"BTCUSDT": [order("BTCUSDT")]})
    book.arrive_on_list.extend([order("BTCUSDT", 5), order("ETHUSDT", 6)])
    action = _cancel(book, clock)
    await action.attempt()
    assert await action.verify()
    assert book.orders == {}


async def test_the_sweep_looks_again_at_its_offsets_and_cancels_late_orders() -> None:
    clock = FakeClock()
    book = FakeBook()
    sweep = SweepOpenOrders(book, clock=clock, offsets_s=(0.1, 1.0, 5.0), sleep=clock.sleep)
    assert not await sweep.verify()  # nothing has been swept yet
    book.arrive_on_list.append(order("BTCUSDT", 9))  # lands before the +1 s sweep... or +0.1
    detail = await sweep.attempt()
    assert clock.mono == pytest.approx(1005.0)
    assert detail.startswith("+0.1s: 1 open")
    assert "+5s: 0 open" in detail
    assert await sweep.verify()


async def test_a_failed_sweep_resumes_where_it_stopped() -> None:
    clock = FakeClock()
    book = FakeBook()
    sweep = SweepOpenOrders(book, clock=clock, offsets_s=(0.1, 1.0), budget_s=0.01,
                            sleep=clock.sleep)  # fmt: skip
    book.failures.extend([VenueUnavailable("HTTP 503", endpoint="e")] * 5)
    with pytest.raises(KillStepError):
        await sweep.attempt()
    book.failures.clear()
    detail = await sweep.attempt()
    assert detail.count("open") == 2


def _revoke(keys: FakeKeys, clock: FakeClock) -> RevokeTraderKey:
    return RevokeTraderKey(keys, keys, trader=SubAccountRef("TRADER", email="t@sub"), clock=clock,
                           sleep=clock.sleep)  # fmt: skip


async def test_revoke_deletes_the_key_and_verifies_it_refused() -> None:
    clock = FakeClock()
    keys = FakeKeys(live={"TRADER", "WATCHDOG"})
    action = _revoke(keys, clock)
    await action.attempt()
    assert await action.verify()
    assert keys.live == {"WATCHDOG"}
    assert keys.calls == ["delete t@sub TRADER", "probe TRADER"]


async def test_a_key_already_gone_counts_as_revoked() -> None:
    clock = FakeClock()
    keys = FakeKeys(live=set())
    keys.delete_failures.append(VenueRejected(-9000, "key not found", http_status=400,
                                              endpoint="e"))  # fmt: skip
    action = _revoke(keys, clock)
    assert "already refused" in await action.attempt()
    assert await action.verify()


async def test_a_refused_delete_with_the_key_still_live_fails_loudly() -> None:
    clock = FakeClock()
    keys = FakeKeys(live={"TRADER"})
    keys.delete_failures.append(KeyRefused(-2015, "master refused", http_status=401,
                                           endpoint="e"))  # fmt: skip
    with pytest.raises(KillStepError, match="master refused"):
        await _revoke(keys, clock).attempt()


async def test_an_unreachable_probe_is_never_read_as_revoked() -> None:
    clock = FakeClock()
    keys = FakeKeys(live=set())
    keys.probe_failures.extend([VenueUnavailable("HTTP 502", endpoint="e")] * 500)
    with pytest.raises(KillStepError, match="502"):
        await _revoke(keys, clock).verify()


async def test_flatten_sends_reduce_only_market_orders_against_each_position() -> None:
    clock = FakeClock()
    book = FakeBook(positions=[
        Position("BTCUSDT", Decimal("0.5"), Decimal(1), Decimal(0), Decimal(1)),
        Position("ETHUSDT", Decimal("-2"), Decimal(1), Decimal(0), Decimal(1)),
        Position("XRPUSDT", Decimal(0), Decimal(0), Decimal(0), Decimal(1)),
    ])  # fmt: skip
    action = FlattenPositions(book, clock=clock, sleep=clock.sleep)
    await action.attempt()
    assert await action.verify()
    orders = sorted(c for c in book.calls if c.startswith("order"))
    assert orders == [
        "order BTCUSDT SELL MARKET 0.5 ro=True",
        "order ETHUSDT BUY MARKET 2 ro=True",
    ]
