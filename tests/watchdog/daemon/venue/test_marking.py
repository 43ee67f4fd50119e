"""The watchdog marks the account itself at every price: wallet + (mark - entry) * qty."""

from __future__ import annotations

import math
from decimal import Decimal

from risk.events import AccountSnapshot, EventSource, MarketEvent, PositionSnapshot
from watchdog.daemon.venue.marking import MarkedView
from watchdog.venues.base import AccountView, Position

READ_AT = 1_000.0


def _view(*positions: Position, wallet: str = "100000") -> AccountView:
    w = Decimal(wallet)
    unrealized = sum((p.unrealized_pnl for p in positions), Decimal(0))
    return AccountView(w + unrealized, w, unrealized, w, positions)


def _long_btc() -> Position:
    # 0.2 BTC bought at 60000, marked by the venue at 60010 (unrealized +2)
    return Position("BTCUSDT", Decimal("0.2"), Decimal("60000"), Decimal("2"), None)


def test_a_price_marks_the_held_position_and_the_account_at_the_mid() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT)
    market, account, position = marked.on_price("BTCUSDT", 41_999.0, 42_001.0, READ_AT + 0.5)
    assert market == MarketEvent(READ_AT + 0.5, "BTCUSDT", 41_999.0, 42_001.0, EventSource.VENUE)
    assert isinstance(account, AccountSnapshot)
    assert account.source is EventSource.VENUE
    assert account.unrealized_pnl == (42_000.0 - 60_000.0) * 0.2
    assert account.equity == 100_000.0 + (42_000.0 - 60_000.0) * 0.2
    assert account.ts == READ_AT  # the basis's age, never the price's: venue_blind still counts
    assert position == PositionSnapshot(READ_AT + 0.5, "BTCUSDT", 0.2, 42_000.0, EventSource.VENUE)


def test_a_symbol_not_priced_yet_keeps_the_venues_own_mark_from_the_read() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    eth = Position("ETHUSDT", Decimal("-1"), Decimal("3000"), Decimal("-10"), None)  # mark 3010
    marked.on_read(_view(_long_btc(), eth), READ_AT)
    _, account, position = marked.on_price("BTCUSDT", 60_000.0, 60_000.0, READ_AT)
    assert isinstance(account, AccountSnapshot)
    assert account.unrealized_pnl == -10.0  # BTC at its entry, ETH at the read's 3010
    assert isinstance(position, PositionSnapshot)


def test_a_flat_symbols_price_marks_the_account_without_a_position() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT)
    events = marked.on_price("ETHUSDT", 2_999.0, 3_001.0, READ_AT)
    assert [type(e) for e in events] == [MarketEvent, AccountSnapshot]


def test_before_any_read_a_price_is_only_a_market_event() -> None:
    events = MarkedView(max_basis_age_s=5.0).on_price("BTCUSDT", 1.0, 2.0, READ_AT)
    assert [type(e) for e in events] == [MarketEvent]


def test_a_stale_basis_marks_nothing() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT)
    events = marked.on_price("BTCUSDT", 1.0, 2.0, READ_AT + 5.01)
    assert [type(e) for e in events] == [MarketEvent]


def test_a_price_that_is_not_a_price_marks_nothing_and_forgets_the_last_mark() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT)
    marked.on_price("BTCUSDT", 50_000.0, 50_000.0, READ_AT)
    for bid in (math.nan, 0.0, -1.0, math.inf):
        events = marked.on_price("BTCUSDT", bid, 60_000.0, READ_AT)
        assert [type(e) for e in events] == [MarketEvent]  # for the engine's bad-data rule
    _, account = marked.on_price("ETHUSDT", 3_000.0, 3_000.0, READ_AT)
    assert isinstance(account, AccountSnapshot)
    assert account.unrealized_pnl == 2.0  # BTC back at the read's mark, not at 50000
