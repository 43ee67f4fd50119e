"""Follow the venue's public market stream: the best bid and ask per symbol, as the watchdog's own.

The follower decides nothing. It hands every decoded ``Tick`` and every change of its own health
(connected, disconnected, a message it could not decode) to a sink, like the user-data stream's
follower, and reconnects with the same jittered back-off. Numbers are passed on as the venue
sent them (a ``"NaN"`` or a ``"0"`` bid included): judging them is the risk engine's bad-data
rule's job, which halts with a reason naming the field.

A socket can stay open while nothing arrives (a stalled venue, a half-dead proxy). The follower
waits at most ``silence_s`` for each message: past it, it tells the sink why and reconnects, so
silence is never taken for a quiet market. Each venue's wire format is a ``MarketWire``: the
subscription it writes once connected, its application-level ping, its decoder.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson
from websockets.asyncio.client import ClientConnection, connect

from watchdog.venues import _fields as f
from watchdog.venues.errors import VenueProtocolError
from watchdog.venues.okx_wire import inst_id as okx_inst_id
from watchdog.venues.okx_wire import symbol_of as okx_symbol_of
from watchdog.venues.user_stream import (
    StreamConnected,
    StreamDisconnected,
    StreamFault,
    reconnecting,
)

log = logging.getLogger(__name__)
# websockets logs every frame at debug: the daemon keeps this one quieter (many per second).
FRAMES_LOGGER = "watchdog.venues.market_frames"


@dataclass(frozen=True, slots=True)
class Tick:
    """One top-of-book update; ``event_ms`` is the venue's stamp (0 when it sends none)."""

    symbol: str
    bid: float
    ask: float
    event_ms: int


MarketItem = Tick | StreamConnected | StreamDisconnected | StreamFault
MarketSink = Callable[[MarketItem], None]


class MarketWire(Protocol):
    """One venue's market stream: where to connect, what to write, how to read a message."""

    def url(self) -> str: ...

    def requests(self) -> tuple[bytes, ...]: ...

    def ping(self) -> bytes | None: ...

    def decode(self, raw: str | bytes) -> Tick | None:
        """A tick, None for a message that is no tick (a subscription answer, a pong)."""
        ...


@dataclass(frozen=True, slots=True)
class MarketStreamConfig:
    silence_s: float = 2.0  # no message for this long with the socket open: reconnect
    ping_interval_s: float = 20.0
    open_timeout_s: float = 5.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 15.0

    def __post_init__(self) -> None:
        if min(self.silence_s, self.ping_interval_s, self.backoff_initial_s) <= 0:
            raise ValueError("silence, ping and back-off intervals must be > 0")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")


