"""WebSocket fan-out: market streams and user-data streams, with per-connection writers.

Each connection owns a bounded queue and one writer task, so a slow subscriber cannot stall the
matching loop: past ``MAX_QUEUE`` pending messages it is disconnected, as the venue does. Faults
(latency, silent stall, clean close, TCP reset) act in the writer.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from exchange_sim.core.faults import Faults

MAX_QUEUE = 50_000


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    message: bytes
    reset: bool = False
    final: bytes | None = None  # sent just before closing (e.g. listenKeyExpired)


@dataclass(eq=False, slots=True)
class Conn:
    ws: web.WebSocketResponse
    kind: str  # "market" or "user"
    combined: bool
    api_key: str | None = None
    channel: str | None = None  # the user-data channel's token
    streams: set[str] = field(default_factory=set)
    topics: set[str] | None = None  # user topics this connection hears; None = all of them
    queue: deque[tuple[float, bytes] | _Close] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    done: bool = False
    sent_at: float = 0.0  # loop time of the last frame written (a front may cut idle sockets)
    stamp: bool = False  # add the send stamp to each message (``[market] send_stamp``)


class Hub:
    """Who listens to what; ``publish_*`` never blocks, writers drain at their own pace."""

    def __init__(
        self,
        faults: Faults,
        rng: random.Random,
        loop_time: Callable[[], float],
        *,
        send_stamp: bool = False,
    ) -> None:
        self.faults = faults
        self._send_stamp = send_stamp
        self._rng = rng
        self._now = loop_time
        self.market: dict[str, set[Conn]] = {}
        self.user: dict[str, set[Conn]] = {}  # channel token -> connections
        self.conns: set[Conn] = set()

    # -------------------------------------------------------------- membership
    def add(self, conn: Conn) -> None:
        conn.stamp = self._send_stamp and conn.kind == "market"
        self.conns.add(conn)
        if conn.kind == "user" and conn.channel is not None:
            self.user.setdefault(conn.channel, set()).add(conn)
        for stream in conn.streams:
            self.market.setdefault(stream, set()).add(conn)

    def subscribe(self, conn: Conn, streams: list[str]) -> None:
        for stream in streams:
            conn.streams.add(stream)
            self.market.setdefault(stream, set()).add(conn)

    def unsubscribe(self, conn: Conn, streams: list[str]) -> None:
        for stream in streams:
            conn.streams.discard(stream)
            self.market.get(stream, set()).discard(conn)

    def remove(self, conn: Conn) -> None:
        conn.done = True
        self.conns.discard(conn)
        for stream in conn.streams:
            self.market.get(stream, set()).discard(conn)
        if conn.channel is not None:
            self.user.get(conn.channel, set()).discard(conn)

    def has_market_subscribers(self, stream: str) -> bool:
        return bool(self.market.get(stream))

    # -------------------------------------------------------------- publishing
    def _due(self) -> float:
        lat = self.faults.stream_latency
        return self._now() + (lat.sample_s(self._rng) if lat is not None else 0.0)

    def _push(self, conn: Conn, item: tuple[float, bytes] | _Close) -> None:
        if conn.done:
            return
        if len(conn.queue) >= MAX_QUEUE and not isinstance(item, _Close):
            conn.queue.clear()
            item = _Close(WSCloseCode.POLICY_VIOLATION, b"slow consumer")
        conn.queue.append(item)
        conn.wake.set()

    def publish_market(self, stream: str, raw: bytes, wrapped: bytes) -> None:
        conns = self.market.get(stream)
        if not conns:
            return
        if "market" in self.faults.stalled:
            return  # silent stall: sockets stay open, nothing is sent
        due = self._due()
        for conn in conns:
            self._push(conn, (due, wrapped if conn.combined else raw))

    def join_user(self, conn: Conn, channel: str) -> None:
        """A connection that authenticated after it opened starts hearing ``channel``."""
        conn.channel = channel
        self.user.setdefault(channel, set()).add(conn)

    def publish_user(self, channel: str, payload: bytes, topic: str = "") -> None:
        conns = self.user.get(channel)
        if not conns or "user" in self.faults.stalled:
            return
        due = self._due()
        for conn in conns:
            if conn.topics is None or topic in conn.topics:
                self._push(conn, (due, payload))

    # -------------------------------------------------------------- ending streams
    def close(self, conns: list[Conn], code: int, message: str, final: bytes | None = None) -> int:
        for conn in conns:
            self._push(conn, _Close(code, message.encode(), final=final))
        return len(conns)

    def reset(self, conns: list[Conn]) -> int:
        for conn in conns:
            self._push(conn, _Close(0, b"", reset=True))
        return len(conns)

    def select(self, kind: str) -> list[Conn]:
        return [c for c in self.conns if kind in ("all", c.kind)]

    def by_channel(self, channel: str) -> list[Conn]:
        return list(self.user.get(channel, ()))


def abort_with_rst(ws: web.WebSocketResponse, request: web.Request) -> None:
    """SO_LINGER 0 then abort: the kernel sends a TCP RST instead of a FIN."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def write_loop(conn: Conn, request: web.Request) -> None:
    """Drain the connection's queue until it closes; a peer that vanished just ends it."""
    try:
        await _drain(conn, request)
    except ConnectionError:
        conn.done = True  # the subscriber went away mid-send: nothing left to deliver


async def _drain(conn: Conn, request: web.Request) -> None:
    loop = asyncio.get_running_loop()
    ws = conn.ws
    while not conn.done and not ws.closed:
        await conn.wake.wait()
        conn.wake.clear()
        while conn.queue and not ws.closed:
            item = conn.queue.popleft()
            if isinstance(item, _Close):
                await _finish(conn, item, request)
                return
            due, data = item
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if conn.stamp:
                data = send_stamped(data, time.monotonic_ns())
            await ws.send_frame(data, WSMsgType.TEXT)
            conn.sent_at = loop.time()


def send_stamped(message: bytes, sent_ns: int) -> bytes:
    """The JSON object ``message`` with ``"sentNs"`` added as its last top-level member."""
    return b'%s,"sentNs":%d}' % (message[:-1], sent_ns)


async def _finish(conn: Conn, item: _Close, request: web.Request) -> None:
    conn.done = True
    if item.reset:
        abort_with_rst(conn.ws, request)
        return
    if item.final is not None:
        await conn.ws.send_frame(item.final, WSMsgType.TEXT)
    await conn.ws.close(code=item.code, message=item.message)
