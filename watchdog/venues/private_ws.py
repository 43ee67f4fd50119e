"""A follower of a venue's private WebSocket that wants its own application-level ping
(Bybit's ``{"op": "ping"}``, OKX's ``"ping"``): how it reconnects, and how one connection is
opened, read and kept honest.

The venues differ in how a connection authenticates, subscribes and what its pushes mean; those
stay in each venue's stream module (``PrivateStream._subscribe`` and ``_decode``). What is the
same is the rest: reconnect with jittered back-off after any failure, read every message into
the sink, ping every interval, and treat an interval without a word from the venue (not even
the pong) as a stall. One copy of that serves every such venue, so a fix reaches all of them.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar

import orjson
import websockets
from websockets.asyncio.client import ClientConnection, connect

from watchdog.clock import Clock, SystemClock
from watchdog.venues.credentials import Credentials
from watchdog.venues.errors import VenueProtocolError
from watchdog.venues.user_events import UserEvent
from watchdog.venues.user_stream import Sink, StreamConnected, StreamFault, reconnecting

# The user events one raw message carries; VenueProtocolError for a message it cannot read.
Decode = Callable[[str | bytes], Awaitable[Iterable[UserEvent]]]


class StreamSettings(Protocol):
    """What every private-stream config says (each venue's adds its own)."""

    @property
    def ws_url(self) -> str: ...
    @property
    def ping_interval_s(self) -> float: ...
    @property
    def reply_timeout_s(self) -> float: ...
    @property
    def backoff_initial_s(self) -> float: ...
    @property
    def backoff_max_s(self) -> float: ...


C = TypeVar("C", bound=StreamSettings)


class PrivateStream(abc.ABC, Generic[C]):
    """Follow the account's private stream until cancelled; every failure ends in a reconnect.
    A venue says how a connection logs in and subscribes, what its pushes mean, its ping, and
    the event logged when a connection is lost."""

    _ping: ClassVar[str]
    _down_event: ClassVar[str]
    _log: ClassVar[logging.Logger]

    def __init__(
        self,
        credentials: Credentials,
        config: C,
        sink: Sink,
        *,
        clock: Clock | None = None,
        time_offset_ms: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``time_offset_ms``: the venue's time minus local wall time (a synced REST adapter's
        ``time_offset_ms``): a login's time is judged on the venue's clock."""
        self._credentials = credentials
        self._config = config
        self._sink = sink
        self._clock = clock or SystemClock()
        self._time_offset_ms = time_offset_ms or (lambda: 0.0)
        self._rng = rng or random.Random()

    async def run(self) -> None:
        """Follow until cancelled; every failure ends in a reconnect, never in silence."""
        await reconnecting(
            self._session, self._sink, self._log, self._down_event,
            initial_s=self._config.backoff_initial_s, max_s=self._config.backoff_max_s,
            draw=self._rng.random,
        )  # fmt: skip

    def _venue_now_ms(self) -> float:
        return self._clock.wall() * 1000.0 + self._time_offset_ms()

    async def _session(self, attempt: int) -> str:
        async with open_private(self._config.ws_url, self._config.reply_timeout_s) as ws:
            await self._subscribe(ws)
            self._sink(StreamConnected(attempt=attempt))
            return await follow(
                ws, self._decode, self._sink,
                ping=self._ping, ping_interval_s=self._config.ping_interval_s,
            )  # fmt: skip

    @abc.abstractmethod
    async def _subscribe(self, ws: ClientConnection) -> None:
        """Log in and subscribe; raise (``KeyRefused`` for a refused login) unless both are
        answered yes."""

    @abc.abstractmethod
    async def _decode(self, raw: str | bytes) -> Iterable[UserEvent]:
        """The user events one message carries; ``VenueProtocolError`` if it cannot be read."""


def open_private(url: str, reply_timeout_s: float) -> connect:
    """Open the connection: the library's own pings off (the venue wants its own, which
    ``follow`` sends), and a close that a stalled venue never answers bounded too."""
    return connect(
        url,
        open_timeout=reply_timeout_s,
        ping_interval=None,
        close_timeout=reply_timeout_s,
        max_size=2**20,
    )


def loads(raw: str | bytes, where: str) -> object:
    """The JSON value of one message; a message that is not JSON is a protocol error."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise VenueProtocolError(f"{where}: not JSON ({raw[:80]!r})") from None


async def follow(
    ws: ClientConnection, decode: Decode, sink: Sink, *, ping: str, ping_interval_s: float
) -> str:
    """Read and ping a subscribed connection until it ends; says why it ended."""
    liveness = _Liveness()
    async with asyncio.TaskGroup() as tg:
        pinger = tg.create_task(_ping(ws, liveness, ping, ping_interval_s))
        try:
            closed = await _read(ws, liveness, decode, sink)
        finally:
            pinger.cancel()
    return liveness.stalled or closed


@dataclass(slots=True)
class _Liveness:
    """What the pinger and the reader of one connection share."""

    heard: bool = False
    stalled: str = ""


async def _read(ws: ClientConnection, liveness: _Liveness, decode: Decode, sink: Sink) -> str:
    """Read until the connection ends; says why. A reset or an abnormal close is returned,
    not raised: raised inside the task group it would end the follower for good."""
    try:
        async for raw in ws:
            liveness.heard = True
            try:
                events = list(await decode(raw))
            except VenueProtocolError as exc:
                sink(StreamFault(reason=str(exc)))
                continue
            for event in events:
                sink(event)
    except websockets.ConnectionClosed as exc:
        return f"connection lost ({exc})"
    return f"closed by the venue (code {ws.close_code})"


async def _ping(ws: ClientConnection, liveness: _Liveness, ping: str, interval_s: float) -> None:
    """Ping; a whole interval without a word from the venue (not even the pong) is a stall:
    close, so the read loop ends and the follower reconnects."""
    try:
        while True:
            liveness.heard = False
            await ws.send(ping)
            await asyncio.sleep(interval_s)
            if not liveness.heard:
                liveness.stalled = f"stalled: no message, not even a pong, in {interval_s}s"
                await ws.close(code=1011, reason="no pong")
                return
    except websockets.ConnectionClosed:
        return  # the read loop sees the close and says why
