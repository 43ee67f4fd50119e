"""OKX's private and public WebSocket messages, decoded into the events the other venues produce."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from websockets.asyncio.server import ServerConnection

from harness.sim import SimConfig, SimKey, SimProcess
from tests.support.sim import running_sim
from tests.watchdog.venues.streams import (
    fake_venue,
    order_updates,
    refused_before_connecting,
    running,
    stop,
)
from tests.watchdog.wire import wait_until
from watchdog.clock import FakeClock
from watchdog.venues import SubAccountRef
from watchdog.venues.base import RealizedPnl
from watchdog.venues.credentials import Credentials
from watchdog.venues.errors import VenueProtocolError
from watchdog.venues.market_stream import MarketItem, OkxTickers, Tick
from watchdog.venues.okx import Okx, OkxEndpoint
from watchdog.venues.okx_stream import (
    OkxPrivateStream,
    OkxStreamConfig,
    decode_private,
    in_base_coin,
)
from watchdog.venues.user_events import AccountUpdate, OrderUpdate
from watchdog.venues.user_stream import StreamConnected, StreamDisconnected, StreamItem


def push(channel: str, *rows: Mapping[str, object]) -> bytes:
    return orjson.dumps({"arg": {"channel": channel, "instType": "SWAP"}, "data": list(rows)})


def order(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "instType": "SWAP", "instId": "BTC-USDT-SWAP", "ordId": "7", "clOrdId": "c7",
        "side": "sell", "ordType": "limit", "state": "live", "px": "50000", "sz": "4",
        "accFillSz": "0", "fillSz": "0", "fillPx": "", "fillTime": "", "reduceOnly": "false",
        "pnl": "0", "uTime": "1700000000100", "cTime": "1700000000000",
    }  # fmt: skip
    row.update(changes)
    return row


def test_a_live_order_is_new_and_a_cancelled_one_canceled() -> None:
    (new,) = decode_private(push("orders", order()))
    assert isinstance(new, OrderUpdate)
    assert (new.execution_type, new.status, new.order_id, new.side.value) == (
        "NEW", "NEW", "7", "SELL",
    )  # fmt: skip
    (gone,) = decode_private(push("orders", order(state="canceled")))
    assert isinstance(gone, OrderUpdate)
    assert gone.status == "CANCELED"


def test_a_fill_is_one_trade_with_its_own_size_and_price() -> None:
    fill = order(state="partially_filled", fillSz="1", fillPx="50001", accFillSz="1",
                 fillTime="1700000000090", pnl="0.5")  # fmt: skip
    (trade,) = decode_private(push("orders", fill))
    assert isinstance(trade, OrderUpdate)
    assert (trade.execution_type, trade.status) == ("TRADE", "PARTIALLY_FILLED")
    assert (trade.last_qty, trade.last_price, trade.realized_pnl) == (
        Decimal(1), Decimal(50001), Decimal("0.5"),
    )  # fmt: skip
    assert trade.trade_time_ms == 1_700_000_000_090


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"state": "filled"}, "'filled' without a fill"),
        ({"state": "live", "fillSz": "1", "fillPx": "1", "fillTime": "1"}, "a fill of 1"),
        ({"instId": ""}, "instId"),
        ({"side": "Buy"}, "side"),
    ],
)
def test_an_order_push_that_does_not_add_up_is_a_protocol_error(
    changes: dict[str, object], why: str
) -> None:
    with pytest.raises(VenueProtocolError, match=why):
        decode_private(push("orders", order(**changes)))


def test_positions_and_the_account_become_account_updates() -> None:
    pos = {"instId": "ETH-USDT-SWAP", "posSide": "net", "pos": "-2", "avgPx": "3000",
           "upl": "1", "markPx": "2999", "uTime": "1700000000200"}  # fmt: skip
    (positions,) = decode_private(push("positions", pos))
    assert isinstance(positions, AccountUpdate)
    assert positions.reason == "POSITION"
    assert (positions.positions[0].symbol, positions.positions[0].qty) == ("ETHUSDT", Decimal(-2))
    account = {"uTime": "1700000000300", "totalEq": "1",
               "details": [{"ccy": "USDT", "cashBal": "1000", "eq": "1001"}]}  # fmt: skip
    (wallet,) = decode_private(orjson.dumps({"arg": {"channel": "account"}, "data": [account]}))
    assert isinstance(wallet, AccountUpdate)
    assert (wallet.reason, wallet.balances[0].wallet) == ("WALLET", Decimal(1000))


def test_a_position_push_carries_its_realized_pnl_and_refuses_a_malformed_one() -> None:
    pos = {"instId": "BTC-USDT-SWAP", "posSide": "net", "pos": "3", "avgPx": "60000",
           "upl": "1", "markPx": "60001", "uTime": "1700000000200",
           "realizedPnl": "-9.5", "cTime": "1700000000100"}  # fmt: skip
    (update,) = decode_private(push("positions", pos))
    assert isinstance(update, AccountUpdate)
    assert update.positions[0].realized == RealizedPnl(Decimal("-9.5"), 1_700_000_000_100)
    with pytest.raises(VenueProtocolError, match=r"positions\.data\[0\]\.realizedPnl"):
        decode_private(push("positions", pos | {"realizedPnl": "?"}))


def test_replies_pongs_and_other_channels_carry_no_event() -> None:
    assert decode_private(b"pong") == ()
    assert decode_private(orjson.dumps({"event": "login", "code": "0", "msg": ""})) == ()
    assert decode_private(push("balance_and_position", {})) == ()


async def test_sizes_are_turned_from_contracts_into_the_base_coin() -> None:
    async def value(symbol: str) -> Decimal:
        return {"BTCUSDT": Decimal("0.01")}[symbol]

    (event,) = decode_private(push("orders", order(accFillSz="1")))
    scaled = await in_base_coin(event, value)
    assert isinstance(scaled, OrderUpdate)
    assert (scaled.orig_qty, scaled.cum_qty) == (Decimal("0.04"), Decimal("0.01"))


async def test_an_inverse_swap_order_is_an_event_under_its_inst_id_in_okx_units() -> None:
    """An order on an instrument the suite cannot value still reaches the daemon (key misuse
    and the order rate count it), never a fault that drops it."""

    async def value(symbol: str) -> Decimal:
        raise AssertionError(f"no contract value is asked for {symbol}")

    (event,) = decode_private(push("orders", order(instId="BTC-USD-SWAP")))
    scaled = await in_base_coin(event, value)
    assert isinstance(scaled, OrderUpdate)
    assert (scaled.symbol, scaled.orig_qty, scaled.execution_type) == (
        "BTC-USD-SWAP",
        Decimal(4),
        "NEW",
    )


def test_the_tickers_channel_subscribes_each_swap_and_reads_the_best_bid_and_ask() -> None:
    wire = OkxTickers("ws://127.0.0.1:1/ws/v5/public", ["BTCUSDT", "ETHUSDT"])
    (request,) = wire.requests()
    assert orjson.loads(request) == {"op": "subscribe", "args": [
        {"channel": "tickers", "instId": "BTC-USDT-SWAP"},
        {"channel": "tickers", "instId": "ETH-USDT-SWAP"},
    ]}  # fmt: skip
    assert wire.ping() == b"ping"
    tick = {"instId": "BTC-USDT-SWAP", "bidPx": "49999", "askPx": "50001", "ts": "17"}
    message = orjson.dumps({"arg": {"channel": "tickers"}, "data": [tick]})
    assert wire.decode(message) == Tick("BTCUSDT", 49999.0, 50001.0, 17)
    assert wire.decode(b"pong") is None
    assert wire.decode(orjson.dumps({"event": "subscribe", "arg": {}})) is None
    with pytest.raises(VenueProtocolError, match="refused"):
        wire.decode(orjson.dumps({"event": "error", "code": "60018", "msg": "bad"}))
    with pytest.raises(VenueProtocolError, match=r"tickers\.data: empty"):
        wire.decode(orjson.dumps({"arg": {}, "data": []}))


# --- the follower on a local WebSocket server ------------------------------------------------

KEY = Credentials("K" * 18, "S" * 32, passphrase="pass-phrase")


async def value_of(symbol: str) -> Decimal:
    return {"BTCUSDT": Decimal("0.01")}[symbol]


def follower(port: int, items: list[StreamItem], **kw: float) -> OkxPrivateStream:
    config = OkxStreamConfig(
        f"ws://127.0.0.1:{port}/ws/v5/private", backoff_initial_s=0.01, backoff_max_s=0.05, **kw
    )
    return OkxPrivateStream(
        KEY, config, items.append, value_of, clock=FakeClock(wall=1_700_000_000.0)
    )


async def answer_login_and_subscribe(ws: ServerConnection) -> list[dict[str, Any]]:
    requests = []
    for _ in ("login", "subscribe"):
        request = orjson.loads(await ws.recv())
        requests.append(request)
        if request["op"] == "login":
            await ws.send(orjson.dumps({"event": "login", "code": "0", "msg": ""}).decode())
        else:
            for arg in request["args"]:
                await ws.send(orjson.dumps({"event": "subscribe", "arg": arg}).decode())
    return requests


async def test_the_follower_logs_in_subscribes_and_hands_on_orders_in_the_base_coin() -> None:
    seen: list[list[dict[str, Any]]] = []

    async def venue(ws: ServerConnection) -> None:
        seen.append(await answer_login_and_subscribe(ws))
        await ws.send(push("orders", order()).decode())
        await ws.wait_closed()

    items: list[StreamItem] = []
    async with fake_venue(venue) as port, running(follower(port, items)):
        await wait_until(lambda: len(items) >= 2)
    login, subscribe = seen[0]
    (args,) = login["args"]
    message = b"1700000000GET/users/self/verify"
    digest = hmac.new(KEY.secret.encode(), message, hashlib.sha256).digest()
    assert args == {"apiKey": KEY.api_key, "passphrase": "pass-phrase", "timestamp": "1700000000",
                    "sign": base64.b64encode(digest).decode()}  # fmt: skip
    assert [a["channel"] for a in subscribe["args"]] == ["orders", "positions", "account"]
    connected, update = items[:2]
    assert isinstance(connected, StreamConnected)
    assert isinstance(update, OrderUpdate)
    assert update.orig_qty == Decimal("0.04")


async def test_a_refused_login_is_a_disconnect_naming_it_and_never_a_connect() -> None:
    async def venue(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(
            orjson.dumps({"event": "error", "code": "60009", "msg": "Login failed."}).decode()
        )
        await ws.wait_closed()

    items: list[StreamItem] = []
    async with fake_venue(venue) as port, running(follower(port, items)):
        await wait_until(lambda: len(items) >= 2)
    assert "60009" in refused_before_connecting(items).reason


async def test_a_stalled_stream_is_seen_by_its_missing_pong_and_reconnected() -> None:
    connections: list[ServerConnection] = []

    async def silent(ws: ServerConnection) -> None:
        connections.append(ws)
        await answer_login_and_subscribe(ws)
        await ws.wait_closed()  # open, and silent: not even a pong

    items: list[StreamItem] = []
    async with fake_venue(silent) as port, running(follower(port, items, ping_interval_s=0.2)):
        await wait_until(lambda: len(connections) >= 2)
    (down, *_) = [i for i in items if isinstance(i, StreamDisconnected)]
    assert "stalled" in down.reason


# --- against exchange_sim's OKX front ------------------------------------------------------------


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    with running_sim(
        tmp_path, SimConfig(book_ticker_hz=20, okx_orders_per_2s=1000), venue="okx"
    ) as process:
        yield process


def okx_on(sim: SimProcess, session: aiohttp.ClientSession, key: SimKey) -> Okx:
    return Okx(
        session, OkxEndpoint(sim.base_url), Credentials(key.api_key, key.secret, key.passphrase)
    )


async def test_the_stream_reports_new_fill_and_cancel_in_the_base_coin(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    venue = okx_on(sim, session, sim.watchdog_key)
    await venue.sync_time()
    items: list[StreamItem] = []
    task = asyncio.create_task(venue.open_follower(sim.private_ws_url, items.append).run())
    try:
        await wait_until(lambda: bool(items))
        assert isinstance(items[0], StreamConnected), items
        resting = sim.place_order(sim.trader_key, "BTCUSDT", "SELL", "0.01", "70000")
        sim.place_order(sim.trader_key, "ETHUSDT", "SELL", "0.5")
        await venue.cancel_all("BTCUSDT")
        await wait_until(lambda: (
            any(u.execution_type == "CANCELED" for u in order_updates(items))
            and any(isinstance(i, AccountUpdate) and i.positions for i in items)
        ))  # fmt: skip
    finally:
        await stop(task)
    btc = [u for u in order_updates(items) if u.order_id == resting]
    assert [u.execution_type for u in btc] == ["NEW", "CANCELED"]
    assert btc[0].orig_qty == Decimal("0.01")
    (fill,) = [u for u in order_updates(items) if u.execution_type == "TRADE"]
    assert (fill.symbol, fill.status, fill.last_qty) == ("ETHUSDT", "FILLED", Decimal("0.5"))
    positions = [p for i in items if isinstance(i, AccountUpdate) for p in i.positions]
    assert positions[-1].qty == Decimal("-0.5")
    assert any(isinstance(i, AccountUpdate) and i.balances for i in items)


async def test_a_deleted_key_is_refused_at_login_and_never_connects(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    trader = sim.trader_key
    master = okx_on(sim, session, sim.master_key)
    await master.delete_sub_account_key(SubAccountRef(trader.api_key, sub_account="trader1"))
    items: list[StreamItem] = []
    venue = okx_on(sim, session, trader)
    task = asyncio.create_task(venue.open_follower(sim.private_ws_url, items.append).run())
    try:
        await wait_until(lambda: len(items) >= 2)
    finally:
        await stop(task)
    refused_before_connecting(items)


async def test_the_tickers_give_the_best_bid_and_ask_of_each_swap(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    venue = okx_on(sim, session, sim.watchdog_key)
    ticks: list[MarketItem] = []
    follower = venue.open_market_follower(
        sim.market_ws_url, ["BTCUSDT", "ETHUSDT"], ticks.append, silence_s=5.0
    )
    task = asyncio.create_task(follower.run())
    try:
        await wait_until(lambda: {t.symbol for t in ticks if isinstance(t, Tick)} == {
            "BTCUSDT", "ETHUSDT"})  # fmt: skip
    finally:
        await stop(task)
    assert isinstance(ticks[0], StreamConnected)
    for tick in (t for t in ticks if isinstance(t, Tick)):
        assert 0 < tick.bid < tick.ask
