"""The watchdog marks the account itself at every price: wallet + (mark - entry) * qty."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from risk.events import AccountSnapshot, EventSource, MarketEvent, PositionSnapshot
from watchdog.daemon.venue.marking import MalformedUpdate, MarkedView
from watchdog.venues.base import AccountView, Position
from watchdog.venues.user_events import AccountUpdate, BalanceUpdate, PositionUpdate

READ_AT = 1_000.0
READ_MS = 1_000_000.0  # the venue time the read began


def _view(*positions: Position, wallet: str = "100000") -> AccountView:
    w = Decimal(wallet)
    unrealized = sum((p.unrealized_pnl for p in positions), Decimal(0))
    return AccountView(w + unrealized, w, unrealized, w, positions)


def _long_btc() -> Position:
    # 0.2 BTC bought at 60000, marked by the venue at 60010 (unrealized +2)
    return Position("BTCUSDT", Decimal("0.2"), Decimal("60000"), Decimal("2"), None)


def test_a_price_marks_the_held_position_and_the_account_at_the_mid() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT, READ_MS)
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
    marked.on_read(_view(_long_btc(), eth), READ_AT, READ_MS)
    _, account, position = marked.on_price("BTCUSDT", 60_000.0, 60_000.0, READ_AT)
    assert isinstance(account, AccountSnapshot)
    assert account.unrealized_pnl == -10.0  # BTC at its entry, ETH at the read's 3010
    assert isinstance(position, PositionSnapshot)


def test_a_flat_symbols_price_marks_the_account_without_a_position() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT, READ_MS)
    events = marked.on_price("ETHUSDT", 2_999.0, 3_001.0, READ_AT)
    assert [type(e) for e in events] == [MarketEvent, AccountSnapshot]


def test_before_any_read_a_price_is_only_a_market_event() -> None:
    events = MarkedView(max_basis_age_s=5.0).on_price("BTCUSDT", 1.0, 2.0, READ_AT)
    assert [type(e) for e in events] == [MarketEvent]


def test_a_stale_basis_marks_nothing() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT, READ_MS)
    events = marked.on_price("BTCUSDT", 1.0, 2.0, READ_AT + 5.01)
    assert [type(e) for e in events] == [MarketEvent]


def test_a_price_that_is_not_a_price_marks_nothing_and_forgets_the_last_mark() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT, READ_MS)
    marked.on_price("BTCUSDT", 50_000.0, 50_000.0, READ_AT)
    for bid in (math.nan, 0.0, -1.0, math.inf):
        events = marked.on_price("BTCUSDT", bid, 60_000.0, READ_AT)
        assert [type(e) for e in events] == [MarketEvent]  # for the engine's bad-data rule
    _, account = marked.on_price("ETHUSDT", 3_000.0, 3_000.0, READ_AT)
    assert isinstance(account, AccountSnapshot)
    assert account.unrealized_pnl == 2.0  # BTC back at the read's mark, not at 50000


def _fill(
    at_ms: float,
    qty: str,
    entry: str,
    wallet: str = "99990",
    *,
    symbol: str = "BTCUSDT",
    unrealized: str = "0",
) -> AccountUpdate:
    """Binance's ACCOUNT_UPDATE for a fill: the wallet and the position in one event."""
    return AccountUpdate(
        int(at_ms),
        "ORDER",
        (BalanceUpdate("USDT", Decimal(wallet), Decimal(wallet), Decimal(0)),),
        (PositionUpdate(symbol, Decimal(qty), Decimal(entry), Decimal(unrealized)),),
    )


def _equity(marked: MarkedView, bid: float, ask: float, now: float) -> float:
    account = marked.on_price("BTCUSDT", bid, ask, now)[1]
    assert isinstance(account, AccountSnapshot)
    return account.equity


def test_a_fill_on_the_stream_is_marked_at_the_next_price_before_any_read() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(), READ_AT, READ_MS)  # flat
    marked.on_update(_fill(READ_MS + 100, "1", "60000"), READ_AT)  # bought 1 BTC, paid 10 in fees
    _, account, position = marked.on_price("BTCUSDT", 53_999.0, 54_001.0, READ_AT + 0.5)
    assert isinstance(account, AccountSnapshot)
    assert account.equity == 99_990.0 + (54_000.0 - 60_000.0) * 1.0
    assert account.ts == READ_AT  # the stream never makes the read look fresh
    assert position == PositionSnapshot(READ_AT + 0.5, "BTCUSDT", 1.0, 54_000.0, EventSource.VENUE)


def test_a_fill_on_the_stream_is_judged_at_the_fill_marked_at_the_last_price() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(), READ_AT, READ_MS)
    marked.on_price("BTCUSDT", 54_999.0, 55_001.0, READ_AT + 0.1)
    account, position = marked.on_update(_fill(READ_MS + 200, "1", "60000"), READ_AT + 0.2)
    assert isinstance(account, AccountSnapshot)
    assert account.equity == 99_990.0 - 5_000.0
    assert position == PositionSnapshot(READ_AT + 0.2, "BTCUSDT", 1.0, 55_000.0, EventSource.VENUE)
    closed = marked.on_update(_fill(READ_MS + 300, "0", "0", wallet="95000"), READ_AT + 0.3)
    assert closed[1] == PositionSnapshot(READ_AT + 0.3, "BTCUSDT", 0.0, 55_000.0, EventSource.VENUE)


