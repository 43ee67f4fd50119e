"""The OKX v5 WebSockets: public tickers / bbo-tbt, private login and the orders, positions and
account channels, and the admin's stream faults."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import websockets

from harness.sim import SimConfig, SimKey, SimProcess, okx_sign
from tests.exchange_sim.fronts.okx.client import BTC, OkxClient

RECV_S = 10.0


async def _recv(ws: websockets.ClientConnection) -> Any:
    raw = await asyncio.wait_for(ws.recv(), RECV_S)
    return raw if raw == "pong" else json.loads(raw)


async def _recv_channel(ws: websockets.ClientConnection, channel: str) -> dict[str, Any]:
    while True:
        message = await _recv(ws)
        if isinstance(message, dict) and "data" in message and message["arg"]["channel"] == channel:
            return message


async def _op(ws: websockets.ClientConnection, op: str, *args: dict[str, Any]) -> Any:
    await ws.send(json.dumps({"op": op, "args": list(args)}))
    return await _recv(ws)


def _login(key: SimKey, age_s: int = 0) -> dict[str, str]:
    ts = str(int(time.time()) - age_s)
    return {
        "apiKey": key.api_key,
        "passphrase": key.passphrase,
        "timestamp": ts,
        "sign": okx_sign(key.secret, f"{ts}GET/users/self/verify"),
    }


async def test_public_channels_answer_then_follow_the_market(okx_sim: SimProcess) -> None:
    async with websockets.connect(f"{okx_sim.ws_url}/ws/v5/public") as ws:
        arg = {"channel": "bbo-tbt", "instId": BTC}
        ack = await _op(ws, "subscribe", arg)
        assert (ack["event"], ack["arg"]) == ("subscribe", arg)
        assert "connId" in ack
        first = await _recv_channel(ws, "bbo-tbt")
        assert first["data"][0]["bids"][0][0] == okx_sim.admin.quotes()["BTCUSDT"]["bid"]
        await _op(ws, "subscribe", {"channel": "tickers", "instId": BTC})
        await _recv_channel(ws, "tickers")
        jumped = okx_sim.admin.price_jump("BTCUSDT", 1.0)
        pushes = [await _recv(ws) for _ in range(2)]  # one per channel, in either order
        by_channel = {p["arg"]["channel"]: p["data"][0] for p in pushes}
        assert by_channel["bbo-tbt"]["asks"][0][0] == jumped["ask"]
        assert (by_channel["tickers"]["askPx"], by_channel["tickers"]["instId"]) == (
            jumped["ask"], BTC)  # fmt: skip
        bad = await _op(ws, "subscribe", {"channel": "tickers", "instId": "NOPE-USDT-SWAP"})
        assert (bad["event"], bad["code"]) == ("error", "60018")
        login = await _op(ws, "login", _login(okx_sim.watchdog_key))
        assert (login["event"], login["code"]) == ("error", "60019")  # public: no login op
        await ws.send("{not json")
        assert (await _recv(ws))["code"] == "60012"
        gone = await _op(ws, "unsubscribe", {"channel": "tickers", "instId": BTC})
        assert gone["event"] == "unsubscribe"
        await ws.send("ping")
        assert await _recv(ws) == "pong"


async def test_a_stalled_market_answers_nothing_until_it_resumes(okx_sim: SimProcess) -> None:
    okx_sim.admin.streams("stall", "market")
    try:
        async with websockets.connect(f"{okx_sim.ws_url}/ws/v5/public") as ws:
            ack = await _op(ws, "subscribe", {"channel": "bbo-tbt", "instId": BTC})
            assert ack["event"] == "subscribe"
            await ws.send("ping")  # a stalled venue does not even answer this
            okx_sim.admin.streams("resume", "market")
            jumped = okx_sim.admin.price_jump("BTCUSDT", 1.0)
            # Neither the first push nor the pong was held back: the jump comes first.
            moved = await _recv(ws)
            assert moved["data"][0]["asks"][0][0] == jumped["ask"]
            await ws.send("ping")
            assert await _recv(ws) == "pong"
    finally:
        okx_sim.admin.streams("resume", "market")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"sign": "AAAA"}, "60007"),
        ({"passphrase": "NotTheOne1"}, "60024"),
        ({"apiKey": "Z" * 64}, "60005"),
        ({"timestamp": "soon"}, "60004"),
        ({"timestamp": "\u00b2"}, "60004"),  # a digit to str.isdigit(), no number to int()
    ],
)
async def test_a_bad_login_is_refused_with_its_code(
    okx_sim: SimProcess, change: dict[str, str], code: str
) -> None:
    async with websockets.connect(f"{okx_sim.ws_url}/ws/v5/private") as ws:
        refused = await _op(ws, "login", _login(okx_sim.watchdog_key) | change)
        assert (refused["event"], refused["code"]) == ("error", code)
        early = await _op(ws, "subscribe", {"channel": "orders", "instType": "SWAP"})
        assert early["code"] == "60011"  # still not logged in


async def test_an_old_login_timestamp_is_refused(okx_sim: SimProcess) -> None:
    async with websockets.connect(f"{okx_sim.ws_url}/ws/v5/private") as ws:
        stale = await _op(ws, "login", _login(okx_sim.watchdog_key, age_s=120))
        assert stale["code"] == "60006"


async def test_private_channels_push_every_order_fill_position_and_balance_change(
    okx: OkxClient,
) -> None:
    sim = okx.sim
    async with websockets.connect(f"{sim.ws_url}/ws/v5/private") as ws:
        login = await _op(ws, "login", _login(sim.watchdog_key))
        assert (login["event"], login["code"]) == ("login", "0")
        for channel in ("orders", "positions"):
            ack = await _op(ws, "subscribe", {"channel": channel, "instType": "ANY"})
            assert ack["event"] == "subscribe", ack
        assert (await _op(ws, "subscribe", {"channel": "account"}))["event"] == "subscribe"
        placed = await okx.limit(sim.trader_key, "buy", "50000", "2")
        live = await _recv_channel(ws, "orders")
        [row] = live["data"]
        assert (row["ordId"], row["state"], row["sz"]) == (placed.data[0]["ordId"], "live", "2")
        frozen = await _recv_channel(ws, "account")
        assert frozen["data"][0]["details"][0]["ordFrozen"] == "50.0"  # 0.02 BTC x 50000 / 20
        await okx.post(
            "/api/v5/trade/order", sim.trader_key,
            {"instId": BTC, "tdMode": "cross", "side": "sell", "ordType": "market", "sz": "1"},
        )  # fmt: skip
        states = []
        while "filled" not in states:
            states.append((await _recv_channel(ws, "orders"))["data"][0]["state"])
        position = await _recv_channel(ws, "positions")
        [pushed] = position["data"]
        assert (pushed["pos"], pushed["instId"]) == ("-1", BTC)
        balance = await _recv_channel(ws, "account")
        paid = Decimal(balance["data"][0]["details"][0]["cashBal"]) - 100_000
        assert paid < 0
        # The push carries the position's realized PnL, the fee included: the balance's move.
        assert Decimal(pushed["realizedPnl"]) == Decimal(pushed["fee"]) == paid
        assert Decimal(pushed["pnl"]) == 0


async def test_deleting_the_key_closes_its_private_connection(
    okx: OkxClient,
) -> None:
    sim = okx.sim
    async with websockets.connect(f"{sim.ws_url}/ws/v5/private") as ws:
        assert (await _op(ws, "login", _login(sim.trader_key)))["code"] == "0"
        deleted = await okx.post(
            "/api/v5/users/subaccount/delete-apikey",
            sim.master_key,
            {"subAcct": "trader1", "apiKey": sim.trader_key.api_key},
        )
        assert deleted.code == "0"
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), RECV_S)
    async with websockets.connect(f"{sim.ws_url}/ws/v5/private") as ws:
        again = await _op(ws, "login", _login(sim.trader_key))
        assert again["code"] == "60005"


async def test_a_stalled_user_stream_holds_back_order_pushes(okx: OkxClient) -> None:
    sim = okx.sim
    async with websockets.connect(f"{sim.ws_url}/ws/v5/private") as ws:
        await _op(ws, "login", _login(sim.watchdog_key))
        await _op(ws, "subscribe", {"channel": "orders", "instType": "SWAP"})
        sim.admin.streams("stall", "user")
        try:
            await okx.limit(sim.trader_key, "buy", "50000", clOrdId="unseen")
            sim.admin.streams("resume", "user")
            await okx.limit(sim.trader_key, "buy", "50000", clOrdId="seen")
            first = await _recv_channel(ws, "orders")
            assert first["data"][0]["clOrdId"] == "seen"
        finally:
            sim.admin.streams("resume", "user")


@pytest.mark.parametrize(("action", "closed_code"), [("close", 1001), ("reset", None)])
async def test_the_admin_drops_okx_streams_like_any_other(
    okx_sim: SimProcess, action: str, closed_code: int | None
) -> None:
    async with (
        websockets.connect(f"{okx_sim.ws_url}/ws/v5/public") as market,
        websockets.connect(f"{okx_sim.ws_url}/ws/v5/private") as user,
    ):
        await _op(market, "subscribe", {"channel": "tickers", "instId": BTC})
        assert (await _op(user, "login", _login(okx_sim.watchdog_key)))["code"] == "0"
        assert okx_sim.admin.streams(action, "all") == 2
        for ws in (market, user):
            with pytest.raises(websockets.ConnectionClosed) as dropped:
                await _drain(ws)
            received = dropped.value.rcvd
            assert (received.code if received else None) == closed_code


async def _drain(ws: websockets.ClientConnection) -> None:
    """Read until the connection ends (raises ConnectionClosed then)."""
    while True:
        await asyncio.wait_for(ws.recv(), RECV_S)


async def test_a_connection_the_venue_sent_nothing_on_is_cut(tmp_path: Path) -> None:
    sim = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=0, okx_ws_idle_s=0.5), venue="okx")
    try:
        async with websockets.connect(f"{sim.ws_url}/ws/v5/private") as quiet:
            with pytest.raises(websockets.ConnectionClosed):
                await _drain(quiet)
        entry = sim.admin.wait_for_journal(lambda e: e["endpoint"] == "ws_idle_cut")
        assert entry["detail"] == "user after 0.5s"
    finally:
        sim.stop()


async def test_a_pinging_connection_stays_open(tmp_path: Path) -> None:
    sim = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=0, okx_ws_idle_s=0.5), venue="okx")
    try:
        async with websockets.connect(f"{sim.ws_url}/ws/v5/public") as client:
            for _ in range(5):  # 1 s in all, twice the idle limit: every pong resets it
                await asyncio.sleep(0.2)
                await client.send("ping")
                assert await _recv(client) == "pong"
        assert not [e for e in sim.admin.journal() if e["endpoint"] == "ws_idle_cut"]
    finally:
        sim.stop()
