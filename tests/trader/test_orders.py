"""The order manager against a fake venue that records every call and answers as scripted."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from decimal import Decimal
from typing import Any

import pytest

from tests.trader.helpers import RealClock, wait_until
from trader.config import SymbolConfig
from trader.instrument import Instrument
from trader.orders import ClientIds, OrderManager, TrackedOrder
from trader.strategy import Plan, Quote, Side
from trader.venue import (
    AccountReport,
    OrderReport,
    OrderRequest,
    PostOnlyWouldCross,
    SentHook,
    UnknownOrder,
    VenueRejected,
    VenueThrottled,
    VenueUnavailable,
)

BTC = Instrument.from_config(
    SymbolConfig("BTCUSDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.002"), Decimal("0.01"))
)
BID = Quote(Side.BUY, 600_000, 2, reduce_only=False)
ASK = Quote(Side.SELL, 600_100, 2, reduce_only=False)


def report(req_or_id: OrderRequest | str, status: str, executed: float = 0.0) -> OrderReport:
    if isinstance(req_or_id, OrderRequest):
        cid, side, price, qty = (
            req_or_id.client_id,
            req_or_id.side,
            float(req_or_id.price),
            float(req_or_id.qty),
        )
    else:
        cid, side, price, qty = req_or_id, Side.BUY, 60000.0, 0.002
    return OrderReport("BTCUSDT", cid, side, status, price, qty, executed, price if executed else 0)


class FakeVenue:
    """Records calls; each method pops a scripted answer (an exception or a report) if any."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.place_script: deque[BaseException | str] = deque()
        self.cancel_script: deque[BaseException | str] = deque()
        self.query_status = "CANCELED"
        self.query_executed = 0.0
        self.resting: dict[str, OrderReport] = {}
        self.hold = asyncio.Event()
        self.hold.set()

    async def place(self, order: OrderRequest, on_sent: SentHook | None = None) -> OrderReport:
        self.calls.append(("place", order.client_id))
        if on_sent is not None:
            on_sent()
        await self.hold.wait()
        answer = self.place_script.popleft() if self.place_script else "NEW"
        if isinstance(answer, BaseException):
            raise answer
        result = report(order, answer)
        if answer == "NEW":
            self.resting[order.client_id] = result
        return result

    async def cancel(self, symbol: str, client_id: str) -> OrderReport:
        self.calls.append(("cancel", client_id))
        answer = self.cancel_script.popleft() if self.cancel_script else "CANCELED"
        if isinstance(answer, BaseException):
            raise answer
        self.resting.pop(client_id, None)
        return report(client_id, answer)

    async def query(self, symbol: str, client_id: str) -> OrderReport:
        self.calls.append(("query", client_id))
        if self.query_status == "UNKNOWN":
            raise UnknownOrder(-2013, "Order does not exist.")
        return report(client_id, self.query_status, self.query_executed)

    async def open_orders(self) -> list[OrderReport]:
        self.calls.append(("open_orders", ""))
        return list(self.resting.values())

    async def account(self) -> AccountReport:
        return AccountReport(100_000.0, 0.0)

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.calls if k == kind)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []

    def order_submitting(self, order: TrackedOrder) -> None:
        self.events.append(("submitting", order.client_id, None))

    def order_submitted(self, order: TrackedOrder) -> None:
        self.events.append(("submitted", order.client_id, None))

    def order_sent(self, order: TrackedOrder, tick_ns: int | None) -> None:
        self.events.append(("sent", order.client_id, tick_ns))

    def order_acked(self, order: TrackedOrder, round_trip_s: float) -> None:
        self.events.append(("acked", order.client_id, round_trip_s))

    def order_rejected(self, order: TrackedOrder, reason: str) -> None:
        self.events.append(("rejected", order.client_id, reason))

    def order_filled(self, order: TrackedOrder, qty: float, price: float) -> None:
        self.events.append(("filled", order.client_id, qty))

    def order_cancelled(self, order: TrackedOrder, reason: str) -> None:
        self.events.append(("cancelled", order.client_id, reason))

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.events]


Setup = tuple[OrderManager, FakeVenue, Recorder]


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    venue, recorder = FakeVenue(), Recorder()
    async with asyncio.TaskGroup() as tg:
        manager = OrderManager(
            venue,
            {"BTCUSDT": BTC},
            recorder,
            RealClock(),
            tg.create_task,
            trader_id="mm 1/x",
            session="abc",
            request_timeout_s=0.5,
            max_backoff_s=0.05,
        )
        yield manager, venue, recorder
        venue.hold.set()
        manager.cancel_all("teardown")
        async with asyncio.timeout(10):
            await manager.wait_no_orders()


