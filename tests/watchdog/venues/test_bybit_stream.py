"""The Bybit private stream: strict decoding (pure), and the follower against exchange_sim."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path

import aiohttp
import orjson
import pytest
from websockets.asyncio.server import ServerConnection

from harness.sim import SimConfig, SimKey, SimProcess
from tests.support.sim import SkewedClock, running_sim
from tests.watchdog.venues.streams import (
    fake_venue,
    order_updates,
    refused_before_connecting,
    running,
    stop,
)
from tests.watchdog.venues.test_bybit import place
from tests.watchdog.wire import wait_until
from watchdog.venues import Credentials, Side, VenueProtocolError
from watchdog.venues.base import RealizedPnl
from watchdog.venues.bybit import Bybit, BybitEndpoint
from watchdog.venues.bybit_stream import BybitPrivateStream, BybitStreamConfig, decode_private
from watchdog.venues.user_events import AccountUpdate, OrderUpdate
from watchdog.venues.user_stream import StreamConnected, StreamDisconnected, StreamItem

EXECUTION: dict[str, object] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "orderId": "o-1",
    "orderLinkId": "t-1",
    "side": "Sell",
    "orderType": "Limit",
    "orderPrice": "60000",
    "orderQty": "0.03",
    "leavesQty": "0.01",
    "execType": "Trade",
    "execQty": "0.02",
    "execPrice": "60000",
    "execTime": "1700000000000",
}


def message(topic: str, *rows: Mapping[str, object]) -> bytes:
    return orjson.dumps({"id": "1", "topic": topic, "creationTime": 1, "data": list(rows)})


def test_a_fill_is_one_trade_with_its_own_quantity_and_price() -> None:
    (update,) = decode_private(message("execution", EXECUTION))
    assert isinstance(update, OrderUpdate)
    assert (update.execution_type, update.status, update.side) == (
        "TRADE",
        "PARTIALLY_FILLED",
        Side.SELL,
    )
    assert (update.last_qty, update.cum_qty, update.order_id) == (
        Decimal("0.02"),
        Decimal("0.02"),
        "o-1",
    )


def test_funding_and_other_categories_are_not_fills() -> None:
    assert decode_private(message("execution", EXECUTION | {"execType": "Funding"})) == ()
    assert decode_private(message("execution.linear", EXECUTION | {"category": "spot"})) == ()


def test_an_order_message_in_a_fill_state_is_left_to_the_execution_topic() -> None:
    order = {"category": "linear", "orderStatus": "Filled"}
    assert decode_private(message("order", order)) == ()


def test_an_unknown_order_status_is_an_error_not_silence() -> None:
    with pytest.raises(VenueProtocolError, match="orderStatus"):
        decode_private(message("order", {"category": "linear", "orderStatus": "Weird"}))


def test_op_replies_and_unfollowed_topics_carry_no_event() -> None:
    assert decode_private(b'{"op":"pong","success":true}') == ()
    assert decode_private(message("dcp", {"dcpStatus": "ON"})) == ()


def test_a_message_that_is_not_json_is_an_error() -> None:
    with pytest.raises(VenueProtocolError, match="not JSON"):
        decode_private(b"<html>")


# --- against the simulator -------------------------------------------------------------------


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    with running_sim(
        tmp_path, SimConfig(book_ticker_hz=0, bybit_orders_per_s=1000), venue="bybit"
    ) as process:
        yield process


async def following(
    sim: SimProcess, key: SimKey, items: list[StreamItem], *, hold_dcp: bool = True
) -> asyncio.Task[None]:
    config = BybitStreamConfig(f"{sim.ws_url}/v5/private", backoff_max_s=0.5, hold_dcp=hold_dcp)
    stream = BybitPrivateStream(Credentials(key.api_key, key.secret), config, items.append)
    task = asyncio.create_task(stream.run())
    await wait_until(
        lambda: any(isinstance(i, StreamConnected | StreamDisconnected) for i in items)
    )
    return task


async def test_the_stream_reports_new_fill_and_cancel_and_the_account_changes(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    items: list[StreamItem] = []
    task = await following(sim, sim.watchdog_key, items)
    try:
        assert isinstance(items[0], StreamConnected)
        resting = await place(sim, session, "BTCUSDT", price="50000")
        await place(sim, session, "ETHUSDT", qty="0.5")
        await Bybit(
            session,
            BybitEndpoint(sim.base_url),
            Credentials(sim.watchdog_key.api_key, sim.watchdog_key.secret),
        ).cancel_all("BTCUSDT")
        await wait_until(
            lambda: (
                any(u.execution_type == "CANCELED" for u in order_updates(items))
                and any(isinstance(i, AccountUpdate) and i.positions for i in items)
            )
        )
    finally:
        await stop(task)
    btc = [u for u in order_updates(items) if u.order_id == resting]
    assert [u.execution_type for u in btc] == ["NEW", "CANCELED"]
    (fill,) = [u for u in order_updates(items) if u.execution_type == "TRADE"]
    assert (fill.symbol, fill.status, fill.last_qty) == ("ETHUSDT", "FILLED", Decimal("0.5"))
    positions = [p for i in items if isinstance(i, AccountUpdate) for p in i.positions]
    assert positions[-1].qty == Decimal("0.5")
    assert any(isinstance(i, AccountUpdate) and i.balances for i in items)


async def test_a_refused_auth_is_a_disconnect_naming_it_and_never_a_connect(
    sim: SimProcess,
) -> None:
    items: list[StreamItem] = []
    bad = SimKey("bad", sim.watchdog_key.api_key, "W" * 64)
    task = await following(sim, bad, items)
    await stop(task)
    refused_before_connecting(items)


async def test_dcp_cancels_the_accounts_orders_once_its_last_stream_is_gone(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    master = Credentials(sim.master_key.api_key, sim.master_key.secret)
    venue = Bybit(session, BybitEndpoint(sim.base_url), master)
    items: list[StreamItem] = []
    task = await following(sim, sim.master_key, items)
    await venue.arm_dcp(3)
    await place(sim, session, "BTCUSDT", price="50000", key=sim.master_key)
    assert len(await venue.open_orders()) == 1
    await stop(task)  # the watchdog's connection is gone: the venue counts down
    await wait_until(lambda: sim.admin.open_orders("master") == [], within=15.0)
    journal = [e["endpoint"] for e in sim.admin.journal() if e["kind"] == "event"]
    assert "countdown_cancel_all" in journal


async def test_a_stream_that_does_not_hold_dcp_is_not_watched_by_it(sim: SimProcess) -> None:
    items: list[StreamItem] = []
    bare = await following(sim, sim.master_key, items, hold_dcp=False)
    held = await following(sim, sim.master_key, items)
    await wait_until(lambda: sum(isinstance(i, StreamConnected) for i in items) == 2)
    await stop(held)
    # The stream still connected does not count: the venue arms DCP as the held one goes.
    await wait_until(
        lambda: any(e["endpoint"] == "dcp_armed" for e in sim.admin.journal()), within=15.0
    )
    await stop(bare)


async def test_a_reply_that_is_not_json_is_a_disconnect_and_the_stream_keeps_trying() -> None:
    connections: list[str | bytes] = []

    async def handler(ws: ServerConnection) -> None:
        connections.append(await ws.recv())  # the auth request
        await ws.send("<html>bad gateway</html>")
        await ws.wait_closed()

    async with fake_venue(handler) as port:
        config = BybitStreamConfig(
            f"ws://127.0.0.1:{port}", backoff_initial_s=0.01, backoff_max_s=0.05
        )
        items: list[StreamItem] = []
        stream = BybitPrivateStream(Credentials("K" * 18, "S" * 36), config, items.append)
        async with running(stream):
            await wait_until(lambda: len(connections) >= 2)
    first = items[0]
    assert isinstance(first, StreamDisconnected)
    assert "not JSON" in first.reason


async def test_auth_expiry_follows_the_venues_clock_not_a_skewed_local_one(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    clock = SkewedClock(-3600.0)
    key = sim.watchdog_key
    venue = Bybit(
        session, BybitEndpoint(sim.base_url), Credentials(key.api_key, key.secret), clock=clock
    )
    await venue.sync_time()
    config = BybitStreamConfig(f"{sim.ws_url}/v5/private")
    items: list[StreamItem] = []
    stream = BybitPrivateStream(
        Credentials(key.api_key, key.secret),
        config,
        items.append,
        clock=clock,
        time_offset_ms=lambda: venue.time_offset_ms,
    )
    task = asyncio.create_task(stream.run())
    await wait_until(lambda: bool(items))
    await stop(task)
    assert isinstance(items[0], StreamConnected), items


async def test_a_stalled_stream_is_seen_by_its_missing_pong_and_reconnected() -> None:
    connections: list[ServerConnection] = []

    async def silent_after_subscribe(ws: ServerConnection) -> None:
        connections.append(ws)
        for op in ("auth", "subscribe"):
            await ws.recv()
            await ws.send(orjson.dumps({"op": op, "success": True, "ret_msg": ""}).decode())
        await ws.wait_closed()  # open, and silent: not even a pong

    async with fake_venue(silent_after_subscribe) as port:
        config = BybitStreamConfig(
            f"ws://127.0.0.1:{port}",
            ping_interval_s=0.2,
            reply_timeout_s=0.5,
            backoff_initial_s=0.01,
            backoff_max_s=0.05,
        )
        items: list[StreamItem] = []
        stream = BybitPrivateStream(Credentials("K" * 18, "S" * 36), config, items.append)
        async with running(stream):
            await wait_until(lambda: len(connections) >= 2)
    (down, *_) = [i for i in items if isinstance(i, StreamDisconnected)]
    assert "stalled" in down.reason


async def test_a_reset_connection_is_reported_and_followed_again(sim: SimProcess) -> None:
    key = sim.watchdog_key
    config = BybitStreamConfig(f"{sim.ws_url}/v5/private", backoff_max_s=0.5)
    items: list[StreamItem] = []
    stream = BybitPrivateStream(Credentials(key.api_key, key.secret), config, items.append)
    task = asyncio.create_task(stream.run())
    await wait_until(lambda: any(isinstance(i, StreamConnected) for i in items))
    assert sim.admin.streams("reset", "user") >= 1
    await wait_until(lambda: any(isinstance(i, StreamConnected) and i.attempt for i in items))
    await stop(task)
    assert any(isinstance(i, StreamDisconnected) for i in items)


def test_only_linear_positions_are_followed() -> None:
    row = {"category": "linear", "symbol": "BTCUSDT", "side": "Sell", "size": "0.2"}
    row |= {"entryPrice": "60000", "unrealisedPnl": "1"}
    (update,) = decode_private(message("position", row, row | {"category": "inverse"}))
    assert isinstance(update, AccountUpdate)
    assert [p.qty for p in update.positions] == [Decimal("-0.2")]
    assert decode_private(message("position", row | {"category": "option"})) == ()


def test_a_position_push_carries_the_symbols_realized_pnl_and_refuses_a_malformed_one() -> None:
    row = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "size": "0.2"}
    row |= {"entryPrice": "60000", "unrealisedPnl": "1", "cumRealisedPnl": "-40.1"}
    (update,) = decode_private(message("position", row))
    assert isinstance(update, AccountUpdate)
    assert update.positions[0].realized == RealizedPnl(Decimal("-40.1"), since_ms=None)
    (bare,) = decode_private(message("position", {k: v for k, v in row.items()
                                                  if k != "cumRealisedPnl"}))  # fmt: skip
    assert isinstance(bare, AccountUpdate)
    assert bare.positions[0].realized is None
    with pytest.raises(VenueProtocolError, match=r"position\.data\[0\]\.cumRealisedPnl"):
        decode_private(message("position", row | {"cumRealisedPnl": "lots"}))
