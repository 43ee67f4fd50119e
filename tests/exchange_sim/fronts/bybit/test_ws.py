"""The Bybit v5 WebSockets: public orderbook.1 / tickers, private auth and topics, DCP."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets

from harness.sim import SimConfig, SimKey, SimProcess, sign
from tests.exchange_sim.fronts.bybit.client import BybitClient, now_ms

RECV_S = 10.0


async def _recv(ws: websockets.ClientConnection) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), RECV_S)
    message: dict[str, Any] = json.loads(raw)
    return message


async def _recv_topic(ws: websockets.ClientConnection, topic: str) -> dict[str, Any]:
    while True:
        message = await _recv(ws)
        if message.get("topic") == topic:
            return message


async def _op(ws: websockets.ClientConnection, **request: Any) -> dict[str, Any]:
    await ws.send(json.dumps(request))
    return await _recv(ws)


def _auth_args(key: SimKey, expires: int | None = None) -> list[Any]:
    expires = expires if expires is not None else now_ms() + 5000
    return [key.api_key, expires, sign(key.secret, f"GET/realtime{expires}")]


async def test_public_topics_start_with_a_snapshot_then_follow_the_market(
    bybit_sim: SimProcess,
) -> None:
    async with websockets.connect(f"{bybit_sim.ws_url}/v5/public/linear") as ws:
        ack = await _op(ws, op="subscribe", req_id="s1", args=["orderbook.1.BTCUSDT"])
        assert (ack["success"], ack["op"], ack["req_id"]) == (True, "subscribe", "s1")
        book = await _recv(ws)
        assert (book["topic"], book["type"]) == ("orderbook.1.BTCUSDT", "snapshot")
        assert book["data"]["b"][0][0] == bybit_sim.admin.quotes()["BTCUSDT"]["bid"]
        await _op(ws, op="subscribe", args=["tickers.BTCUSDT"])
        assert (await _recv(ws))["topic"] == "tickers.BTCUSDT"
        jumped = bybit_sim.admin.price_jump("BTCUSDT", 1.0)
        moved = await _recv_topic(ws, "orderbook.1.BTCUSDT")
        assert moved["data"]["a"][0][0] == jumped["ask"]
        ticker = await _recv_topic(ws, "tickers.BTCUSDT")
        assert ticker["data"]["ask1Price"] == jumped["ask"]
        bad = await _op(ws, op="subscribe", args=["orderbook.1.NOPEUSDT"])
        assert bad["success"] is False
        pong = await _op(ws, op="ping", req_id="p")
        assert (pong["op"], pong["ret_msg"]) == ("ping", "pong")


async def test_a_stalled_market_sends_a_new_subscriber_nothing_until_it_resumes(
    bybit_sim: SimProcess,
) -> None:
    bybit_sim.admin.streams("stall", "market")
    try:
        async with websockets.connect(f"{bybit_sim.ws_url}/v5/public/linear") as ws:
            ack = await _op(ws, op="subscribe", args=["orderbook.1.BTCUSDT"])
            assert ack["success"] is True
            # Answers share the book's queue: a snapshot sent on subscribing would come first.
            pong = await _op(ws, op="ping", req_id="p1")
            assert (pong["op"], pong["ret_msg"]) == ("ping", "pong")
            bybit_sim.admin.streams("resume", "market")
            bybit_sim.admin.price_jump("BTCUSDT", 1.0)
            assert (await _recv_topic(ws, "orderbook.1.BTCUSDT"))["type"] == "snapshot"
    finally:
        bybit_sim.admin.streams("resume", "market")


async def test_private_auth_is_checked_before_any_topic(bybit_sim: SimProcess) -> None:
    key = bybit_sim.trader_key
    async with websockets.connect(f"{bybit_sim.ws_url}/v5/private") as ws:
        early = await _op(ws, op="subscribe", args=["order"])
        assert (early["success"], early["ret_msg"]) == (False, "Request not authorized")
        wrong = [key.api_key, now_ms() + 5000, "0" * 64]
        assert (await _op(ws, op="auth", args=wrong))["success"] is False
        expired = _auth_args(key, now_ms() - 1000)
        assert (await _op(ws, op="auth", args=expired))["success"] is False
        non_ascii = [key.api_key, now_ms() + 5000, "é"]
        assert (await _op(ws, op="auth", args=non_ascii))["success"] is False
        not_a_number = [key.api_key, "\u00b2", "0" * 64]  # a digit to str.isdigit() only
        assert (await _op(ws, op="auth", args=not_a_number))["success"] is False
        ok = await _op(ws, op="auth", req_id="a", args=_auth_args(key))
        assert (ok["success"], ok["op"]) == (True, "auth")
        pong = await _op(ws, op="ping", req_id="p")
        assert pong["op"] == "pong"


async def test_private_topics_carry_orders_fills_positions_and_balance(
    bybit: BybitClient,
) -> None:
    sim = bybit.sim
    async with websockets.connect(f"{sim.ws_url}/v5/private") as ws:
        assert (await _op(ws, op="auth", args=_auth_args(sim.watchdog_key)))["success"]
        mixed = await _op(ws, op="subscribe", args=["order", "execution.linear"])
        assert mixed["success"] is False  # all-in-one and categorised: not in one request
        assert (await _op(ws, op="subscribe", args=["order", "execution"]))["success"]
        assert (await _op(ws, op="subscribe", args=["position.linear", "wallet"]))["success"]
        sold = await bybit.post(
            "/v5/order/create", sim.trader_key, category="linear", symbol="ETHUSDT",
            side="Sell", orderType="Market", qty="0.1",
        )  # fmt: skip
        assert sold.code == 0, sold.body
        order = await _recv_topic(ws, "order")
        assert order["data"][0]["orderId"] == sold.result["orderId"]
        fill = await _recv_topic(ws, "execution")
        assert (fill["data"][0]["execQty"], fill["data"][0]["side"]) == ("0.1", "Sell")
        position = await _recv_topic(ws, "position")
        assert (position["data"][0]["side"], position["data"][0]["size"]) == ("Sell", "0.1")
        wallet = await _recv_topic(ws, "wallet")
        paid = Decimal(wallet["data"][0]["totalWalletBalance"]) - 100_000
        assert paid < 0
        # The push carries the symbol's realized PnL, the fee included: the wallet's move.
        assert Decimal(position["data"][0]["cumRealisedPnl"]) == paid
        assert Decimal(position["data"][0]["curRealisedPnl"]) == paid


async def test_dcp_cancels_every_order_once_the_last_watcher_is_gone(
    bybit: BybitClient,
) -> None:
    sim = bybit.sim
    key = sim.trader_key
    set_dcp = await bybit.post(
        "/v5/order/disconnected-cancel-all", key, product="DERIVATIVES", timeWindow=3
    )
    assert set_dcp.code == 0, set_dcp.body
    placed = await bybit.limit(key, "Buy", "50000")
    assert placed.code == 0, placed.body
    first = await websockets.connect(f"{sim.ws_url}/v5/private")
    second = await websockets.connect(f"{sim.ws_url}/v5/private")
    for ws in (first, second):
        assert (await _op(ws, op="auth", args=_auth_args(sim.watchdog_key)))["success"]
        assert (await _op(ws, op="subscribe", args=["dcp"]))["success"]
    since = sim.admin.last_seq()
    await first.close()
    sim.admin.wait_for_journal(lambda e: e["endpoint"] == "ws_close", since=since)
    assert sim.admin.countdowns() == []  # one watcher still lives: nothing armed
    await second.close()
    armed = sim.admin.wait_for_journal(lambda e: e["endpoint"] == "dcp_armed", since=since)
    assert (armed["account"], armed["detail"]) == ("trader1", "3s")
    fired = sim.admin.wait_for_journal(
        lambda e: e["endpoint"] == "countdown_cancel_all", since=since
    )
    assert fired["detail"] == f"* [{placed.result['orderId']}]"
    assert fired["mono"] - armed["mono"] >= 2.9
    assert sim.admin.open_orders("trader1") == []


async def test_a_watcher_that_comes_back_in_time_disarms_dcp(bybit: BybitClient) -> None:
    sim = bybit.sim
    url = f"{sim.ws_url}/v5/private"
    async with websockets.connect(url) as ws:
        assert (await _op(ws, op="auth", args=_auth_args(sim.watchdog_key)))["success"]
        assert (await _op(ws, op="subscribe", args=["dcp"]))["success"]
    sim.admin.wait_for_journal(lambda e: e["endpoint"] == "dcp_armed")
    assert [(c["account"], c["symbol"]) for c in sim.admin.countdowns()] == [("trader1", None)]
    async with websockets.connect(url) as ws:
        assert (await _op(ws, op="auth", args=_auth_args(sim.watchdog_key)))["success"]
        assert (await _op(ws, op="subscribe", args=["dcp"]))["success"]
        assert sim.admin.countdowns() == []


async def test_deleting_the_key_closes_its_private_stream(bybit: BybitClient) -> None:
    sim = bybit.sim
    async with websockets.connect(f"{sim.ws_url}/v5/private") as ws:
        assert (await _op(ws, op="auth", args=_auth_args(sim.trader_key)))["success"]
        deleted = await bybit.post(
            "/v5/user/delete-sub-api", sim.master_key, apikey=sim.trader_key.api_key
        )
        assert deleted.code == 0, deleted.body
        await asyncio.wait_for(ws.wait_closed(), RECV_S)
    async with websockets.connect(f"{sim.ws_url}/v5/private") as ws:
        refused = await _op(ws, op="auth", args=_auth_args(sim.trader_key))
        assert (refused["success"], refused["ret_msg"]) == (False, "Invalid apikey")


async def test_a_silent_private_socket_is_cut_and_dcp_then_fires(tmp_path: Path) -> None:
    """A frozen client keeps its TCP connection: the venue's idle cut is what lets DCP fire."""
    sim = SimProcess.start(
        tmp_path, SimConfig(book_ticker_hz=0, bybit_private_idle_s=0.5), venue="bybit"
    )
    try:
        async with aiohttp.ClientSession() as session:
            client = BybitClient(sim, session)
            window = await client.post(
                "/v5/order/disconnected-cancel-all", sim.trader_key,
                product="DERIVATIVES", timeWindow=3,
            )  # fmt: skip
            assert window.code == 0, window.body
            placed = await client.limit(sim.trader_key, "Buy", "50000")
        ws = await websockets.connect(f"{sim.ws_url}/v5/private", ping_interval=None)
        assert (await _op(ws, op="auth", args=_auth_args(sim.watchdog_key)))["success"]
        assert (await _op(ws, op="subscribe", args=["dcp"]))["success"]
        await asyncio.wait_for(ws.wait_closed(), RECV_S)  # silent: the venue cut it
        cut = sim.admin.wait_for_journal(lambda e: e["endpoint"] == "ws_idle_cut")
        armed = sim.admin.wait_for_journal(lambda e: e["endpoint"] == "dcp_armed")
        fired = sim.admin.wait_for_journal(
            lambda e: e["endpoint"] == "countdown_cancel_all", deadline_s=RECV_S
        )
        assert cut["seq"] < armed["seq"] < fired["seq"]
        assert fired["detail"] == f"* [{placed.result['orderId']}]"
    finally:
        sim.stop()


