"""The feed against a local websockets server the test controls: each way a feed dies."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from tests.trader.helpers import RealClock, RecordingFeedListener, wait_until
from trader.config import FeedConfig
from trader.errors import FeedError
from trader.feed import BookFeed, BookTicker, Greeting, Staleness, parse_book_ticker, stream_url

FAST = FeedConfig(
    stale_after_s=0.4,
    max_event_age_s=1.0,
    reconnect_initial_s=0.05,
    reconnect_max_s=0.2,
    open_timeout_s=2.0,
)

Behaviour = Callable[[ServerConnection], Awaitable[None]]
Start = Callable[[list[Behaviour]], Awaitable[tuple["Exchange", RecordingFeedListener]]]


def ticker(symbol: str = "BTCUSDT", lag_s: float = 0.0, bid: str = "100.0") -> bytes:
    data = {
        "e": "bookTicker",
        "u": 1,
        "s": symbol,
        "b": bid,
        "B": "1.5",
        "a": "100.2",
        "A": "2",
        "T": 0,
        "E": int((time.time() - lag_s) * 1000),
    }
    return orjson.dumps({"stream": f"{symbol.lower()}@bookTicker", "data": data})


class Exchange:
    """A websockets server whose n-th connection runs the n-th behaviour (the last repeats)."""

    def __init__(self, behaviours: list[Behaviour]) -> None:
        self.behaviours = behaviours
        self.connections = 0
        self.paths: list[str] = []
        self.server: Server | None = None

    async def handler(self, ws: ServerConnection) -> None:
        self.paths.append(ws.request.path if ws.request else "")
        behaviour = self.behaviours[min(self.connections, len(self.behaviours) - 1)]
        self.connections += 1
        await behaviour(ws)

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"


async def stream_forever(ws: ServerConnection) -> None:
    while True:
        await ws.send(ticker().decode())
        await asyncio.sleep(0.02)


def stream_then(end: Callable[[ServerConnection], Awaitable[None]], count: int = 5) -> Behaviour:
    async def behaviour(ws: ServerConnection) -> None:
        for _ in range(count):
            await ws.send(ticker().decode())
            await asyncio.sleep(0.02)
        await end(ws)

    return behaviour


async def clean_close(ws: ServerConnection) -> None:
    await ws.close(1000, "bye")


async def reset(ws: ServerConnection) -> None:
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def stall(ws: ServerConnection) -> None:
    await ws.wait_closed()  # the socket stays open and nothing is sent until the client drops it


async def lagging(ws: ServerConnection) -> None:
    while True:
        await ws.send(ticker(lag_s=5.0).decode())
        await asyncio.sleep(0.02)


async def garbage_then_one_ticker(ws: ServerConnection) -> None:
    for _ in range(20):
        await ws.send('{"stream": "x", "data": {"s": "BTCUSDT"}}')
        await ws.send("not json")
        await ws.send(ticker(symbol="ETHUSDT").decode())  # not subscribed: must not count
    await ws.send(ticker(bid="42.0").decode())
    await ws.wait_closed()


@pytest.fixture
async def running() -> AsyncIterator[Start]:
    async with asyncio.TaskGroup() as tg:
        servers: list[Server] = []
        tasks: list[asyncio.Task[None]] = []

        async def start(behaviours: list[Behaviour]) -> tuple[Exchange, RecordingFeedListener]:
            exchange = Exchange(behaviours)
            exchange.server = await serve(exchange.handler, "127.0.0.1", 0, compression=None)
            servers.append(exchange.server)
            listener = RecordingFeedListener()
            feed = BookFeed(
                stream_url(exchange.url, ["BTCUSDT"]), ["BTCUSDT"], FAST, listener, RealClock()
            )
            tasks.append(tg.create_task(feed.run()))
            return exchange, listener

        yield start
        for task in tasks:
            task.cancel()
        for server in servers:
            server.close()
            await server.wait_closed()


async def test_it_subscribes_to_the_combined_stream_and_turns_fresh(running: Start) -> None:
    exchange, listener = await running([stream_forever])
    await wait_until(lambda: len(listener.tickers) >= 3, what="tickers")
    assert exchange.paths == ["/stream?streams=btcusdt@bookTicker"]
    assert listener.transitions[0].fresh
    assert listener.tickers[0].bid == 100.0


@pytest.mark.parametrize(
    ("death", "reason"), [(clean_close, "closed"), (reset, "closed"), (stall, "no message")]
)
async def test_each_kind_of_feed_death_marks_it_stale_then_it_reconnects_and_recovers(
    running: Start, death: Behaviour, reason: str
) -> None:
    exchange, listener = await running([stream_then(death), stream_forever])
    await wait_until(lambda: listener.fresh_count() >= 2, what="fresh again after reconnect")
    stale = listener.stale_reasons()
    assert stale, "never went stale"
    assert stale[0].startswith(reason), stale
    assert exchange.connections >= 2
    kinds = [t.fresh for t in listener.transitions]
    assert kinds[:3] == [True, False, True]


async def test_a_silent_stall_drops_the_connection_so_a_new_one_can_recover(running: Start) -> None:
    exchange, listener = await running([stall, stream_forever])
    await wait_until(lambda: listener.fresh_count() >= 1, what="recovery from a stall")
    assert exchange.connections >= 2


async def test_old_exchange_event_times_keep_the_feed_stale_although_messages_arrive(
    running: Start,
) -> None:
    exchange, listener = await running([lagging])
    await wait_until(lambda: len(listener.tickers) >= 20, what="lagging tickers")
    assert listener.fresh_count() == 0
    assert exchange.connections == 1


async def test_event_time_lag_turns_a_fresh_feed_stale(running: Start) -> None:
    async def fresh_then_lagging(ws: ServerConnection) -> None:
        for _ in range(5):
            await ws.send(ticker().decode())
            await asyncio.sleep(0.02)
        await lagging(ws)

    _, listener = await running([fresh_then_lagging])
    await wait_until(lambda: listener.stale_reasons() != [], what="lag detected")
    assert listener.stale_reasons()[0].startswith("event time")


async def test_malformed_messages_are_dropped_and_never_make_the_feed_fresh(running: Start) -> None:
    _, listener = await running([garbage_then_one_ticker])
    await wait_until(lambda: any(t.bid == 42.0 for t in listener.tickers), what="valid ticker")
    assert [t.symbol for t in listener.tickers] == ["BTCUSDT"]
    assert [t.fresh for t in listener.transitions] == [True]


def test_parse_reads_bare_and_combined_messages() -> None:
    message = ticker(bid="123.4")  # one message: two would differ whenever the clock ticks a ms
    wrapped = parse_book_ticker(message)
    bare = parse_book_ticker(orjson.dumps(orjson.loads(message)["data"]))
    assert wrapped == bare
    assert wrapped.bid == 123.4


def test_parse_ignores_fields_it_does_not_use_and_reads_decimal_strings() -> None:
    message = (
        b'{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":7,"s":"BTCUSDT",'
        b'"b":"60000.10","B":"1.500","a":"60000.20","A":"0.002","T":5,"E":6},"sentNs":99}'
    )
    ticker = parse_book_ticker(message)
    assert ticker == BookTicker("BTCUSDT", 60000.1, 1.5, 60000.2, 0.002, 6, 7)


NOT_FINITE = [
    ticker(bid="NaN"),
    ticker(bid="inf"),
    ticker().replace(b'"A":"2"', b'"A":"-Infinity"'),
]


@pytest.mark.parametrize(
    "raw", [b"", b"[]", b"{}", b'{"data": {"s": "X", "b": "x"}}', b"\xff", *NOT_FINITE]
)
def test_parse_refuses_anything_that_is_not_a_book_ticker(raw: bytes) -> None:
    with pytest.raises(FeedError, match="bad bookTicker message"):
        parse_book_ticker(raw)


def test_staleness_is_pure_and_driven_by_the_times_it_is_given() -> None:
    s = Staleness(["A", "B"], stale_after=1.0, max_event_age=0.5)
    assert not s.is_fresh("A")
    assert s.message("A", now=10.0, wall=100.0, event_ms=100_000) is not None
    assert s.is_fresh("A")
    assert not s.all_fresh()
    assert s.message("C", now=10.0, wall=100.0, event_ms=100_000) is None
    changes, next_due = s.check(now=10.4)
    assert changes == []
    assert next_due == pytest.approx(0.6)
    changes, _ = s.check(now=11.0)
    assert [(c.symbol, c.fresh) for c in changes] == [("A", False)]
    s.message("A", now=11.1, wall=100.0, event_ms=99_000)
    assert not s.is_fresh("A")


async def test_a_greeting_is_written_on_every_connection_and_its_ping_keeps_coming() -> None:
    heard: list[list[str]] = []

    async def record(ws: ServerConnection) -> None:
        heard.append([])
        if len(heard) == 1:
            await ws.send("not json")  # answers are not ticks; this one is also bad
            await ws.close()
            return
        async for message in ws:
            heard[-1].append(str(message))

    connects: list[int] = []
    greeting = Greeting(
        (b'{"op":"subscribe"}',), b'{"op":"ping"}', 0.05, lambda: connects.append(1)
    )
    async with serve(record, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        feed = BookFeed(
            f"ws://127.0.0.1:{port}/v5/public/linear",
            ["BTCUSDT"],
            FAST,
            RecordingFeedListener(),
            RealClock(),
            greeting=greeting,
        )
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(feed.run())
            await wait_until(lambda: len(heard) == 2 and len(heard[1]) >= 3, what="pings")
            task.cancel()
    assert len(connects) == 2  # per connection: the decoder's books start again
    assert heard[1][0] == '{"op":"subscribe"}'
    assert set(heard[1][1:]) == {'{"op":"ping"}'}
