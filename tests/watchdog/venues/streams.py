"""What the private-stream tests of every venue do alike: stop a follower, read its items."""

from __future__ import annotations

import asyncio

import pytest

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