async def test_a_plan_places_orders_with_own_client_ids_and_reports_each_step(setup: Setup) -> None:
    manager, venue, recorder = setup
    manager.execute("BTCUSDT", Plan((), (BID, ASK)), tick_ns=123)
    await wait_until(lambda: recorder.kinds().count("acked") == 2)
    ids = [cid for kind, cid in venue.calls if kind == "place"]
    assert all(cid.startswith("mm1x-abc-") for cid in ids)
    assert len(set(ids)) == 2
    assert ("sent", ids[0], 123) in recorder.events
    assert [r.side for r in manager.resting("BTCUSDT")] == [Side.BUY, Side.SELL]
    assert manager.is_own(ids[0])


async def test_the_send_starts_before_any_bookkeeping_runs(setup: Setup) -> None:
    manager, _venue, recorder = setup
    manager.execute("BTCUSDT", Plan((), (BID,)), tick_ns=1)
    # Only the watchdog's SUBMIT ran synchronously (it must precede the order); then the send
    # task goes first.
    assert recorder.kinds() == ["submitting"]
    await wait_until(lambda: "submitted" in recorder.kinds())
    assert recorder.kinds()[:3] == ["submitting", "sent", "submitted"]


class LoggedPlace:
    """A written fast-path order whose answer is an ack."""

    def __init__(self, request: OrderRequest) -> None:
        self._request = request

    async def report(self) -> OrderReport:
        return report(self._request, "NEW")


class LoggingEntry:
    """A fast path whose writes land in the same log as the listener's calls and the spawns."""

    def __init__(self, log: list[tuple[str, str, object]]) -> None:
        self.log = log
        self.written_at: list[int] = []

    def try_place(self, order: OrderRequest) -> LoggedPlace:
        self.written_at.append(time.perf_counter_ns())
        self.log.append(("write", order.client_id, None))
        return LoggedPlace(order)


async def test_every_order_of_a_tick_is_written_before_any_follow_up_work() -> None:
    venue, recorder = FakeVenue(), Recorder()
    entry = LoggingEntry(recorder.events)
    async with asyncio.TaskGroup() as tg:

        def spawn(coro: Coroutine[Any, Any, None]) -> object:
            recorder.events.append(("spawn", "", None))
            return tg.create_task(coro)

        manager = OrderManager(
            venue, {"BTCUSDT": BTC}, recorder, RealClock(), spawn,
            trader_id="mm1", session="abc", request_timeout_s=0.5, fast=entry,
        )  # fmt: skip
        manager.execute("BTCUSDT", Plan((), (BID, ASK)), tick_ns=7)
        # Each order's SUBMIT just before its bytes, both sets of bytes first; then each
        # order's sent hook and answer task.
        assert recorder.kinds() == [
            *("submitting", "write", "submitting", "write"),
            *("sent", "spawn", "sent", "spawn"),
        ]
        first, second = manager.orders()
        # Each order is stamped when its own bytes went out, not when its follow-up ran.
        assert first.written_ns <= entry.written_at[1] <= second.written_ns
        await wait_until(lambda: recorder.kinds().count("acked") == 2)
        venue.hold.set()
        manager.cancel_all("teardown")
        async with asyncio.timeout(10):
            await manager.wait_no_orders()


async def test_a_venue_rejection_forgets_the_order_and_reports_the_reason(setup: Setup) -> None:
    manager, venue, recorder = setup
    venue.place_script.append(VenueRejected(-2019, "Margin is insufficient."))
    manager.execute("BTCUSDT", Plan((), (BID,)), None)
    await wait_until(lambda: "rejected" in recorder.kinds())
    assert manager.orders() == []
    assert recorder.kinds() == ["submitting", "sent", "submitted", "rejected"]
    assert "-2019" in str(recorder.events[-1][2])


@pytest.mark.parametrize(
    "answer", ["EXPIRED", PostOnlyWouldCross(-5022, "Post Only order will be rejected.")]
)
async def test_a_post_only_order_that_would_cross_expires_and_is_no_reject(
    setup: Setup, answer: str | BaseException
) -> None:
    manager, venue, recorder = setup
    venue.place_script.append(answer)
    manager.execute("BTCUSDT", Plan((), (BID,)), None)
    await wait_until(lambda: "cancelled" in recorder.kinds())
    assert manager.orders() == []
    assert "rejected" not in recorder.kinds()


async def test_429_pauses_new_orders_for_at_least_retry_after(setup: Setup) -> None:
    manager, venue, recorder = setup
    venue.place_script.append(VenueThrottled(retry_after_s=30.0))
    manager.execute("BTCUSDT", Plan((), (BID,)), None)
    await wait_until(lambda: "rejected" in recorder.kinds())
    assert manager.throttled()
    manager.execute("BTCUSDT", Plan((), (ASK,)), None)
    assert venue.count("place") == 1  # nothing new is sent while throttled


async def test_an_unknown_outcome_is_cancelled_by_client_id_at_once(setup: Setup) -> None:
    manager, venue, recorder = setup
    venue.place_script.append(VenueUnavailable("HTTP 503"))
    venue.cancel_script.append(UnknownOrder(-2011, "Unknown order sent."))
    venue.query_status = "UNKNOWN"
    manager.execute("BTCUSDT", Plan((), (BID,)), None)
    await wait_until(lambda: "cancelled" in recorder.kinds())
    (placed,) = [cid for kind, cid in venue.calls if kind == "place"]
    assert ("cancel", placed) in venue.calls
    assert manager.orders() == []
    assert "never reached the venue" in str(recorder.events[-1][2])


