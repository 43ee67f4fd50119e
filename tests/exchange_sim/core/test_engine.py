"""The matching engine as a pure state machine: quotes in, orders, fills and events out."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from exchange_sim.config import load_config
from exchange_sim.core.engine import Exchange
from exchange_sim.core.events import OrderEvent
from exchange_sim.core.market import Quote
from exchange_sim.core.orders import NewOrder
from exchange_sim.core.refusals import Reason, Refused

FUNDED_MS = 1_700_000_000_000


def _exchange() -> Exchange:
    ex = Exchange(load_config(None), FUNDED_MS)
    ex.on_quote("BTCUSDT", Quote(D("60000.0"), D("60000.1"), D("5"), D("5")), 0)
    ex.on_quote("ETHUSDT", Quote(D("3000.00"), D("3000.01"), D("5"), D("5")), 0)
    ex.listening.add("trader1")
    return ex


def test_configured_balances_carry_the_time_they_were_funded() -> None:
    # Clients (ccxt) skip an asset whose update time is 0 as never touched.
    assert {a.update_ms for a in _exchange().accounts.values()} == {FUNDED_MS}


def _order(
    side: str, qty: str, price: str | None = None, tif: str = "GTC", **kw: object
) -> NewOrder:
    return NewOrder(
        symbol=str(kw.get("symbol", "BTCUSDT")),
        side=side,
        type="LIMIT" if price is not None else "MARKET",
        tif=tif,
        qty=D(qty),
        price=D(price) if price is not None else D(0),
        reduce_only=bool(kw.get("reduce_only")),
        client_order_id=None,
    )


def test_a_buy_walks_the_ask_levels() -> None:
    ex = _exchange()
    order = ex.place("trader1", _order("BUY", "12"), 1)
    assert order.status == "FILLED"
    # 5 @ 60000.1, 5 @ 60000.2, 2 @ 60000.3
    assert order.cum_quote == D("5") * D("60000.1") + D("5") * D("60000.2") + D("2") * D("60000.3")


def test_a_limit_fills_only_up_to_its_price_then_rests() -> None:
    ex = _exchange()
    order = ex.place("trader1", _order("BUY", "8", "60000.1"), 1)
    assert (order.status, order.executed_qty) == ("PARTIALLY_FILLED", D("5"))
    assert [o.order_id for o in ex.open_orders("trader1", None)] == [order.order_id]
    ex.on_quote("BTCUSDT", Quote(D("59999.0"), D("59999.1"), D("5"), D("5")), 2)
    assert order.status == "FILLED"
    assert order.avg_price == D("60000.1")


def test_position_entry_realised_pnl_and_fees() -> None:
    ex = _exchange()
    acct = ex.accounts["trader1"]
    start = acct.wallet
    ex.place("trader1", _order("BUY", "1", "60000.1", tif="IOC"), 1)
    ex.on_quote("BTCUSDT", Quote(D("61000.0"), D("61000.1"), D("5"), D("5")), 2)
    pos = acct.positions["BTCUSDT"]
    assert (pos.qty, pos.entry) == (D(1), D("60000.1"))
    assert ex.unrealized(pos) == D("61000.05") - D("60000.1")
    ex.place("trader1", _order("SELL", "3", None), 3)  # flips to short 2 at the bid
    assert (pos.qty, pos.entry) == (D(-2), D("61000.0"))
    fees = (D("60000.1") + D("61000.0") * 3) * D("0.0005")
    assert acct.wallet == start + (D("61000.0") - D("60000.1")) - fees


def test_reduce_only_is_capped_at_the_position() -> None:
    ex = _exchange()
    ex.place("trader1", _order("BUY", "1"), 1)
    with pytest.raises(Refused) as err:
        ex.place("trader1", _order("BUY", "1", reduce_only=True), 2)
    assert err.value.reason is Reason.REDUCE_ONLY
    close = ex.place("trader1", _order("SELL", "3", reduce_only=True), 3)
    assert close.executed_qty == D(1)
    assert close.status == "EXPIRED"
    assert ex.accounts["trader1"].positions["BTCUSDT"].qty == 0


def test_cancel_releases_order_margin() -> None:
    ex = _exchange()
    acct = ex.accounts["trader1"]
    before = ex.available_balance(acct)
    order = ex.place("trader1", _order("BUY", "1", "50000.0"), 1)
    assert ex.available_balance(acct) == before - D("50000") / 20
    ex.cancel("trader1", "BTCUSDT", order.order_id, None, 2)
    assert ex.available_balance(acct) == before


def test_countdown_expiry_cancels_one_symbol_and_emits_events() -> None:
    ex = _exchange()
    btc = ex.place("trader1", _order("BUY", "1", "50000.0"), 1)
    eth = ex.place("trader1", _order("BUY", "1", "2000.00", symbol="ETHUSDT"), 1)
    ex.outbox.clear()
    ex.set_countdown("trader1", "BTCUSDT", 100, now_mono=10.0)
    assert ex.expire_countdowns(10.05, 2) == []
    [(account, symbol, cancelled)] = ex.expire_countdowns(10.1, 3)
    assert (account, symbol, [o.order_id for o in cancelled]) == (
        "trader1",
        "BTCUSDT",
        [btc.order_id],
    )
    assert eth.status == "NEW"
    assert [(e.exec_type, e.order.status) for e in ex.outbox if isinstance(e, OrderEvent)] == [
        ("CANCELED", "CANCELED")
    ]


def test_no_events_are_built_for_accounts_nobody_follows() -> None:
    ex = _exchange()
    ex.listening.clear()
    ex.place("trader1", _order("BUY", "1"), 1)
    assert ex.outbox == []


def test_place_cancel_churn_does_not_grow_the_book() -> None:
    ex = _exchange()
    ex.listening.clear()
    for _ in range(5000):
        order = ex.place("trader1", _order("BUY", "0.01", "50000.0"), 1)
        ex.cancel("trader1", "BTCUSDT", order.order_id, None, 1)
    assert len(ex._bids["BTCUSDT"]) <= 1025
    assert ex.order_margin(ex.accounts["trader1"]) == 0
