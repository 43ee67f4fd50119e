"""The OKX v5 REST front: envelope, instruments in contracts, orders, batches, pagination,
account, the countdown cancel-all, rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from harness.sim import NEW_ORDER_ENDPOINT, OrderRefused, SimConfig, SimProcess
from tests.exchange_sim.fronts.okx.client import BTC, ETH, OkxClient, Reply


async def test_public_endpoints_answer_in_the_envelope_with_sizes_in_contracts(
    okx: OkxClient,
) -> None:
    server = await okx.get("/api/v5/public/time")
    assert set(server.body) == {"code", "msg", "data"}
    assert server.code == "0"
    instruments = await okx.get("/api/v5/public/instruments", instType="SWAP")
    btc = next(i for i in instruments.data if i["instId"] == BTC)
    # OKX's own contract value; the core's 0.001 BTC step is a tenth of a contract.
    assert (btc["ctVal"], btc["ctValCcy"], btc["lotSz"], btc["minSz"]) == ("0.01", "BTC", "0.1",
                                                                          "0.1")  # fmt: skip
    assert (btc["tickSz"], btc["settleCcy"], btc["ctType"]) == ("0.1", "USDT", "linear")
    eth = next(i for i in instruments.data if i["instId"] == ETH)
    assert (eth["ctVal"], eth["lotSz"]) == ("0.1", "0.01")
    spot = await okx.get("/api/v5/public/instruments", instType="SPOT")
    assert (spot.code, spot.data) == ("0", [])
    bad = await okx.get("/api/v5/public/instruments", instType="STOCK")
    assert (bad.status, bad.code) == (400, "51000")
    quote = okx.sim.admin.quotes()["BTCUSDT"]
    [ticker] = (await okx.get("/api/v5/market/ticker", instId=BTC)).data
    assert (ticker["bidPx"], ticker["askPx"]) == (quote["bid"], quote["ask"])
    [book] = (await okx.get("/api/v5/market/books", instId=BTC, sz=3)).data
    assert len(book["asks"]) == len(book["bids"]) == 3
    assert book["asks"][1][1] == "500"  # level_qty 5 BTC = 500 contracts of 0.01
    unknown = await okx.get("/api/v5/market/ticker", instId="DOGE-USDT-SWAP")
    assert unknown.code == "51001"


async def test_place_query_amend_and_cancel(okx: OkxClient) -> None:
    key = okx.sim.trader_key
    placed = await okx.limit(key, "buy", "50000", "2", clOrdId="mine1")
    assert (placed.code, placed.s_codes) == ("0", ["0"]), placed.body
    ord_id = placed.data[0]["ordId"]
    [admin_view] = okx.sim.admin.open_orders("trader1")
    assert admin_view["origQty"] == "0.02"  # 2 contracts of 0.01 BTC: the core's quantity
    [listed] = await okx.pending(key)
    assert (listed["ordId"], listed["clOrdId"], listed["state"], listed["sz"]) == (
        ord_id, "mine1", "live", "2")  # fmt: skip
    amended = await okx.post(
        "/api/v5/trade/amend-order", key, {"instId": BTC, "ordId": ord_id, "newSz": "3",
                                           "newPx": "50000.5", "reqId": "r1"},
    )  # fmt: skip
    assert (amended.code, amended.data[0]["reqId"]) == ("0", "r1"), amended.body
    [queried] = (await okx.get("/api/v5/trade/order", key, instId=BTC, clOrdId="mine1")).data
    assert (queried["sz"], queried["px"]) == ("3", "50000.5")
    cancelled = await okx.post(
        "/api/v5/trade/cancel-order", key, {"instId": BTC, "clOrdId": "mine1"}
    )
    assert cancelled.data[0] | {"ts": ""} == {
        "ordId": ord_id, "clOrdId": "mine1", "ts": "", "sCode": "0", "sMsg": ""}  # fmt: skip
    assert await okx.pending(key) == []
    again = await okx.post("/api/v5/trade/cancel-order", key, {"instId": BTC, "ordId": ord_id})
    assert (again.code, again.s_codes) == ("1", ["51401"])  # already canceled
    never = await okx.post("/api/v5/trade/cancel-order", key, {"instId": BTC, "ordId": "999"})
    assert never.s_codes == ["51400"]
    missing = await okx.get("/api/v5/trade/order", key, instId=BTC, ordId="999")
    assert (missing.code, missing.data) == ("51603", [])
    [history] = (await okx.get("/api/v5/trade/orders-history", key, instType="SWAP")).data
    assert (history["ordId"], history["state"]) == (ord_id, "canceled")


async def test_refusals_come_per_item(okx: OkxClient) -> None:
    key = okx.sim.trader_key
    broke = await okx.limit(key, "buy", "50000", "5000")  # 50 BTC at 20x > 100,000 USDT
    assert (broke.code, broke.s_codes) == ("1", ["51008"])
    assert broke.body["msg"] == "All operations failed"
    off_lot = await okx.limit(key, "buy", "50000", "0.15")
    assert off_lot.s_codes == ["51121"]
    reduce = await okx.limit(key, "sell", "70000", "1", reduceOnly=True)
    assert reduce.s_codes == ["51169"]
    isolated = await okx.limit(key, "buy", "50000", tdMode="isolated")
    assert isolated.s_codes == ["51000"]
    await okx.limit(key, "buy", "50000", clOrdId="twice")
    dup = await okx.limit(key, "buy", "50000", clOrdId="twice")
    assert dup.s_codes == ["51016"]


async def test_a_fill_moves_the_position_and_the_balance(okx: OkxClient) -> None:
    key = okx.sim.trader_key
    bought = await okx.post(
        "/api/v5/trade/order", key,
        {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "3"},
    )  # fmt: skip
    assert bought.s_codes == ["0"], bought.body
    [pos] = (await okx.get("/api/v5/account/positions", key, instType="SWAP")).data
    assert (pos["instId"], pos["pos"], pos["posSide"], pos["mgnMode"]) == (BTC, "3", "net",
                                                                           "cross")  # fmt: skip
    [core] = [p for p in okx.sim.admin.positions("trader1") if p["symbol"] == "BTCUSDT"]
    assert core["positionAmt"] == "0.03"
    [balance] = (await okx.get("/api/v5/account/balance", key)).data
    [usdt] = balance["details"]
    assert usdt["ccy"] == "USDT"
    assert float(usdt["cashBal"]) < 100_000  # the taker fee was paid
    [order] = (await okx.get("/api/v5/trade/orders-history", key, instType="SWAP")).data
    assert (order["state"], order["accFillSz"], order["ordType"]) == ("filled", "3", "market")
    assert float(order["fee"]) < 0  # OKX shows a charged fee as negative


async def _market(okx: OkxClient, side: str, contracts: str) -> None:
    reply = await okx.post(
        "/api/v5/trade/order", okx.sim.trader_key,
        {"instId": BTC, "tdMode": "cross", "side": side, "ordType": "market", "sz": contracts},
    )  # fmt: skip
    assert reply.s_codes == ["0"], reply.body


async def _cash(okx: OkxClient) -> Decimal:
    [balance] = (await okx.get("/api/v5/account/balance", okx.sim.trader_key)).data
    return Decimal(balance["details"][0]["cashBal"])


async def _btc_positions(okx: OkxClient) -> list[dict[str, str]]:
    rows = (await okx.get("/api/v5/account/positions", okx.sim.trader_key, instType="SWAP")).data
    return [dict(p) for p in rows if p["instId"] == BTC]


async def test_realized_pnl_is_the_positions_own_and_moves_with_the_balance(
    okx: OkxClient,
) -> None:
    # What the watchdog relies on: while a position lives, each fill moves the balance by
    # exactly what it adds to the position's realizedPnl (pnl + fee); a new position (from
    # flat, or the far side of a flip) starts its own, with a new cTime.
    start = await _cash(okx)
    await _market(okx, "buy", "20")
    [opened] = await _btc_positions(okx)
    assert Decimal(opened["realizedPnl"]) == await _cash(okx) - start < 0  # the opening fee
    await _market(okx, "sell", "5")
    [shrunk] = await _btc_positions(okx)
    assert (shrunk["pos"], shrunk["cTime"]) == ("15", opened["cTime"])
    assert Decimal(shrunk["realizedPnl"]) == await _cash(okx) - start
    assert Decimal(shrunk["realizedPnl"]) == Decimal(shrunk["pnl"]) + Decimal(shrunk["fee"])
    await _market(okx, "sell", "25")
    [flipped] = await _btc_positions(okx)
    assert flipped["pos"] == "-10"
    assert int(flipped["cTime"]) >= int(opened["cTime"])
    # The new short's own: its share of the flip's fee, none of the long's close.
    assert Decimal(flipped["pnl"]) == 0
    assert Decimal(flipped["realizedPnl"]) == Decimal(flipped["fee"]) < 0


async def _place_many(okx: OkxClient, count: int, start: float = 40000.0) -> list[str]:
    orders = [
        {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": "1",
         "px": f"{start + i:.1f}"}
        for i in range(count)
    ]  # fmt: skip
    ids: list[str] = []
    for chunk in range(0, count, 20):
        reply = await okx.post("/api/v5/trade/batch-orders", okx.sim.trader_key,
                               orders[chunk:chunk + 20])  # fmt: skip
        assert reply.code == "0", reply.body
        ids += [item["ordId"] for item in reply.data]
    return ids


async def test_batches_hold_at_most_twenty_orders(okx: OkxClient) -> None:
    key = okx.sim.trader_key
    ids = await _place_many(okx, 21)
    too_many = await okx.post(
        "/api/v5/trade/cancel-batch-orders", key, [{"instId": BTC, "ordId": i} for i in ids]
    )
    assert (too_many.code, too_many.data) == ("51406", [])
    assert len(okx.sim.admin.open_orders("trader1")) == 21  # nothing was cancelled
    order = {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": "1",
             "px": "30000"}  # fmt: skip
    place_21 = await okx.post("/api/v5/trade/batch-orders", key, [order] * 21)
    assert place_21.code == "51111"
    mixed = await okx.post(
        "/api/v5/trade/cancel-batch-orders", key,
        [{"instId": BTC, "ordId": ids[0]}, {"instId": BTC, "ordId": "999999"}],
    )  # fmt: skip
    assert (mixed.code, mixed.s_codes) == ("2", ["0", "51400"])
    assert mixed.body["msg"] == "Bulk operation partially succeeded"
    swept = await okx.post(
        "/api/v5/trade/cancel-batch-orders", key, [{"instId": BTC, "ordId": i} for i in ids[1:]]
    )
    assert (swept.code, set(swept.s_codes)) == ("0", {"0"})
    assert okx.sim.admin.open_orders("trader1") == []
    entry = okx.sim.admin.wait_for_journal(
        lambda e: e["endpoint"] == "POST /api/v5/trade/cancel-batch-orders" and e["code"] is None
    )
    assert entry["detail"].count("CANCELED") == 20


async def test_pending_orders_page_by_order_id(okx: OkxClient) -> None:
    key = okx.sim.trader_key
    ids = [int(i) for i in await _place_many(okx, 25)]
    newest_first = sorted(ids, reverse=True)
    first = await okx.pending(key, limit=10)
    assert [int(o["ordId"]) for o in first] == newest_first[:10]
    second = await okx.pending(key, limit=10, after=first[-1]["ordId"])
    assert [int(o["ordId"]) for o in second] == newest_first[10:20]
    rest = await okx.pending(key, after=second[-1]["ordId"])
    assert [int(o["ordId"]) for o in rest] == newest_first[20:]
    back = await okx.pending(key, limit=5, before=second[0]["ordId"])
    assert [int(o["ordId"]) for o in back] == newest_first[5:10]
    assert len(await okx.pending(key)) == 25  # limit defaults to 100
    too_big = await okx.get("/api/v5/trade/orders-pending", key, limit=101)
    assert too_big.code == "51000"
    by_inst = await okx.pending(key, instId=ETH)
    assert by_inst == []


async def test_the_countdown_cancels_every_order_of_the_account_at_expiry(
    okx: OkxClient,
) -> None:
    sim = okx.sim
    await okx.limit(sim.trader_key, "buy", "50000")
    await okx.limit(sim.trader_key, "buy", "2500", "1", inst=ETH)
    since = sim.admin.last_seq()
    armed = await okx.post("/api/v5/trade/cancel-all-after", sim.watchdog_key, {"timeOut": "10"})
    assert armed.code == "0", armed.body
    [answer] = armed.data
    assert int(answer["triggerTime"]) - int(answer["ts"]) == 10_000
    [countdown] = sim.admin.countdowns()
    assert (countdown["account"], countdown["symbol"]) == ("trader1", None)
    entry = sim.admin.wait_for_journal(
        lambda e: e["endpoint"] == "countdown_cancel_all", since, deadline_s=30.0
    )
    assert entry["account"] == "trader1"
    assert sim.admin.open_orders("trader1") == []
    request = next(
        e for e in sim.admin.journal(since) if e["endpoint"].endswith("cancel-all-after")
    )
    assert request["detail"] == "* timeOut=10"


async def test_the_countdown_disarms_with_zero_and_refuses_other_windows(
    okx: OkxClient,
) -> None:
    key = okx.sim.watchdog_key

    def after(seconds: str) -> Callable[[], Awaitable[Reply]]:
        return lambda: okx.post("/api/v5/trade/cancel-all-after", key, {"timeOut": seconds})

    assert (await _past_the_rate_limit(after("9"))).code == "51000"
    assert (await _past_the_rate_limit(after("121"))).code == "51000"
    assert (await _past_the_rate_limit(after("120"))).code == "0"
    assert len(okx.sim.admin.countdowns()) == 1
    disarm = await _past_the_rate_limit(after("0"))
    assert disarm.data[0]["triggerTime"] == "0"
    assert okx.sim.admin.countdowns() == []


async def _past_the_rate_limit(call: Callable[[], Awaitable[Reply]], within: float = 10.0) -> Reply:
    """The call's first answer that is not 50011: the countdown allows one call a second."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        reply = await call()
        if reply.code != "50011":
            return reply
        assert reply.status == 429
        if loop.time() > deadline:
            raise AssertionError(f"still rate-limited after {within} s")
        await asyncio.sleep(0.05)


