"""Top-of-book market data over one websocket stream, with staleness that fails safe.

Binance's combined bookTicker stream is decoded here; another venue's stream plugs in its own
decoder and the requests it wants written (``Greeting``: Bybit's subscription and ping, in
``trader.bybit_feed``), and gets the same staleness machinery.

The stream is read by ``trader.wsclient``: each message reaches ``BookFeed`` in the socket's own
callback, and the listener decides (and writes orders) right there.

A feed dies in three ways: a clean close, a reset, and the silent stall where the socket stays
open and nothing arrives. The first two end the connection; only a timer catches the third. The
timer is re-armed at the earliest deadline (not polled at a fixed rate), and a feed counts as
stale until proven fresh: at start, after a disconnect, when a symbol falls silent, or when the
exchange's event time lags the local clock by more than the configured maximum.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec

from trader.config import FeedConfig
from trader.errors import FeedError
from trader.wsclient import StreamProtocol, WebSocketError, open_stream
from watchdog.backoff import backoff_delay
from watchdog.clock import Clock

__all__ = [
    "BookFeed",
    "BookTicker",
    "Clock",
    "FeedListener",
    "Greeting",
    "Staleness",
    "Transition",
    "busy_poll",
]

log = logging.getLogger(__name__)


class BookTicker(msgspec.Struct, frozen=True, gc=False):
    """One top-of-book update, decoded straight from the venue's field names.

    A msgspec Struct: one is built per message, by the decoder in C from the bytes (no dict,
    no per-field Python call), and ``gc=False`` keeps it out of the cycle collector."""

    symbol: str = msgspec.field(name="s")
    bid: float = msgspec.field(name="b")
    bid_qty: float = msgspec.field(name="B")
    ask: float = msgspec.field(name="a")
    ask_qty: float = msgspec.field(name="A")
    event_ms: int = msgspec.field(name="E")
    update_id: int = msgspec.field(name="u")


class _Combined(msgspec.Struct, gc=False):
    """A combined-stream frame: ``{"stream": ..., "data": {bookTicker}}``."""

    data: BookTicker


# strict=False: the venue sends prices and quantities as decimal strings, read here as floats.
_COMBINED = msgspec.json.Decoder(_Combined, strict=False)
_BARE = msgspec.json.Decoder(BookTicker, strict=False)


def parse_book_ticker(raw: bytes | str) -> BookTicker:
    """Decode one bookTicker message, wrapped as a combined-stream ``{stream, data}`` (what the
    feed subscribes to) or bare."""
    try:
        ticker = _COMBINED.decode(raw).data
    except msgspec.DecodeError as combined:
        try:
            ticker = _BARE.decode(raw)
        except msgspec.DecodeError:
            raise FeedError(f"bad bookTicker message: {combined}") from None
    # NaN or an infinity in any number makes this NaN (a finite sum times 0 is 0): one test
    # instead of four on the hot path. Such a price would break every calculation after it.
    if (ticker.bid + ticker.ask + ticker.bid_qty + ticker.ask_qty) * 0.0 != 0.0:
        raise FeedError(f"bad bookTicker message: a number is not finite: {ticker}")
    return ticker


def finite_top(
    where: str,
    symbol: str,
    bid: tuple[float, float],
    ask: tuple[float, float],
    event_ms: int,
    update_id: int,
) -> BookTicker:
    """The top of ``symbol``'s book from its best (price, size) levels, for the venues whose
    feed keeps the book itself; a number that is not finite is a ``FeedError`` that starts
    with ``where`` (the same one-test check as ``parse_book_ticker``)."""
    if (bid[0] + ask[0] + bid[1] + ask[1]) * 0.0 != 0.0:
        raise FeedError(f"{where}: a number is not finite in {symbol}")
    return BookTicker(symbol, bid[0], bid[1], ask[0], ask[1], event_ms, update_id)


@dataclass(frozen=True, slots=True)
class Greeting:
    """What a venue wants written on its market stream: requests once connected (a subscription)
    and an application-level ping every ``ping_interval_s``. ``on_connect`` runs before the
    requests go out: a decoder that keeps per-connection books resets them there."""

    requests: tuple[bytes, ...]
    ping: bytes
    ping_interval_s: float
    on_connect: Callable[[], None]


@dataclass(frozen=True, slots=True)
class Transition:
    """A symbol's feed became fresh (``fresh=True``) or stale, and why."""

    symbol: str
    fresh: bool
    reason: str