def test_an_update_that_moves_nothing_says_nothing() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT, READ_MS)
    assert marked.on_update(_fill(READ_MS - 1, "5", "60000"), READ_AT) == ()  # in the read
    assert marked.on_update(_position_only(READ_MS + 1, "0.1", "60000"), READ_AT) == ()  # shrinks


def test_a_position_closed_on_the_stream_is_no_longer_marked() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT, READ_MS)
    marked.on_update(
        _fill(READ_MS + 100, "0", "0", wallet="100050"), READ_AT
    )  # sold at a profit of 50
    events = marked.on_price("BTCUSDT", 40_000.0, 40_000.0, READ_AT + 0.5)
    assert [type(e) for e in events] == [MarketEvent, AccountSnapshot]
    assert _equity(marked, 40_000.0, 40_000.0, READ_AT + 0.5) == 100_050.0


def test_an_update_the_venue_stamped_before_the_read_began_does_not_roll_the_read_back() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT, READ_MS)
    marked.on_update(_fill(READ_MS - 1, "5", "60000", wallet="1"), READ_AT)  # already in the read
    assert _equity(marked, 60_000.0, 60_000.0, READ_AT) == 100_000.0


def test_an_older_stream_update_arriving_late_does_not_roll_a_newer_one_back() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(), READ_AT, READ_MS)
    marked.on_update(_fill(READ_MS + 200, "2", "60000", wallet="99980"), READ_AT)
    marked.on_update(_fill(READ_MS + 100, "1", "60000", wallet="99990"), READ_AT)
    assert _equity(marked, 59_000.0, 59_000.0, READ_AT) == 99_980.0 - 2_000.0


def test_the_next_read_replaces_what_the_stream_moved() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(), READ_AT, READ_MS)
    marked.on_update(_fill(READ_MS + 100, "1", "60000"), READ_AT)
    marked.on_read(_view(wallet="99000"), READ_AT + 1, READ_MS + 1_000)  # the venue says flat
    assert _equity(marked, 59_000.0, 59_000.0, READ_AT + 1) == 99_000.0


def _position_only(at_ms: float, qty: str, entry: str) -> AccountUpdate:
    """Bybit's ``position`` topic, OKX's ``positions`` channel: the position, no wallet."""
    position = PositionUpdate("BTCUSDT", Decimal(qty), Decimal(entry), Decimal(0))
    return AccountUpdate(int(at_ms), "POSITION", (), (position,))


def test_a_wallet_alone_waits_for_the_read() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT, READ_MS)
    wallet_only = AccountUpdate(
        int(READ_MS + 100), "WALLET",
        (BalanceUpdate("USDT", Decimal("1"), Decimal("1"), None),), (),
    )  # fmt: skip
    marked.on_update(wallet_only, READ_AT)
    assert _equity(marked, 60_000.0, 60_000.0, READ_AT) == 100_000.0


def test_a_position_alone_that_grows_is_marked_at_once() -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT, READ_MS)  # 0.2 at 60000
    marked.on_update(
        _position_only(READ_MS + 100, "1.2", "55000"), READ_AT
    )  # bought 1 more at 54000
    assert _equity(marked, 50_000.0, 50_000.0, READ_AT) == 100_000.0 - 5_000.0 * 1.2


def test_a_position_alone_that_shrinks_leaves_the_symbol_to_the_read() -> None:
    # Its realized PnL went to a wallet this update does not carry: marking the smaller
    # position on the old wallet would show a loss (or a gain) that is not there.
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT, READ_MS)
    marked.on_update(_position_only(READ_MS + 100, "0.1", "60000"), READ_AT)
    marked.on_update(
        _position_only(READ_MS + 200, "3", "59000"), READ_AT
    )  # grows, on a stale basis
    assert _equity(marked, 50_000.0, 50_000.0, READ_AT) == 100_000.0 - 10_000.0 * 0.2
    marked.on_read(_view(wallet="99000"), READ_AT + 1, READ_MS + 1_000)
    marked.on_update(_position_only(READ_MS + 1_100, "1", "50000"), READ_AT)  # the read cleared it
    assert _equity(marked, 49_000.0, 49_000.0, READ_AT + 1) == 99_000.0 - 1_000.0


@pytest.mark.parametrize(
    ("update", "named"),
    [
        (_fill(READ_MS + 100, "1", "0"), "BTCUSDT: entry 0 for a position of 1"),
        (_fill(READ_MS + 100, "1", "-5"), "BTCUSDT: entry -5"),
    ],
)
def test_a_malformed_update_is_refused_by_name_and_leaves_the_view_as_it_was(
    update: AccountUpdate, named: str
) -> None:
    marked = MarkedView(max_basis_age_s=5.0)
    marked.on_read(_view(_long_btc()), READ_AT, READ_MS)
    with pytest.raises(MalformedUpdate, match=named):
        marked.on_update(update, READ_AT)
    assert _equity(marked, 60_000.0, 60_000.0, READ_AT) == 100_000.0