async def test_order_requests_beyond_the_limit_get_429(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    sim = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=0, okx_orders_per_2s=2), venue="okx")
    try:
        okx = OkxClient(sim, session)
        codes = [(await okx.limit(sim.trader_key, "buy", "50000")).code for _ in range(3)]
        assert codes == ["0", "0", "50011"]
        limited = await okx.limit(sim.trader_key, "buy", "50000")
        assert limited.status == 429
        assert len(sim.admin.open_orders("trader1")) == 2
    finally:
        sim.stop()


async def test_the_admin_faults_answer_in_okx_words(okx: OkxClient) -> None:
    sim, key = okx.sim, okx.sim.trader_key
    sim.admin.set_fault(reject_orders={"code": -2019})
    assert (await okx.limit(key, "buy", "50000")).s_codes == ["51008"]
    sim.admin.set_fault(reject_orders=True)
    unknown = await okx.limit(key, "buy", "50000")
    assert (unknown.status, unknown.code) == (500, "51149")  # the outcome is unknown
    sim.admin.set_fault(reject_orders=False)
    sim.admin.set_fault(fail_next={"count": 1, "kind": "5xx", "status": 503})
    failed = await okx.get("/api/v5/account/balance", key)
    assert (failed.status, failed.code) == (503, "50001")
    assert (await okx.get("/api/v5/account/balance", key)).code == "0"
    assert sim.admin.open_orders("trader1") == []


