"""The Bybit v5 REST front: envelope, auth in the venue's order, orders, account, keys, limits."""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal
from pathlib import Path

import aiohttp

from harness.sim import SimConfig, SimProcess, bybit_headers, sign
from tests.exchange_sim.fronts.bybit.client import BybitClient, now_ms


async def test_public_market_endpoints_answer_in_the_envelope(bybit: BybitClient) -> None:
    server = await bybit.get("/v5/market/time")
    assert server.code == 0
    assert set(server.body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert abs(int(server.result["timeSecond"]) * 1000 - now_ms()) < 60_000
    info = await bybit.get("/v5/market/instruments-info", category="linear", symbol="BTCUSDT")
    [btc] = info.result["list"]
    assert (btc["priceFilter"]["tickSize"], btc["lotSizeFilter"]["qtyStep"]) == ("0.1", "0.001")
    assert btc["lotSizeFilter"]["minNotionalValue"] == "100"
    tickers = await bybit.get("/v5/market/tickers", category="linear")
    assert {t["symbol"] for t in tickers.result["list"]} == {"BTCUSDT", "ETHUSDT"}
    spot = await bybit.get("/v5/market/tickers", category="spot")
    assert spot.code == 10001


async def test_place_list_amend_and_cancel(bybit: BybitClient) -> None:
    key = bybit.sim.trader_key
    placed = await bybit.limit(key, "Buy", "50000", orderLinkId="mine-1")
    assert placed.code == 0, placed.body
    order_id = placed.result["orderId"]
    assert placed.result["orderLinkId"] == "mine-1"
    [listed] = await bybit.open_orders(key)
    assert (listed["orderId"], listed["orderStatus"], listed["side"]) == (order_id, "New", "Buy")
    amended = await bybit.post(
        "/v5/order/amend", key, category="linear", symbol="BTCUSDT", orderId=order_id,
        qty="0.02", price="50000.5",
    )  # fmt: skip
    assert amended.code == 0, amended.body
    [after] = await bybit.open_orders(key)
    assert (after["orderId"], after["qty"], after["price"]) == (order_id, "0.02", "50000.5")
    cancelled = await bybit.post(
        "/v5/order/cancel", key, category="linear", symbol="BTCUSDT", orderLinkId="mine-1"
    )
    assert cancelled.result == {"orderId": order_id, "orderLinkId": "mine-1"}
    assert await bybit.open_orders(key) == []
    history = await bybit.get("/v5/order/history", key, category="linear", orderId=order_id)
    assert history.result["list"][0]["orderStatus"] == "Cancelled"
    again = await bybit.post(
        "/v5/order/cancel", key, category="linear", symbol="BTCUSDT", orderId=order_id
    )
    assert again.code == 110001


async def test_an_amend_that_crosses_the_market_fills(bybit: BybitClient) -> None:
    key = bybit.sim.trader_key
    placed = await bybit.limit(key, "Buy", "50000")
    order_id = placed.result["orderId"]
    crossed = await bybit.post(
        "/v5/order/amend", key, category="linear", symbol="BTCUSDT", orderId=order_id,
        price="61000",
    )  # fmt: skip
    assert crossed.code == 0, crossed.body
    assert await bybit.open_orders(key) == []
    [row] = (await bybit.get("/v5/order/history", key, category="linear")).result["list"]
    assert (row["orderStatus"], row["cumExecQty"]) == ("Filled", "0.01")


async def test_cancel_all_needs_a_selector_then_cancels_every_symbol(bybit: BybitClient) -> None:
    key = bybit.sim.trader_key
    await bybit.limit(key, "Buy", "50000")
    eth = await bybit.post(
        "/v5/order/create", key, category="linear", symbol="ETHUSDT", side="Sell",
        orderType="Limit", qty="0.01", price="4000",
    )  # fmt: skip
    assert eth.code == 0, eth.body
    bare = await bybit.post("/v5/order/cancel-all", key, category="linear")
    assert bare.code == 10001
    done = await bybit.post("/v5/order/cancel-all", key, category="linear", settleCoin="USDT")
    assert done.result["success"] == "1"
    assert len(done.result["list"]) == 2
    assert await bybit.open_orders(key) == []
    assert bybit.sim.admin.open_orders("trader1") == []


async def test_a_market_fill_shows_in_position_and_wallet(bybit: BybitClient) -> None:
    key = bybit.sim.trader_key
    sold = await bybit.post(
        "/v5/order/create", key, category="linear", symbol="ETHUSDT", side="Sell",
        orderType="Market", qty="0.1",
    )  # fmt: skip
    assert sold.code == 0, sold.body
    by_coin = await bybit.get("/v5/position/list", key, category="linear", settleCoin="USDT")
    [pos] = by_coin.result["list"]
    assert (pos["symbol"], pos["side"], pos["size"], pos["positionIdx"]) == (
        "ETHUSDT", "Sell", "0.1", 0
    )  # fmt: skip
    flat = await bybit.get("/v5/position/list", key, category="linear", symbol="BTCUSDT")
    assert flat.result["list"][0]["size"] == "0"
    wallet = await bybit.get("/v5/account/wallet-balance", key, accountType="UNIFIED")
    [account] = wallet.result["list"]
    assert float(account["totalWalletBalance"]) < 100_000  # the taker fee was charged
    assert account["coin"][0]["coin"] == "USDT"


async def _market(bybit: BybitClient, side: str, qty: str) -> None:
    reply = await bybit.post(
        "/v5/order/create", bybit.sim.trader_key, category="linear", symbol="ETHUSDT",
        side=side, orderType="Market", qty=qty,
    )  # fmt: skip
    assert reply.code == 0, reply.body


async def _eth_position(bybit: BybitClient) -> dict[str, str]:
    listed = await bybit.get(
        "/v5/position/list", bybit.sim.trader_key, category="linear", symbol="ETHUSDT"
    )
    [pos] = listed.result["list"]
    return dict(pos)


async def _wallet(bybit: BybitClient) -> Decimal:
    wallet = await bybit.get("/v5/account/wallet-balance", bybit.sim.trader_key,
                             accountType="UNIFIED")  # fmt: skip
    return Decimal(wallet.result["list"][0]["totalWalletBalance"])


async def test_cum_realised_pnl_moves_with_the_wallet_through_a_shrink_a_flip_and_a_close(
    bybit: BybitClient,
) -> None:
    # What the watchdog relies on: every fill moves the wallet by exactly what it adds to the
    # symbol's cumRealisedPnl (fees included), so a position push carries its wallet change.
    start = await _wallet(bybit)
    steps = [("Buy", "0.2", "Buy", "0.2"), ("Sell", "0.05", "Buy", "0.15"),
             ("Sell", "0.25", "Sell", "0.1"), ("Buy", "0.1", "", "0")]  # fmt: skip
    for side, qty, held_side, held in steps:
        await _market(bybit, side, qty)
        pos = await _eth_position(bybit)
        assert (pos["side"], pos["size"]) == (held_side, held)
        assert Decimal(pos["cumRealisedPnl"]) == await _wallet(bybit) - start
    assert Decimal(pos["cumRealisedPnl"]) < 0  # four taker fees, at a price that barely moved


async def test_cur_realised_pnl_restarts_with_each_position(bybit: BybitClient) -> None:
    await _market(bybit, "Buy", "0.2")
    opened = await _eth_position(bybit)
    assert Decimal(opened["curRealisedPnl"]) == Decimal(opened["cumRealisedPnl"]) < 0  # the fee
    await _market(bybit, "Sell", "0.2")
    await _market(bybit, "Sell", "0.1")  # a new short, from flat
    short = await _eth_position(bybit)
    assert Decimal(short["curRealisedPnl"]) < 0  # its own opening fee only
    assert Decimal(short["cumRealisedPnl"]) < Decimal(short["curRealisedPnl"])


async def test_an_order_beyond_the_balance_is_110007(bybit: BybitClient) -> None:
    reply = await bybit.limit(bybit.sim.trader_key, "Buy", "50000", qty="100")
    assert (reply.status, reply.code) == (200, 110007)


async def test_auth_failures_each_have_their_code(bybit: BybitClient) -> None:
    key = bybit.sim.trader_key
    path, query = "/v5/order/realtime", "category=linear&settleCoin=USDT"
    missing = await bybit.raw("GET", path, query)
    assert (missing.status, missing.code) == (401, 10003)
    unknown = await bybit.raw(
        "GET", path, query, **{**bybit_headers(key, query), "X-BAPI-API-KEY": "Z" * 64}
    )
    assert unknown.code == 10003
    stale = await bybit.get(path, key, now_ms() - 6000, category="linear", settleCoin="USDT")
    assert stale.code == 10002
    ahead = await bybit.get(path, key, now_ms() + 5000, category="linear", settleCoin="USDT")
    assert ahead.code == 10002
    for bad in ("0" * 64, "%C3%A9", "é".encode().decode("latin-1"), ""):
        headers = {**bybit_headers(key, query), "X-BAPI-SIGN": bad}
        refused = await bybit.raw("GET", path, query, **headers)
        assert refused.code in (10004, 10003), (bad, refused.body)
        assert refused.status < 500
    no_perm = await bybit.get("/v5/user/query-sub-members", key)
    assert no_perm.code == 10005


async def test_the_signature_covers_the_body_exactly_as_sent(bybit: BybitClient) -> None:
    key = bybit.sim.trader_key
    body = json.dumps({"category": "linear", "settleCoin": "USDT"})
    respaced = json.dumps({"category": "linear", "settleCoin": "USDT"}, indent=1)
    headers = bybit_headers(key, body)
    refused = await bybit.raw("POST", "/v5/order/cancel-all", body=respaced, **headers)
    assert refused.code == 10004
    stamp = str(now_ms())
    no_window = {
        "X-BAPI-API-KEY": key.api_key,
        "X-BAPI-TIMESTAMP": stamp,
        "X-BAPI-SIGN": sign(key.secret, f"{stamp}{key.api_key}{body}"),
    }
    served = await bybit.raw("POST", "/v5/order/cancel-all", body=body, **no_window)
    assert served.code == 0, served.body


async def test_every_request_is_journaled_with_its_code(bybit: BybitClient) -> None:
    sim = bybit.sim
    since = sim.admin.last_seq()
    await bybit.limit(sim.trader_key, "Buy", "50000")
    await bybit.limit(sim.trader_key, "Buy", "50000.05")  # off the tick grid
    await bybit.raw("GET", "/v5/nowhere")
    entries = [e for e in sim.admin.journal(since=since) if e["kind"] == "request"]
    assert [(e["endpoint"], e["status"], e["code"]) for e in entries] == [
        ("POST /v5/order/create", 200, None),
        ("POST /v5/order/create", 200, 10001),
        ("GET /v5/nowhere", 404, 10017),
    ]
    assert entries[0]["detail"].startswith("BTCUSDT orderId=")
    assert entries[0]["account"] == "trader1"


async def test_the_order_rate_limit_answers_10006_with_its_headers(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    sim = SimProcess.start(
        tmp_path, SimConfig(book_ticker_hz=0, bybit_orders_per_s=3), venue="bybit"
    )
    try:
        client = BybitClient(sim, session)
        replies = [await client.limit(sim.trader_key, "Buy", "50000") for _ in range(4)]
    finally:
        sim.stop()
    assert [r.code for r in replies[:3]] == [0, 0, 0]
    assert [r.headers["X-Bapi-Limit-Status"] for r in replies[:3]] == ["2", "1", "0"]
    refused = replies[3]
    assert refused.code == 10006
    assert refused.headers["X-Bapi-Limit"] == "3"
    assert int(refused.headers["X-Bapi-Limit-Reset-Timestamp"]) > now_ms() - 2000


async def test_the_master_deletes_a_sub_key_and_it_is_refused_from_then_on(
    bybit: BybitClient,
) -> None:
    sim = bybit.sim
    master, trader = sim.master_key, sim.trader_key
    members = await bybit.get("/v5/user/query-sub-members", master)
    [member] = members.result["subMembers"]
    listed = await bybit.get("/v5/user/sub-apikeys", master, subMemberId=member["uid"])
    assert trader.api_key in {k["apiKey"] for k in listed.result["result"]}
    own = await bybit.get("/v5/user/query-api", trader)
    assert (own.result["apiKey"], own.result["isMaster"]) == (trader.api_key, False)
    by_trader = await bybit.post("/v5/user/delete-sub-api", trader, apikey=sim.watchdog_key.api_key)
    assert by_trader.code == 10005
    deleted = await bybit.post("/v5/user/delete-sub-api", master, apikey=trader.api_key)
    assert deleted.code == 0, deleted.body
    refused = await bybit.limit(trader, "Buy", "50000")
    assert refused.code == 10003
    listed = await bybit.get("/v5/user/sub-apikeys", master, subMemberId=member["uid"])
    assert trader.api_key not in {k["apiKey"] for k in listed.result["result"]}
    assert sim.admin.key_status(trader.api_key)["status"] == "deleted"
    twice = await bybit.post("/v5/user/delete-sub-api", master, apikey=trader.api_key)
    assert twice.code == 10001


async def test_dcp_window_is_validated_and_read_back_per_account(bybit: BybitClient) -> None:
    sim = bybit.sim
    path = "/v5/order/disconnected-cancel-all"
    for bad in (2, 301, "x"):
        reply = await bybit.post(path, sim.watchdog_key, product="DERIVATIVES", timeWindow=bad)
        assert reply.code == 10001, bad
    ok = await bybit.post(path, sim.master_key, product="DERIVATIVES", timeWindow=40)
    assert ok.code == 0, ok.body
    info = await bybit.get("/v5/account/query-dcp-info", sim.master_key)
    assert info.result["dcpInfos"] == [
        {"product": "DERIVATIVES", "dcpStatus": "ON", "timeWindow": "40"}
    ]
    # A configured sub-account reads its own window, the default until it sets one.
    sub = await bybit.get("/v5/account/query-dcp-info", sim.watchdog_key)
    assert sub.result["dcpInfos"] == [
        {"product": "DERIVATIVES", "dcpStatus": "ON", "timeWindow": "10"}
    ]


async def test_injected_faults_speak_bybit(bybit: BybitClient) -> None:
    sim = bybit.sim
    sim.admin.set_fault(fail_next={"count": 1, "kind": "5xx", "status": 503})
    failed = await bybit.get("/v5/market/time")
    assert (failed.status, failed.code) == (503, 10016)
    sim.admin.set_fault(reject_orders={"code": -2019})
    rejected = await bybit.limit(sim.trader_key, "Buy", "50000")
    assert rejected.code == 110007


async def test_too_many_requests_from_one_address_is_a_403(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    sim = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=0, bybit_ip_per_5s=5), venue="bybit")
    try:
        client = BybitClient(sim, session)
        replies = [await client.get("/v5/market/time") for _ in range(6)]
    finally:
        sim.stop()
    assert [r.status for r in replies] == [200] * 5 + [403]
    assert replies[5].code == 10018


def test_the_admin_api_names_the_front_serving(bybit_sim: SimProcess) -> None:
    with urllib.request.urlopen(f"{bybit_sim.admin_url}/admin/health", timeout=10) as resp:
        health = json.loads(resp.read())
    assert (health["ok"], health["venue"]) == (True, "bybit")


async def test_fail_next_can_answer_what_bybit_never_documents(bybit: BybitClient) -> None:
    admin = bybit.sim.admin
    admin.set_fault(fail_next={"count": 1, "kind": "html", "status": 504})
    html = await bybit.get("/v5/market/time")
    assert html.status == 504
    assert isinstance(html.body, str)
    assert "<html>" in html.body
    admin.set_fault(fail_next={"count": 1, "kind": "empty"})
    empty = await bybit.get("/v5/market/time")
    assert (empty.status, empty.body) == (200, {})
    admin.set_fault(fail_next={"count": 1, "kind": "unknown_code"})
    unknown = await bybit.get("/v5/market/time")
    assert (unknown.status, unknown.code) == (200, 99999)


async def test_realtime_shows_recent_closed_orders_with_open_only_1(bybit: BybitClient) -> None:
    key = bybit.sim.trader_key
    first = (await bybit.limit(key, "Buy", "50000")).result["orderId"]
    second = (await bybit.limit(key, "Buy", "50001")).result["orderId"]
    cancelled = await bybit.post(
        "/v5/order/cancel", key, category="linear", symbol="BTCUSDT", orderId=first
    )
    assert cancelled.code == 0, cancelled.body
    assert [o["orderId"] for o in await bybit.open_orders(key)] == [second]
    closed = await bybit.open_orders(key, openOnly=1)
    assert [(o["orderId"], o["orderStatus"]) for o in closed] == [(first, "Cancelled")]
    named = await bybit.get("/v5/order/realtime", key, category="linear", orderId=first)
    assert [o["orderId"] for o in named.result["list"]] == [first]
    bad = await bybit.get(
        "/v5/order/realtime", key, category="linear", settleCoin="USDT", openOnly=7
    )
    assert bad.code == 10001


async def test_a_non_ascii_digit_is_not_a_number(bybit: BybitClient) -> None:
    """ "²" is a digit to str.isdigit() but no number to int(): a named error, never a 500."""
    key = bybit.sim.trader_key
    cancel = await bybit.post(
        "/v5/order/cancel", key, category="linear", symbol="BTCUSDT", orderId="\u00b2"
    )
    assert (cancel.status, cancel.code) == (200, 110001)
    page = await bybit.get("/v5/order/realtime", key, category="linear", settleCoin="USDT",
                           limit="\u00b2")  # fmt: skip
    assert (page.status, page.code) == (200, 10001)
    window = await bybit.post("/v5/order/disconnected-cancel-all", key, timeWindow="\u00b2")
    assert (window.status, window.code) == (200, 10001)
