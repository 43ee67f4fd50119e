"""One connection of a venue's private WebSocket that wants its own application-level ping
(Bybit's ``{"op": "ping"}``, OKX's ``"ping"``): how it is opened, read and kept honest.

The venues differ in how a connection authenticates, subscribes and what its pushes mean; those
stay in each venue's stream module. What is the same is the life of the connection once it is
subscribed: read every message into the sink, ping every interval, and treat an interval
without a word from the venue (not even the pong) as a stall. One copy of that loop serves
every such venue, so a fix to it reaches all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import orjson
import websockets
from websockets.asyncio.client import ClientConnection, connect

from watchdog.venues.errors import VenueProtocolError
from watchdog.venues.user_events import UserEvent
from watchdog.venues.user_stream import Sink, StreamFault

# The user events one raw message carries; VenueProtocolError for a message it cannot read.
Decode = Callable[[str | bytes], Awaitable[Iterable[UserEvent]]]


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
