"""Orders: placement rules, matching, fills, positions and PnL, with the venue's error codes."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from harness.sim import MASTER_ACCOUNT, TRADER_ACCOUNT, SimConfig, SimProcess
from tests.exchange_sim.venue_client import VenueClient


def _quote(venue: VenueClient, symbol: str = "BTCUSDT") -> tuple[Decimal, Decimal]:
    q = venue.sim.admin.quotes()[symbol]
    return Decimal(q["bid"]), Decimal(q["ask"])


async def test_a_resting_limit_order_is_listed_queried_and_cancelled(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    placed = await venue.limit(key, "BUY", "50000.0", newClientOrderId="my-order-1")
    assert placed.status == 200, placed.body
    order = placed.body
    assert order["status"] == "NEW"
    assert order["clientOrderId"] == "my-order-1"
    assert order["executedQty"] == "0"
    assert {"orderId", "avgPrice", "updateTime", "origQty", "timeInForce"} <= set(order)
    listed = await venue.open_orders(key, "BTCUSDT")
    assert [o["orderId"] for o in listed.body] == [order["orderId"]]
    queried = await venue.signed(
        "GET", "/fapi/v1/order", key, {"symbol": "BTCUSDT", "origClientOrderId": "my-order-1"}
    )
    assert queried.body["orderId"] == order["orderId"]
    cancelled = await venue.signed(
        "DELETE", "/fapi/v1/order", key, {"symbol": "BTCUSDT", "orderId": order["orderId"]}
    )
    assert cancelled.body["status"] == "CANCELED"
    assert (await venue.open_orders(key)).body == []
    again = await venue.signed(
        "DELETE", "/fapi/v1/order", key, {"symbol": "BTCUSDT", "orderId": order["orderId"]}
    )
    assert again.code == -2011
    after = await venue.signed(
        "GET", "/fapi/v1/order", key, {"symbol": "BTCUSDT", "orderId": order["orderId"]}
    )
    assert after.body["status"] == "CANCELED"
    missing = await venue.signed(
        "GET", "/fapi/v1/order", key, {"symbol": "BTCUSDT", "orderId": 999999}
    )
    assert missing.code == -2013


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "DOGEUSDT", "price": "1"}, -1121),
        ({"price": "50000.05"}, -1111),
        ({"quantity": "0.0015"}, -1111),
        ({"quantity": "0.001", "price": "50000"}, -4164),
        ({"quantity": "100", "price": "50000"}, -2019),
        ({"side": "HOLD"}, -1117),
        ({"type": "STOP"}, -1116),
        ({"timeInForce": "DAY"}, -1115),
        ({"quantity": "abc"}, -1102),
        ({"quantity": "0"}, -4003),
        ({"newClientOrderId": "bad id!"}, -4015),
        ({"reduceOnly": "true"}, -2022),
        ({"quantity": "2000000"}, -4005),
        ({"type": "MARKET", "price": "50000"}, -1106),
        ({"timeInForce": ""}, -1102),
    ],
)
async def test_invalid_orders_get_the_venue_error_code(
    venue: VenueClient, params: dict[str, str], code: int
) -> None:
    order = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01",
        "price": "50000",
    }
    order.update(params)
    reply = await venue.order(venue.sim.trader_key, **order)
    assert (reply.status, reply.code) == (400, code), reply.body


async def test_a_duplicate_client_order_id_among_open_orders_is_refused(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    assert (await venue.limit(key, "BUY", "50000", newClientOrderId="dup")).status == 200
    assert (await venue.limit(key, "BUY", "50001", newClientOrderId="dup")).code == -4116
    assert (
        await venue.limit(venue.sim.watchdog_key, "BUY", "50002", newClientOrderId="dup")
    ).code == -4116


async def test_time_in_force_rules(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    _, ask = _quote(venue)
    far = str(ask + 1000)
    post_only = await venue.limit(key, "BUY", far, tif="GTX")
    assert post_only.code == -5022
    fok = await venue.limit(key, "BUY", str(ask), qty="20", tif="FOK")
    assert fok.code == -5021  # far more than one level of depth at that price
    ioc = await venue.limit(key, "BUY", "50000", tif="IOC", newOrderRespType="RESULT")
    assert ioc.body["status"] == "EXPIRED"
    assert (await venue.open_orders(key)).body == []


async def test_a_market_order_walks_the_book_and_opens_a_position(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    reply = await venue.order(key, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="7")
    assert reply.status == 200, reply.body
    body = reply.body
    assert body["status"] == "FILLED"
    assert body["executedQty"] == "7"
    # 5 at the best ask, 2 one tick higher: the average sits between them.
    avg = Decimal(body["avgPrice"])
    assert Decimal(body["cumQuote"]) == pytest.approx(avg * 7)
    rows = (await venue.signed("GET", "/fapi/v2/positionRisk", key, {"symbol": "BTCUSDT"})).body
    assert rows[0]["positionAmt"] == "7"
    assert Decimal(rows[0]["entryPrice"]) == avg
    admin_rows = venue.sim.admin.positions("trader1")
    assert next(r for r in admin_rows if r["symbol"] == "BTCUSDT")["positionAmt"] == "7"


async def test_a_round_trip_realises_pnl_and_pays_fees(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    start = Decimal((await venue.signed("GET", "/fapi/v2/account", key)).body["totalWalletBalance"])
    buy = await venue.order(key, symbol="ETHUSDT", side="BUY", type="MARKET", quantity="1")
    venue.sim.admin.price_jump("ETHUSDT", 10)
    sell = await venue.order(
        key, symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1", reduceOnly="true"
    )
    assert sell.body["status"] == "FILLED", sell.body
    bought, sold = Decimal(buy.body["avgPrice"]), Decimal(sell.body["avgPrice"])
    fees = (bought + sold) * Decimal("0.0005")
    account = (await venue.signed("GET", "/fapi/v2/account", key)).body
    assert Decimal(account["totalWalletBalance"]) - start == pytest.approx(sold - bought - fees)
    assert sold - bought > 250  # the jump made money
    eth = next(p for p in account["positions"] if p["symbol"] == "ETHUSDT")
    assert eth["positionAmt"] == "0"
    balance = (await venue.signed("GET", "/fapi/v2/balance", key)).body
    assert balance[0]["asset"] == "USDT"
    assert balance[0]["balance"] == account["totalWalletBalance"]


async def test_a_price_crash_fills_resting_bids_and_shows_unrealised_loss(
    venue: VenueClient,
) -> None:
    key = venue.sim.trader_key
    bid, _ = _quote(venue)
    resting = await venue.limit(key, "BUY", str(bid - 100), qty="0.1")
    assert resting.body["status"] == "NEW"
    venue.sim.admin.price_jump("BTCUSDT", -5)
    queried = await venue.signed(
        "GET", "/fapi/v1/order", key, {"symbol": "BTCUSDT", "orderId": resting.body["orderId"]}
    )
    assert queried.body["status"] == "FILLED"
    assert Decimal(queried.body["avgPrice"]) == bid - 100  # a maker fills at its own price
    account = (await venue.signed("GET", "/fapi/v2/account", key)).body
    assert Decimal(account["totalUnrealizedProfit"]) < -200


async def test_cancel_all_clears_one_symbol_only(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    await venue.limit(key, "BUY", "50000")
    await venue.limit(key, "BUY", "50001")
    eth = await venue.limit(key, "BUY", "2500", "0.1", symbol="ETHUSDT")
    reply = await venue.signed("DELETE", "/fapi/v1/allOpenOrders", key, {"symbol": "BTCUSDT"})
    assert reply.body == {"code": 200, "msg": "The operation of cancel all open order is done."}
    left = (await venue.open_orders(key)).body
    assert [o["orderId"] for o in left] == [eth.body["orderId"]]


async def test_margin_counts_resting_orders(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    small = dataclasses.replace(TRADER_ACCOUNT, usdt="1000")
    sim = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=0, accounts=(MASTER_ACCOUNT, small)))
    try:
        venue = VenueClient(sim, session)
        # 1000 USDT at 20x leverage carries 20000 of notional; two orders of 15000 do not fit.
        assert (await venue.limit(sim.trader_key, "BUY", "50000", qty="0.3")).status == 200
        assert (await venue.limit(sim.trader_key, "BUY", "50000", qty="0.3")).code == -2019
    finally:
        sim.stop()


async def test_a_post_only_order_rests_and_pays_the_maker_fee_when_filled(
    venue: VenueClient,
) -> None:
    key = venue.sim.trader_key
    bid, _ = _quote(venue)
    start = Decimal((await venue.signed("GET", "/fapi/v2/account", key)).body["totalWalletBalance"])
    price = bid - 10
    placed = await venue.limit(key, "BUY", str(price), qty="0.5", tif="GTX")
    assert placed.body["status"] == "NEW"
    venue.sim.admin.price_jump("BTCUSDT", -1)
    account = (await venue.signed("GET", "/fapi/v2/account", key)).body
    maker_fee = price * Decimal("0.5") * Decimal("0.0002")
    assert start - Decimal(account["totalWalletBalance"]) == maker_fee
