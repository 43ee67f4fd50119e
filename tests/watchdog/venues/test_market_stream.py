"""The market stream's wire formats (pure) and the follower on a real loopback socket."""

from __future__ import annotations

import asyncio
import math

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from watchdog.venues.errors import VenueProtocolError
from watchdog.venues.market_stream import (
    BinanceBookTicker,
    BybitTickers,
    MarketFollower,
    MarketItem,
    MarketStreamConfig,
    Tick,
)
from watchdog.venues.user_stream import StreamConnected, StreamDisconnected


def _book_ticker(symbol: str, bid: str, ask: str = "100.1") -> bytes:
    data = {"e": "bookTicker", "u": 1, "s": symbol, "b": bid, "B": "1", "a": ask, "A": "1",
            "T": 5, "E": 7}  # fmt: skip
    return orjson.dumps({"stream": f"{symbol.lower()}@bookTicker", "data": data})


def test_binance_subscribes_in_the_url_and_decodes_the_combined_stream() -> None:
    wire = BinanceBookTicker("ws://h:1/", ("BTCUSDT", "ETHUSDT"))
    assert wire.url() == "ws://h:1/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker"
    assert wire.decode(_book_ticker("BTCUSDT", "100")) == Tick("BTCUSDT", 100.0, 100.1, 7)
    assert wire.decode(b'{"result":null,"id":1}') is None


def test_a_nan_or_zero_price_is_passed_on_to_be_judged_and_garbage_is_a_fault() -> None:
    wire = BinanceBookTicker("ws://h:1", ("BTCUSDT",))
    nan = wire.decode(_book_ticker("BTCUSDT", "NaN"))
    assert nan is not None
    assert math.isnan(nan.bid)
    zero = wire.decode(_book_ticker("BTCUSDT", "0"))
    assert zero is not None
    assert zero.bid == 0.0
    with pytest.raises(VenueProtocolError, match=r"bookTicker\.b: expected a decimal"):
        wire.decode(_book_ticker("BTCUSDT", "abc"))
    with pytest.raises(VenueProtocolError, match="not JSON"):
        wire.decode(b"{")


def _ticker(kind: str, **data: str) -> bytes:
    return orjson.dumps({"topic": "tickers.BTCUSDT", "type": kind, "ts": 9,
                         "data": {"symbol": "BTCUSDT", **data}})  # fmt: skip


def test_bybit_merges_a_delta_into_the_last_snapshot() -> None:
    wire = BybitTickers("ws://h:1/v5/public/linear", ["BTCUSDT"])
    (request,) = wire.requests()
    assert orjson.loads(request) == {"op": "subscribe", "args": ["tickers.BTCUSDT"]}
    assert wire.decode(_ticker("snapshot", bid1Price="10", ask1Price="11")) == Tick(
        "BTCUSDT", 10.0, 11.0, 9
    )
    assert wire.decode(_ticker("delta", ask1Price="12")) == Tick("BTCUSDT", 10.0, 12.0, 9)
    assert wire.decode(b'{"op":"pong","success":true}') is None


def test_bybit_a_delta_before_a_snapshot_or_a_refused_subscription_is_a_fault() -> None:
    wire = BybitTickers("ws://h:1/v5/public/linear", ["BTCUSDT"])
    with pytest.raises(VenueProtocolError, match="a delta before any snapshot"):
        wire.decode(_ticker("delta", ask1Price="12"))
    with pytest.raises(VenueProtocolError, match="request refused"):
        wire.decode(b'{"op":"subscribe","success":false,"ret_msg":"bad topic"}')


async def test_a_socket_that_stays_open_in_silence_is_reported_and_reconnected() -> None:
    connections = 0

    async def one_tick_then_silence(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.send(_book_ticker("BTCUSDT", "100").decode())
        await ws.wait_closed()  # the socket stays open; nothing more is sent

    items: list[MarketItem] = []
    reconnected = asyncio.Event()

    def sink(item: MarketItem) -> None:
        items.append(item)
        if sum(isinstance(i, StreamConnected) for i in items) == 2:
            reconnected.set()

    async with serve(one_tick_then_silence, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        wire = BinanceBookTicker(f"ws://127.0.0.1:{port}", ("BTCUSDT",))
        config = MarketStreamConfig(silence_s=0.2, backoff_initial_s=0.01, backoff_max_s=0.02)
        follower = MarketFollower(wire, config, sink)
        async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
            task = tg.create_task(follower.run())
            await reconnected.wait()
            task.cancel()
    down = [i for i in items if isinstance(i, StreamDisconnected)]
    assert down[0].reason == "no message for 0.2 s with the socket open"
    assert isinstance(items[0], StreamConnected)
    assert items[1] == Tick("BTCUSDT", 100.0, 100.1, 7)
    assert connections >= 2