class Staleness:
    """Pure freshness bookkeeping per symbol; the shell feeds it times and arms its timer."""

    def __init__(self, symbols: Sequence[str], stale_after: float, max_event_age: float) -> None:
        self._stale_after = stale_after
        self._max_event_age = max_event_age
        self._symbols = tuple(symbols)
        self._known = frozenset(symbols)
        self._last_rx: dict[str, float] = {}
        self._reason: dict[str, str] = dict.fromkeys(symbols, "no data yet")

    def knows(self, symbol: str) -> bool:
        return symbol in self._known

    def is_fresh(self, symbol: str) -> bool:
        return symbol not in self._reason

    def all_fresh(self) -> bool:
        return not self._reason

    def message(self, symbol: str, now: float, wall: float, event_ms: int) -> Transition | None:
        """Record a message; a lagging event time marks the symbol stale however often it ticks."""
        if symbol not in self._known:
            return None  # a symbol we did not subscribe to: it must not freshen anything
        self._last_rx[symbol] = now
        lag = wall - event_ms / 1000.0
        if lag > self._max_event_age:
            return self._mark(symbol, f"event time {lag:.3f}s old > {self._max_event_age}s")
        if symbol in self._reason:
            del self._reason[symbol]
            return Transition(symbol, True, "fresh")
        return None

    def check(self, now: float) -> tuple[list[Transition], float]:
        """Symbols silent too long go stale; returns them and the delay to the next deadline."""
        out: list[Transition] = []
        next_due = self._stale_after
        for symbol, last in self._last_rx.items():
            silent = now - last
            if silent >= self._stale_after:
                change = self._mark(symbol, f"no message for {silent:.3f}s")
                if change is not None:
                    out.append(change)
            else:
                next_due = min(next_due, self._stale_after - silent)
        return out, next_due

    def disconnected(self, reason: str) -> list[Transition]:
        self._last_rx.clear()
        return [t for s in self._symbols if (t := self._mark(s, reason)) is not None]

    def _mark(self, symbol: str, reason: str) -> Transition | None:
        was_fresh = symbol not in self._reason
        self._reason[symbol] = reason
        return Transition(symbol, False, reason) if was_fresh else None


class FeedListener(Protocol):
    def on_ticker(self, ticker: BookTicker, received_ns: int) -> None:
        """Called synchronously for every message: decide and start sends here, never await."""

    def on_feed_state(self, transition: Transition) -> None:
        """A symbol turned fresh or stale."""


def stream_url(ws_url: str, symbols: Sequence[str]) -> str:
    streams = "/".join(f"{s.lower()}@bookTicker" for s in symbols)
    return f"{ws_url.rstrip('/')}/stream?streams={streams}"


