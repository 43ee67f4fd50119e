"""Follow the venue's user-data stream: listen key, keep-alive, reconnect with jittered back-off.

The follower never decides anything: it hands every decoded event, and every change of its own
health (connected, disconnected, undecodable message, keep-alive failure), to a sink. A gap in
the stream is the reconciliation job's to cover; the daemon decides what a long gap means.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import websockets
from websockets.asyncio.client import ClientConnection, connect

from watchdog.backoff import backoff_delay
from watchdog.venues.errors import VenueError, VenueProtocolError
from watchdog.venues.user_events import ListenKeyExpired, UserEvent, decode_user_event

log = logging.getLogger(__name__)


class ListenKeys(Protocol):
    async def create_listen_key(self) -> str: ...

    async def keepalive_listen_key(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StreamConnected:
    attempt: int  # 0 for the first connection, n for the n-th reconnect in a row


@dataclass(frozen=True, slots=True)
class StreamDisconnected:
    reason: str
    retry_in_s: float


@dataclass(frozen=True, slots=True)
class StreamFault:
    """Something the follower survived but the daemon should count (bad message, keep-alive).
    ``lost_update``: a message the venue sent was not read, so a view built on the stream
    misses it (a failed keep-alive loses nothing: the listen key stays valid for an hour)."""

    reason: str
    lost_update: bool = True


StreamItem = UserEvent | StreamConnected | StreamDisconnected | StreamFault
Sink = Callable[[StreamItem], None]


@dataclass(frozen=True, slots=True)
class UserStreamConfig:
    ws_base_url: str  # e.g. ws://127.0.0.1:PORT or wss://fstream.binance.com
    keepalive_s: float = 30 * 60.0  # the venue keeps a key 60 min after the last keep-alive
    keepalive_retry_s: float = 60.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 15.0
    open_timeout_s: float = 5.0
    ping_interval_s: float = 20.0

    def __post_init__(self) -> None:
        if not self.ws_base_url.startswith(("ws://", "wss://")):
            raise ValueError(f"ws_base_url: expected a ws(s) URL, got {self.ws_base_url!r}")
        if min(self.keepalive_s, self.keepalive_retry_s, self.backoff_initial_s) <= 0:
            raise ValueError("keepalive and back-off intervals must be > 0")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")


async def reconnecting(
    session: Callable[[int], Awaitable[str]],
    sink: Callable[[StreamDisconnected], None],
    logger: logging.Logger,
    event: str,
    *,
    initial_s: float,
    max_s: float,
    draw: Callable[[], float],
    routine: str | None = None,
) -> None:
    """Run one connection after another until cancelled: ``session(attempt)`` returns why its
    connection ended, or raises; each end is logged as ``event``, told to the sink as
    ``StreamDisconnected`` and followed by a jittered back-off, which a ``routine`` reason
    resets (a venue that keeps closing on us is backed off; a routine renewal is not)."""
    attempt = 0
    while True:
        try:
            reason = await session(attempt)
            attempt = 0 if reason == routine else attempt + 1
        except (VenueError, OSError, TimeoutError, websockets.WebSocketException) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            attempt += 1
        delay = backoff_delay(attempt, initial_s=initial_s, max_s=max_s, draw=draw)
        logger.warning(event, extra={"reason": reason, "retry_in_s": delay})
        sink(StreamDisconnected(reason=reason, retry_in_s=delay))
        await asyncio.sleep(delay)


class UserStreamFollower:
    def __init__(
        self,
        keys: ListenKeys,
        config: UserStreamConfig,
        sink: Sink,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._keys = keys
        self._config = config
        self._sink = sink
        self._rng = rng or random.Random()

    async def run(self) -> None:
        """Follow until cancelled; every failure ends in a reconnect, never in silence."""
        # An expired key is routine; a venue that keeps closing on us gets backed off.
        await reconnecting(
            self._session, self._sink, log, "user_stream_down",
            initial_s=self._config.backoff_initial_s, max_s=self._config.backoff_max_s,
            draw=self._rng.random, routine="listenKeyExpired",
        )  # fmt: skip

    async def _session(self, attempt: int) -> str:
        """One listen key, one connection: returns why it ended (expiry or close)."""
        key = await self._keys.create_listen_key()
        url = f"{self._config.ws_base_url}/ws/{key}"
        async with connect(
            url,
            open_timeout=self._config.open_timeout_s,
            ping_interval=self._config.ping_interval_s,
            ping_timeout=self._config.ping_interval_s,
            max_size=2**20,
        ) as ws:
            self._sink(StreamConnected(attempt=attempt))
            async with asyncio.TaskGroup() as tg:
                keepalive = tg.create_task(self._keepalive())
                try:
                    return await self._read(ws)
                finally:
                    keepalive.cancel()

    async def _read(self, ws: ClientConnection) -> str:
        async for message in ws:
            try:
                event = decode_user_event(message)
            except VenueProtocolError as exc:
                self._sink(StreamFault(reason=str(exc)))
                continue
            if event is None:
                continue
            self._sink(event)
            if isinstance(event, ListenKeyExpired):
                return "listenKeyExpired"
        return f"closed by the venue (code {ws.close_code})"

    async def _keepalive(self) -> None:
        delay = self._config.keepalive_s
        while True:
            await asyncio.sleep(delay)
            try:
                await self._keys.keepalive_listen_key()
                delay = self._config.keepalive_s
            except VenueError as exc:
                # The key stays valid for an hour: retry soon rather than drop the stream.
                self._sink(StreamFault(f"keep-alive failed: {exc}", lost_update=False))
                delay = self._config.keepalive_retry_s
