"""Market and user-data streams: payload shapes, combined wrapping, subscriptions, expiry."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from harness.sim import SimConfig, SimProcess
from tests.exchange_sim.venue_client import VenueClient


async def test_book_ticker_events_carry_the_venue_fields(
    sim_process: SimProcess, session: aiohttp.ClientSession
) -> None:
    ws = await session.ws_connect(f"{sim_process.ws_url}/ws/btcusdt@bookTicker")
    first = await ws.receive_json(timeout=10)
    second = await ws.receive_json(timeout=10)
    assert set(first) == {"e", "u", "E", "T", "s", "b", "B", "a", "A"}
    assert first["e"] == "bookTicker"
    assert first["s"] == "BTCUSDT"
    assert float(first["b"]) < float(first["a"])
    assert second["u"] > first["u"]
    await ws.close()


async def test_combined_streams_wrap_each_event(
    sim_process: SimProcess, session: aiohttp.ClientSession
) -> None:
    url = f"{sim_process.ws_url}/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker"
    ws = await session.ws_connect(url)
    seen: set[str] = set()
    while len(seen) < 2:
        msg = await ws.receive_json(timeout=10)
        assert set(msg) == {"stream", "data"}
        assert msg["stream"] == f"{msg['data']['s'].lower()}@bookTicker"
        seen.add(msg["data"]["s"])
    await ws.close()


async def test_with_send_stamp_each_market_message_says_when_the_venue_wrote_it(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    sim = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=50, send_stamp=True))
    try:
        url = f"{sim.ws_url}/stream?streams=btcusdt@bookTicker"
        connected_ns = time.monotonic_ns()
        ws = await session.ws_connect(url)
        stamps = []
        for _ in range(3):
            msg = await ws.receive_json(timeout=10)
            received_ns = time.monotonic_ns()
            assert set(msg) == {"stream", "data", "sentNs"}
            assert msg["data"]["s"] == "BTCUSDT"
            # The venue's clock is this host's CLOCK_MONOTONIC: written after we connected,
            # before we read it.
            assert connected_ns < msg["sentNs"] <= received_ns
            stamps.append(msg["sentNs"])
        assert stamps == sorted(stamps)
        await ws.close()
    finally:
        sim.stop()


async def test_subscribe_and_list_over_the_socket(
    sim_process: SimProcess, session: aiohttp.ClientSession
) -> None:
    ws = await session.ws_connect(f"{sim_process.ws_url}/ws/btcusdt@bookTicker")
    await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 7})
    await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 8})
    replies: dict[int, object] = {}
    symbols: set[str] = set()
    while len(replies) < 2 or "ETHUSDT" not in symbols:
        msg = await ws.receive_json(timeout=10)
        if "id" in msg:
            replies[msg["id"]] = msg.get("result")
        else:
            symbols.add(msg["s"])
    assert replies == {7: None, 8: ["btcusdt@bookTicker", "ethusdt@bookTicker"]}
    await ws.close()


async def test_an_unknown_stream_is_refused_at_the_handshake(
    sim_process: SimProcess, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await session.ws_connect(f"{sim_process.ws_url}/ws/dogeusdt@bookTicker")
    assert err.value.status == 400


async def test_fills_reach_the_user_stream_as_order_and_account_updates(
    venue: VenueClient, session: aiohttp.ClientSession
) -> None:
    sim = venue.sim
    ws = await session.ws_connect(f"{sim.ws_url}/ws/{await venue.listen_key(sim.trader_key)}")
    await venue.order(sim.trader_key, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    events = [await ws.receive_json(timeout=10) for _ in range(3)]
    assert [e["e"] for e in events] == [
        "ORDER_TRADE_UPDATE",
        "ORDER_TRADE_UPDATE",
        "ACCOUNT_UPDATE",
    ]
    new, trade, account = events
    assert (new["o"]["x"], new["o"]["X"]) == ("NEW", "NEW")
    assert (trade["o"]["x"], trade["o"]["X"]) == ("TRADE", "FILLED")
    assert trade["o"]["l"] == "0.01"
    assert trade["o"]["m"] is False
    assert float(trade["o"]["n"]) > 0  # taker fee
    assert account["a"]["P"][0]["pa"] == "0.01"
    assert account["a"]["B"][0]["a"] == "USDT"
    await ws.close()


async def test_a_listen_key_expires_without_keepalive(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    sim = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=0, listen_key_validity_s=0.4))
    try:
        venue = VenueClient(sim, session)
        token = await venue.listen_key(sim.watchdog_key)
        ws = await session.ws_connect(f"{sim.ws_url}/ws/{token}")
        event = await ws.receive_json(timeout=10)
        assert event["e"] == "listenKeyExpired"
        assert event["listenKey"] == token
        closing = await ws.receive(timeout=10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        gone = await venue.raw("PUT", "/fapi/v1/listenKey", api_key=sim.watchdog_key.api_key)
        assert gone.code == -1125
    finally:
        sim.stop()


async def test_keepalive_extends_the_listen_key(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    sim = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=0, listen_key_validity_s=0.8))
    try:
        venue = VenueClient(sim, session)
        key = sim.watchdog_key
        ws = await session.ws_connect(f"{sim.ws_url}/ws/{await venue.listen_key(key)}")
        for _ in range(8):  # 2 s of keep-alives, each well inside the 0.8 s validity
            assert (await venue.raw("PUT", "/fapi/v1/listenKey", api_key=key.api_key)).status == 200
            await asyncio.sleep(0.25)
        assert not ws.closed
        await ws.close()
    finally:
        sim.stop()


async def test_subscribers_that_vanish_mid_stream_leave_no_errors(tmp_path: Path) -> None:
    sim = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=2000))
    try:
        for _ in range(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
            writer.write(
                b"GET /ws/btcusdt@bookTicker HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(64)  # events are flowing
            writer.transport.abort()  # vanish without a close frame
        closes = sim.admin.wait_for_journal(lambda e: e["endpoint"] == "ws_close")
        assert "market" in closes["detail"]
        ws_entries = [e for e in sim.admin.journal() if e["endpoint"] == "ws_close"]
        deadline = asyncio.get_running_loop().time() + 15
        while len(ws_entries) < 5 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            ws_entries = [e for e in sim.admin.journal() if e["endpoint"] == "ws_close"]
        assert len(ws_entries) == 5
        assert sim.child.alive()
    finally:
        sim.stop()
    log = sim.child.log_tail(10_000)
    assert "Traceback" not in log
    assert '"level": "error"' not in log


async def test_a_replayed_market_streams_the_recorded_tickers(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    csv = tmp_path / "ticks.csv"
    rows = ["symbol,bid,ask,bid_qty,ask_qty"]
    rows += [f"BTCUSDT,{60000 + i}.0,{60000 + i}.5,1.5,2.5" for i in range(5)]
    rows += ["ETHUSDT,3000.00,3000.01,1,1"]
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    sim = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=20, replay_csv=csv))
    try:
        ws = await session.ws_connect(f"{sim.ws_url}/ws/btcusdt@bookTicker")
        bids = {(await ws.receive_json(timeout=10))["b"] for _ in range(6)}
        assert bids <= {f"{60000 + i}.0" for i in range(5)}
        assert len(bids) >= 3
        event = await ws.receive_json(timeout=10)
        assert (event["B"], event["A"]) == ("1.5", "2.5")
        await ws.close()
    finally:
        sim.stop()


async def test_a_listen_key_in_a_combined_stream_hears_its_events_wrapped(
    venue: VenueClient, session: aiohttp.ClientSession
) -> None:
    sim = venue.sim
    token = await venue.listen_key(sim.trader_key)
    combined = await session.ws_connect(f"{sim.ws_url}/stream?streams={token}")
    plain = await session.ws_connect(f"{sim.ws_url}/ws/{token}")
    await venue.limit(sim.trader_key, "BUY", "50000")
    wrapped = await combined.receive_json(timeout=10)
    bare = await plain.receive_json(timeout=10)
    assert set(wrapped) == {"stream", "data"}
    assert wrapped["stream"] == token
    assert wrapped["data"] == bare  # the same event; the single socket hears it as it is
    assert bare["e"] == "ORDER_TRADE_UPDATE"
    await combined.close()
    await plain.close()


async def test_a_combined_stream_takes_one_listen_key_beside_market_streams(
    venue: VenueClient, session: aiohttp.ClientSession
) -> None:
    sim = venue.sim
    trader = await venue.listen_key(sim.trader_key)
    watchdog = await venue.listen_key(sim.watchdog_key)
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await session.ws_connect(f"{sim.ws_url}/stream?streams={trader}/{watchdog}")
    assert err.value.status == 400
    both = await session.ws_connect(f"{sim.ws_url}/stream?streams=btcusdt@bookTicker/{trader}")
    await venue.limit(sim.trader_key, "BUY", "50000")
    event = await both.receive_json(timeout=10)
    assert (event["stream"], event["data"]["e"]) == (trader, "ORDER_TRADE_UPDATE")
    await both.close()
