"""The user-stream follower against a real websocket server on loopback."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.watchdog.venues.test_user_events import ORDER_EVENT
from watchdog.venues.errors import VenueUnavailable
from watchdog.venues.user_events import ListenKeyExpired, OrderUpdate
from watchdog.venues.user_stream import (
    StreamConnected,
    StreamDisconnected,
    StreamFault,
    StreamItem,
    UserStreamConfig,
    UserStreamFollower,
)


class Keys:
    """Listen keys from a script: each create hands out the next key, or raises."""

    def __init__(self, fail_first: int = 0, *, refuse_keepalives: bool = False) -> None:
        self.created: list[str] = []
        self.keepalives = 0
        self.fail_first = fail_first
        self.refuse_keepalives = refuse_keepalives

    async def create_listen_key(self) -> str:
        if self.fail_first:
            self.fail_first -= 1
            raise VenueUnavailable("HTTP 503", endpoint="POST /fapi/v1/listenKey")
        self.created.append(f"key{len(self.created)}")
        return self.created[-1]

    async def keepalive_listen_key(self) -> None:
        self.keepalives += 1
        if self.refuse_keepalives:
            raise VenueUnavailable("HTTP 503", endpoint="PUT /fapi/v1/listenKey")


Script = Callable[[ServerConnection, str], "asyncio.Future[None] | object"]


@pytest.fixture
async def ws_server() -> AsyncIterator[tuple[str, list[str], dict[str, object]]]:
    """A stream server: first connection per key gets the scripted behaviour in `plan`."""
    paths: list[str] = []
    plan: dict[str, object] = {}

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        paths.append(path)
        action = plan.get(path, "events")
        if action == "events":
            await ws.send(orjson.dumps(ORDER_EVENT).decode())
            await ws.send("not json")
            await ws.send('{"e":"MARGIN_CALL","E":1}')
            await ws.wait_closed()
        elif action == "expire":
            await ws.send('{"e":"listenKeyExpired","E":5,"listenKey":"x"}')
            await ws.wait_closed()
        elif action == "close":
            await ws.close()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}", paths, plan


async def _until(items: list[StreamItem], predicate: Callable[[list[StreamItem]], bool]) -> None:
    deadline = time.monotonic() + 10.0
    while not predicate(items):
        assert time.monotonic() < deadline, f"condition not met; got {items}"
        await asyncio.sleep(0.01)


def _config(url: str, **kw: float) -> UserStreamConfig:
    return UserStreamConfig(url, backoff_initial_s=0.02, backoff_max_s=0.1, **kw)


async def _follow(
    follower: UserStreamFollower,
    items: list[StreamItem],
    done: Callable[[list[StreamItem]], bool],
) -> None:
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(follower.run())
        try:
            await _until(items, done)
        finally:
            task.cancel()


async def test_events_are_decoded_and_faults_reported_not_fatal(
    ws_server: tuple[str, list[str], dict[str, object]],
) -> None:
    url, paths, _ = ws_server
    items: list[StreamItem] = []
    follower = UserStreamFollower(Keys(), _config(url), items.append)
    await _follow(follower, items, lambda xs: any(isinstance(x, StreamFault) for x in xs))
    assert isinstance(items[0], StreamConnected)
    assert isinstance(items[1], OrderUpdate)
    assert "not JSON" in items[2].reason  # type: ignore[union-attr]
    assert items[2].lost_update  # type: ignore[union-attr]
    assert paths == ["/ws/key0"]


async def test_an_expired_listen_key_is_replaced_and_the_stream_reopened(
    ws_server: tuple[str, list[str], dict[str, object]],
) -> None:
    url, paths, plan = ws_server
    plan["/ws/key0"] = "expire"
    keys = Keys()
    items: list[StreamItem] = []
    follower = UserStreamFollower(keys, _config(url), items.append)
    await _follow(follower, items, lambda xs: any(isinstance(x, OrderUpdate) for x in xs))
    kinds = [type(x) for x in items]
    assert kinds[:4] == [StreamConnected, ListenKeyExpired, StreamDisconnected, StreamConnected]
    assert keys.created == ["key0", "key1"]
    assert paths == ["/ws/key0", "/ws/key1"]


async def test_listen_key_failures_and_closes_back_off_and_retry(
    ws_server: tuple[str, list[str], dict[str, object]],
) -> None:
    url, _, plan = ws_server
    plan["/ws/key0"] = "close"
    keys = Keys(fail_first=2)
    items: list[StreamItem] = []
    follower = UserStreamFollower(keys, _config(url), items.append, rng=random.Random(1))
    await _follow(follower, items, lambda xs: any(isinstance(x, OrderUpdate) for x in xs))
    downs = [x for x in items if isinstance(x, StreamDisconnected)]
    assert len(downs) == 3
    assert "VenueUnavailable" in downs[0].reason
    assert "closed by the venue" in downs[2].reason


async def test_the_key_is_kept_alive_while_connected(
    ws_server: tuple[str, list[str], dict[str, object]],
) -> None:
    url, _, _ = ws_server
    keys = Keys()
    items: list[StreamItem] = []
    follower = UserStreamFollower(keys, _config(url, keepalive_s=0.05), items.append)
    await _follow(follower, items, lambda _: keys.keepalives >= 3)
    assert keys.created == ["key0"]


async def test_a_failed_keep_alive_is_a_fault_that_lost_no_update(
    ws_server: tuple[str, list[str], dict[str, object]],
) -> None:
    # The listen key stays valid for an hour: the stream's view missed nothing to halt on.
    url, _, _ = ws_server
    keys = Keys(refuse_keepalives=True)
    items: list[StreamItem] = []
    follower = UserStreamFollower(
        keys, _config(url, keepalive_s=0.05, keepalive_retry_s=0.05), items.append
    )
    await _follow(follower, items, lambda _: keys.keepalives >= 2)
    faults = [x for x in items if isinstance(x, StreamFault) and "keep-alive" in x.reason]
    assert faults
    assert not any(f.lost_update for f in faults)


def test_a_non_websocket_url_is_refused() -> None:
    with pytest.raises(ValueError, match="ws_base_url"):
        UserStreamConfig("http://x")