async def test_a_non_ascii_digit_is_not_a_number(okx: OkxClient) -> None:
    """ "²" is a digit to str.isdigit() but no number to int(): a named error, never a 500."""
    key = okx.sim.trader_key
    order = await okx.get("/api/v5/trade/order", key, instId=BTC, ordId="\u00b2")
    assert (order.status, order.code) == (200, "51603")
    page = await okx.get("/api/v5/trade/orders-pending", key, limit="\u00b2")
    assert (page.status, page.code) == (400, "51000")
    book = await okx.get("/api/v5/market/books", instId=BTC, sz="\u00b2")
    assert (book.status, book.code) == (400, "51000")
    after = await okx.post("/api/v5/trade/cancel-all-after", key, {"timeOut": "\u00b2"})
    assert (after.status, after.code) == (400, "51000")


def test_the_harness_speaks_okx_for_orders_links_and_journal_names(okx_sim: SimProcess) -> None:
    order_id = okx_sim.place_order(okx_sim.trader_key, "BTCUSDT", "BUY", "0.02", "50000")
    [order] = okx_sim.admin.open_orders("trader1")
    assert (str(order["orderId"]), order["origQty"]) == (order_id, "0.02")  # base, not contracts
    with pytest.raises(OrderRefused) as refused:
        okx_sim.place_order(okx_sim.trader_key, "BTCUSDT", "BUY", "50", "50000")
    assert refused.value.answer["data"][0]["sCode"] == "51008"
    assert not refused.value.rate_limited
    entry = okx_sim.admin.wait_for_journal(lambda e: e["endpoint"] == NEW_ORDER_ENDPOINT["okx"])
    assert entry["detail"] == f"BTCUSDT orderId={order_id} NEW"
    link = okx_sim.venue_link("trader1")
    assert (link.kind, link.trader_sub_account, link.ws_url) == (
        "okx", "trader1", f"{okx_sim.ws_url}/ws/v5/private")  # fmt: skip
    assert okx_sim.market_ws_url == f"{okx_sim.ws_url}/ws/v5/public"
