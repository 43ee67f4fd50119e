"""The independent view: venue reads become VENUE-sourced risk events."""

from __future__ import annotations

from decimal import Decimal

from risk.events import (
    AccountSnapshot,
    EventSource,
    OpenOrdersSnapshot,
    OrderEventKind,
    PositionSnapshot,
    RiskEvent,
)
from tests.watchdog.daemon.venue.fakes import FakeBook, FakeClock, order
from watchdog.daemon.venue.reconcile import Reconciler, order_event
from watchdog.venues.base import Position, Side
from watchdog.venues.errors import VenueUnavailable
from watchdog.venues.user_events import OrderUpdate


def _reconciler(book: FakeBook, events: list[RiskEvent], every: int = 10) -> Reconciler:
    return Reconciler(book, ["BTCUSDT", "ETHUSDT"], clock=FakeClock(), sink=events.extend,
                      full_list_every=every)  # fmt: skip


async def test_equity_orders_and_every_traded_symbols_position_are_reported_as_venue() -> None:
    book = FakeBook(orders={"BTCUSDT": [order("BTCUSDT", 1), order("BTCUSDT", 2)]},
                    equity=Decimal("950.5"))  # fmt: skip
    book.positions = [Position("BTCUSDT", Decimal("-0.5"), Decimal(100), Decimal(-5), None)]
    events: list[RiskEvent] = []
    result = await _reconciler(book, events).run_once()
    assert result.ok
    assert all(e.source is EventSource.VENUE for e in events)  # type: ignore[union-attr]
    account = next(e for e in events if isinstance(e, AccountSnapshot))
    assert account.equity == 950.5
    assert next(e for e in events if isinstance(e, OpenOrdersSnapshot)).count == 2
    positions = {e.symbol: e for e in events if isinstance(e, PositionSnapshot)}
    assert positions["ETHUSDT"].qty == 0.0
    assert positions["BTCUSDT"].qty == -0.5
    # linear contract: mark = entry + unrealized / qty = 100 + (-5 / -0.5)
    assert positions["BTCUSDT"].mark_price == 110.0


async def test_a_failed_read_sends_nothing_rather_than_a_partial_view() -> None:
    book = FakeBook()
    book.failures.append(VenueUnavailable("HTTP 503", endpoint="GET /fapi/v2/account"))
    events: list[RiskEvent] = []
    result = await _reconciler(book, events).run_once()
    assert not result.ok
    assert "503" in result.detail
    assert events == []


async def test_cheap_per_symbol_reads_between_full_lists_keep_counting_other_symbols() -> None:
    book = FakeBook(orders={"XRPUSDT": [order("XRPUSDT")], "BTCUSDT": [order("BTCUSDT")]})
    events: list[RiskEvent] = []
    reconciler = _reconciler(book, events, every=3)
    counts = []
    for _ in range(4):
        await reconciler.run_once()
        counts.append([e for e in events if isinstance(e, OpenOrdersSnapshot)][-1].count)
    assert counts == [2, 2, 2, 2]
    lists = [c for c in book.calls if c.startswith("list")]
    assert lists[0] == "list *"
    assert "list BTCUSDT" in lists[1:3]
    assert lists.count("list *") == 2  # runs 0 and 3


def _update(execution: str, status: str) -> OrderUpdate:
    return OrderUpdate(1, 1, "BTCUSDT", "c", Side.SELL, "LIMIT", execution, status, "5",
                       Decimal(2), Decimal(100), Decimal("0.5"), Decimal(101), Decimal("0.5"),
                       False, Decimal("-1.5"))  # fmt: skip


def test_stream_order_updates_map_to_venue_order_events() -> None:
    ack = order_event(_update("NEW", "NEW"), 10.0)
    assert ack is not None
    assert (ack.kind, ack.qty, ack.price, ack.source, ack.order_id) == (
        OrderEventKind.ACK, 2.0, 100.0, EventSource.VENUE, "c")  # fmt: skip
    fill = order_event(_update("TRADE", "PARTIALLY_FILLED"), 10.0)
    assert fill is not None
    assert (fill.kind, fill.qty, fill.price, fill.realized_pnl) == (
        OrderEventKind.FILL, 0.5, 101.0, -1.5)  # fmt: skip
    cancel = order_event(_update("CANCELED", "CANCELED"), 10.0)
    assert cancel is not None
    assert cancel.kind is OrderEventKind.CANCEL
    assert order_event(_update("AMENDMENT", "NEW"), 10.0) is None