async def test_a_pinging_private_socket_stays_open(tmp_path: Path) -> None:
    sim = SimProcess.start(
        tmp_path, SimConfig(book_ticker_hz=0, bybit_private_idle_s=1.0), venue="bybit"
    )
    try:
        async with websockets.connect(f"{sim.ws_url}/v5/private", ping_interval=None) as ws:
            assert (await _op(ws, op="auth", args=_auth_args(sim.trader_key)))["success"]
            for _ in range(12):  # 2.4 s of a client pinging every 0.2 s, as Bybit asks
                assert (await _op(ws, op="ping"))["op"] == "pong"
                await asyncio.sleep(0.2)
            assert (await _op(ws, op="ping"))["op"] == "pong"
        assert not [e for e in sim.admin.journal() if e["endpoint"] == "ws_idle_cut"]
    finally:
        sim.stop()


async def test_max_active_time_is_checked_at_the_upgrade(bybit_sim: SimProcess) -> None:
    for bad in ("10s", "11m", "x"):
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await websockets.connect(f"{bybit_sim.ws_url}/v5/private?max_active_time={bad}")
        assert refused.value.response.status_code == 400
    async with websockets.connect(f"{bybit_sim.ws_url}/v5/private?max_active_time=1m") as ws:
        assert (await _op(ws, op="auth", args=_auth_args(bybit_sim.trader_key)))["success"]