class BookFeed:
    """Keeps one combined bookTicker connection alive and tells the listener what it sees."""

    def __init__(
        self,
        url: str,
        symbols: Sequence[str],
        config: FeedConfig,
        listener: FeedListener,
        clock: Clock,
        rng: random.Random | None = None,
        decode: Callable[[bytes], BookTicker | None] = parse_book_ticker,
        greeting: Greeting | None = None,
    ) -> None:
        self._url = url
        # Raises FeedError on a message it cannot read; None for a venue's answer to one of
        # our requests (a subscription's ack, a pong): proof the connection lives, not a tick.
        self._decode = decode
        self._greeting = greeting
        self._config = config
        self._listener = listener
        self._clock = clock
        self._staleness = Staleness(symbols, config.stale_after_s, config.max_event_age_s)
        self._rng = rng or random.Random()
        self._failures = 0  # reconnects since the feed was last fresh: paces the next one
        self._stream: StreamProtocol | None = None
        self._last_conn_rx = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.connects = 0
        self.bad_messages = 0

    @property
    def staleness(self) -> Staleness:
        return self._staleness

    async def run(self) -> None:
        """Connect, read, reconnect with backoff, forever (until cancelled)."""
        self._arm(self._config.stale_after_s)
        try:
            while True:
                reason = await self._session()
                self._emit(self._staleness.disconnected(reason))
                delay = backoff_delay(
                    self._failures,
                    initial_s=self._config.reconnect_initial_s,
                    max_s=self._config.reconnect_max_s,
                    draw=self._rng.random,
                )
                self._failures += 1
                log.warning("feed_disconnected", extra={"reason": reason, "retry_in_s": delay})
                await asyncio.sleep(delay)
        finally:
            if self._timer is not None:
                self._timer.cancel()

    async def _session(self) -> str:
        """One connection's life; returns why it ended (raises what the listener raised)."""
        try:
            stream = await open_stream(
                self._url, self._on_message, open_timeout_s=self._config.open_timeout_s
            )
        except (OSError, TimeoutError, WebSocketError) as exc:
            return f"connect failed: {type(exc).__name__}: {exc}"
        self._stream = stream
        self.connects += 1
        self._last_conn_rx = self._clock.monotonic()
        try:
            if self._greeting is None:
                return await stream.wait_closed()
            return await self._greeted(stream, self._greeting)
        finally:
            self._stream = None
            stream.abort()

    async def _greeted(self, stream: StreamProtocol, greeting: Greeting) -> str:
        greeting.on_connect()
        for request in greeting.requests:
            stream.send_text(request)
        async with asyncio.TaskGroup() as tg:
            pinging = tg.create_task(_keep_pinging(stream, greeting))
            try:
                return await stream.wait_closed()
            finally:
                pinging.cancel()

    def _on_message(self, raw: bytes, received_ns: int) -> None:
        """Called from the socket's callback for every message: the hot path starts here."""
        self._last_conn_rx = now = self._clock.monotonic()
        try:
            ticker = self._decode(raw)
        except FeedError as exc:
            self.bad_messages += 1
            log.warning("feed_message_dropped", extra={"error": str(exc)})
            return
        if ticker is None:
            return
        if not self._staleness.knows(ticker.symbol):
            self.bad_messages += 1
            return
        wall = self._clock.wall()
        change = self._staleness.message(ticker.symbol, now, wall, ticker.event_ms)
        if change is not None:
            if change.fresh:
                self._failures = 0
            self._listener.on_feed_state(change)
        self._listener.on_ticker(ticker, received_ns)

    def _arm(self, delay: float) -> None:
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        now = self._clock.monotonic()
        changes, next_due = self._staleness.check(now)
        self._emit(changes)
        silent = now - self._last_conn_rx
        if self._stream is not None and silent >= self._config.stale_after_s:
            # The silent stall: the socket is open and nothing arrives. Drop it and reconnect.
            log.warning("feed_stalled_reconnecting", extra={"silent_s": silent})
            self._stream.abort()
        self._arm(max(next_due, 0.001))

    def _emit(self, changes: list[Transition]) -> None:
        for change in changes:
            self._listener.on_feed_state(change)


async def _keep_pinging(stream: StreamProtocol, greeting: Greeting) -> None:
    """The venue's keep-alive on its own schedule; the silence timer, not this, finds a stall."""
    while True:
        await asyncio.sleep(greeting.ping_interval_s)
        stream.send_text(greeting.ping)


async def busy_poll() -> None:
    """Keep the event loop polling its sockets without sleeping, until cancelled.

    With a callback always ready, asyncio polls the selector with a zero timeout: a tick is
    picked up within one loop turn instead of after the kernel wakes an idle CPU and the
    process. The price is the whole CPU, busy all the time: only for a CPU that is the
    trader's alone (``[feed] busy_poll``).
    """
    while True:  # noqa: ASYNC110 - yielding without ever sleeping is the point
        await asyncio.sleep(0)
