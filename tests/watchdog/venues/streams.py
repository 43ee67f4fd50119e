"""What the private-stream tests of every venue do alike: run a fake venue, run and stop a
follower, read its items."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from watchdog.venues.private_ws import PrivateStream
from watchdog.venues.user_events import OrderUpdate
from watchdog.venues.user_stream import StreamConnected, StreamDisconnected, StreamItem


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel a follower; it must end by that cancellation, never by an error of its own."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def order_updates(items: list[StreamItem]) -> list[OrderUpdate]:
    return [i for i in items if isinstance(i, OrderUpdate)]


def refused_before_connecting(items: list[StreamItem]) -> StreamDisconnected:
    """A refused key: the first item is a disconnect naming the refusal, and none a connect."""
    assert not any(isinstance(i, StreamConnected) for i in items)
    first = items[0]
    assert isinstance(first, StreamDisconnected)
    assert "KeyRefused" in first.reason
    return first


@asynccontextmanager
async def fake_venue(handler: Callable[[ServerConnection], Awaitable[None]]) -> AsyncIterator[int]:
    """A WebSocket server on loopback that answers with ``handler``; its port."""
    async with serve(handler, "127.0.0.1", 0) as server:
        yield server.sockets[0].getsockname()[1]


@asynccontextmanager
async def running(stream: PrivateStream[Any]) -> AsyncIterator[None]:
    """A follower running for the block, stopped after it however the block ends."""
    task = asyncio.create_task(stream.run())
    try:
        yield
    finally:
        await stop(task)