async def test_a_timed_out_send_is_cancelled_too(setup: Setup) -> None:
    manager, venue, recorder = setup
    venue.hold.clear()  # the venue never answers within the 0.5 s request timeout
    manager.execute("BTCUSDT", Plan((), (BID,)), None)
    await wait_until(lambda: venue.count("cancel") == 1)
    await wait_until(lambda: "cancelled" in recorder.kinds())
    assert manager.orders() == []


async def test_a_failing_cancel_is_retried_until_the_venue_confirms(setup: Setup) -> None:
    manager, venue, recorder = setup
    manager.execute("BTCUSDT", Plan((), (BID,)), None)
    await wait_until(lambda: "acked" in recorder.kinds())
    venue.cancel_script.extend(
        [VenueUnavailable("reset"), VenueThrottled(0.01), VenueRejected(-1021, "timestamp")]
    )
    manager.cancel_all("test")
    await wait_until(lambda: "cancelled" in recorder.kinds())
    assert venue.count("cancel") == 4
    assert manager.orders() == []


async def test_reconcile_reports_partial_fills_from_the_open_orders(setup: Setup) -> None:
    manager, venue, recorder = setup
    manager.execute("BTCUSDT", Plan((), (BID,)), None)
    await wait_until(lambda: "acked" in recorder.kinds())
    (cid,) = venue.resting
    venue.resting[cid] = report(cid, "PARTIALLY_FILLED", executed=0.001)
    await manager.reconcile()
    assert ("filled", cid, 0.001) in recorder.events
    await manager.reconcile()
    assert recorder.kinds().count("filled") == 1  # the same fill is never counted twice


async def test_an_order_gone_from_the_venue_is_resolved_as_filled(setup: Setup) -> None:
    manager, venue, recorder = setup
    manager.execute("BTCUSDT", Plan((), (BID,)), None)
    await wait_until(lambda: "acked" in recorder.kinds())
    venue.resting.clear()
    venue.query_status, venue.query_executed = "FILLED", 0.002
    await manager.reconcile()
    await wait_until(lambda: manager.orders() == [])
    assert "filled" in recorder.kinds()
    assert "cancelled" not in recorder.kinds()


async def test_an_untracked_own_order_at_the_venue_is_adopted_and_cancelled(setup: Setup) -> None:
    manager, venue, _recorder = setup
    venue.resting["mm1x-old-7"] = report("mm1x-old-7", "NEW")
    venue.resting["other-bot-1"] = report("other-bot-1", "NEW")
    await manager.reconcile()
    await wait_until(lambda: ("cancel", "mm1x-old-7") in venue.calls)
    await wait_until(lambda: manager.orders() == [])
    assert ("cancel", "other-bot-1") not in venue.calls


def test_alphanumeric_client_ids_fit_okx_and_name_their_trader_alone() -> None:
    ids = ClientIds.alphanumeric("mm-1/x", "a1b2c3d4e5")
    first = ids.nth(1)
    assert first == "04mm1xa1b2c3d41"
    assert first.isalnum()
    longest = ClientIds.alphanumeric("t" * 40, "f" * 16).nth(9_999_999_999)
    assert longest.isalnum()  # OKX's clOrdId: letters and digits, at most 32
    assert len(longest) == 32
    assert ids.is_own(ClientIds.alphanumeric("mm1x", "other").nth(7))  # another run, same trader
    # Without a separator, a trader whose id starts with another's must not claim its orders.
    assert not ClientIds.alphanumeric("mm1", "s").is_own(ClientIds.alphanumeric("mm12", "s").nth(1))
    assert not ClientIds.alphanumeric("mm12", "s").is_own(
        ClientIds.alphanumeric("mm1", "2s").nth(1)
    )


async def test_a_manager_for_okx_sends_alphanumeric_client_ids() -> None:
    venue, recorder = FakeVenue(), Recorder()
    async with asyncio.TaskGroup() as tg:
        manager = OrderManager(
            venue, {"BTCUSDT": BTC}, recorder, RealClock(), tg.create_task,
            trader_id="mm-1", session="abc", request_timeout_s=0.5, alphanumeric_ids=True,
        )  # fmt: skip
        manager.execute("BTCUSDT", Plan((), (BID,)), tick_ns=1)
        await wait_until(lambda: recorder.kinds().count("acked") == 1)
        [cid] = [cid for kind, cid in venue.calls if kind == "place"]
        assert cid == "03mm1abc1"
        assert manager.is_own(cid)
        venue.hold.set()
        manager.cancel_all("teardown")
        async with asyncio.timeout(10):
            await manager.wait_no_orders()