class MarketFollower:
    def __init__(
        self,
        wire: MarketWire,
        config: MarketStreamConfig,
        sink: MarketSink,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._wire = wire
        self._config = config
        self._sink = sink
        self._rng = rng or random.Random()

    async def run(self) -> None:
        """Follow until cancelled; every failure ends in a reconnect, never in silence."""
        await reconnecting(
            self._session, self._sink, log, "market_stream_down",
            initial_s=self._config.backoff_initial_s, max_s=self._config.backoff_max_s,
            draw=self._rng.random,
        )  # fmt: skip

    async def _session(self, attempt: int) -> str:
        async with connect(
            self._wire.url(),
            open_timeout=self._config.open_timeout_s,
            ping_interval=self._config.ping_interval_s,
            ping_timeout=self._config.ping_interval_s,
            max_size=2**20,
            logger=logging.getLogger(FRAMES_LOGGER),
        ) as ws:
            for request in self._wire.requests():
                await ws.send(request.decode())
            self._sink(StreamConnected(attempt=attempt))
            async with asyncio.TaskGroup() as tg:
                pinger = tg.create_task(self._ping(ws))
                try:
                    return await self._read(ws)
                finally:
                    pinger.cancel()

    async def _read(self, ws: ClientConnection) -> str:
        silence = self._config.silence_s
        while True:
            try:
                async with asyncio.timeout(silence):
                    message = await ws.recv()
            except TimeoutError:
                # The socket is open and says nothing: a stall, not a quiet market.
                return f"no message for {silence:g} s with the socket open"
            try:
                tick = self._wire.decode(message)
            except VenueProtocolError as exc:
                self._sink(StreamFault(reason=str(exc)))
                continue
            if tick is not None:
                self._sink(tick)

    async def _ping(self, ws: ClientConnection) -> None:
        ping = self._wire.ping()
        while ping is not None:  # None: the venue needs no application-level ping
            await asyncio.sleep(self._config.ping_interval_s)
            await ws.send(ping.decode())


def price(o: dict[str, object], name: str, where: str) -> float:
    """A price as the venue wrote it (a decimal string); "NaN" and "0" pass, to be judged."""
    value = f.field(o, name, where)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise VenueProtocolError(f"{where}.{name}: expected a decimal string, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise VenueProtocolError(f"{where}.{name}: expected a decimal, got {value!r}") from None


@dataclass(frozen=True, slots=True)
class BinanceBookTicker:
    """Binance USDⓈ-M's combined ``<symbol>@bookTicker`` streams, one connection."""

    ws_base_url: str
    symbols: tuple[str, ...]

    def url(self) -> str:
        streams = "/".join(f"{s.lower()}@bookTicker" for s in self.symbols)
        return f"{self.ws_base_url.rstrip('/')}/stream?streams={streams}"

    def requests(self) -> tuple[bytes, ...]:
        return ()  # the URL subscribes

    def ping(self) -> bytes | None:
        return None  # Binance pings at the protocol level; websockets answers

    def decode(self, raw: str | bytes) -> Tick | None:
        message = _json(raw, "bookTicker")
        if "result" in message and "id" in message:
            return None  # an answer to a control request
        where = "bookTicker"
        data = f.obj(f.field(message, "data", "combined stream"), where)
        return Tick(
            symbol=f.text(data, "s", where),
            bid=price(data, "b", where),
            ask=price(data, "a", where),
            event_ms=f.integer(data, "E", where),
        )


class BybitTickers:
    """Bybit v5's public linear ``tickers.<SYMBOL>`` topic: a snapshot, then deltas that leave
    out what did not change, so each symbol's last full ticker is kept and the delta merged in."""

    def __init__(self, ws_url: str, symbols: Sequence[str]) -> None:
        self._url = (
            ws_url  # the public linear endpoint, e.g. wss://stream.bybit.com/v5/public/linear
        )
        self._topics = [f"tickers.{s}" for s in symbols]
        self._tickers: dict[str, dict[str, object]] = {}

    def url(self) -> str:
        return self._url

    def requests(self) -> tuple[bytes, ...]:
        self._tickers.clear()  # a new connection starts from its snapshots
        return tuple(
            orjson.dumps({"op": "subscribe", "args": self._topics[i : i + 10]})
            for i in range(0, len(self._topics), 10)  # Bybit takes ten topics per request
        )

    def ping(self) -> bytes | None:
        return b'{"op":"ping"}'

    def decode(self, raw: str | bytes) -> Tick | None:
        message = _json(raw, "tickers")
        if "op" in message:
            if message.get("success") is False:
                raise VenueProtocolError(f"tickers: request refused: {message.get('ret_msg')!r}")
            return None  # a subscription answer or a pong
        topic = f.text(message, "topic", "tickers")
        data = f.obj(f.field(message, "data", topic), f"{topic}.data")
        symbol = f.text(data, "symbol", f"{topic}.data")
        kind = f.text(message, "type", topic)
        if kind == "snapshot":
            ticker = dict(data)
        elif symbol in self._tickers:
            ticker = self._tickers[symbol] | data
        else:
            raise VenueProtocolError(f"{topic}: a delta before any snapshot")
        self._tickers[symbol] = ticker
        where = f"{topic}.data"
        return Tick(
            symbol=symbol,
            bid=price(ticker, "bid1Price", where),
            ask=price(ticker, "ask1Price", where),
            event_ms=f.integer(message, "ts", topic),
        )


class OkxTickers:
    """OKX v5's public ``tickers`` channel, one per swap (``BTC-USDT-SWAP``): each push carries
    the whole ticker, so nothing is merged. The venue wants a plain ``ping`` text and answers
    ``pong``."""

    def __init__(self, ws_url: str, symbols: Sequence[str]) -> None:
        self._url = ws_url  # the public endpoint, e.g. wss://ws.okx.com:8443/ws/v5/public
        self._args = [{"channel": "tickers", "instId": okx_inst_id(s)} for s in symbols]

    def url(self) -> str:
        return self._url

    def requests(self) -> tuple[bytes, ...]:
        return (orjson.dumps({"op": "subscribe", "args": self._args}),)

    def ping(self) -> bytes | None:
        return b"ping"

    def decode(self, raw: str | bytes) -> Tick | None:
        if raw in ("pong", b"pong"):
            return None
        message = _json(raw, "tickers")
        if "event" in message:
            if message.get("event") == "error":
                raise VenueProtocolError(
                    f"tickers: request refused: {message.get('code')!r} {message.get('msg')!r}"
                )
            return None  # a subscription answer
        rows = f.array(f.field(message, "data", "tickers"), "tickers.data")
        if not rows:
            raise VenueProtocolError("tickers.data: empty")
        where = f"tickers.data[{len(rows) - 1}]"
        data = f.obj(rows[-1], where)  # the latest, when the venue sends more than one
        return Tick(
            symbol=okx_symbol_of(f.text(data, "instId", where)),
            bid=price(data, "bidPx", where),
            ask=price(data, "askPx", where),
            event_ms=f.integer(data, "ts", where),
        )


def _json(raw: str | bytes, where: str) -> dict[str, object]:
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise VenueProtocolError(f"{where}: not JSON ({raw[:80]!r})") from None
    return f.obj(message, where)
