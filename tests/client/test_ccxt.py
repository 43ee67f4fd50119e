"""`killswitch_client.ccxt.supervise` with the real ccxt package, the example bot as a real
process, exchange_sim and a real watchdog: a bot that is killed, one that hangs (the asyncio
flavour), one that floods. The venue's own records are the proof."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import killswitch_client.protocol as wire
import pytest
from killswitch_client import Client, ClientConfig, TradingHalted
from killswitch_client.ccxt import supervise
from killswitch_client.protocol import decode_telemetry

from demo import configs
from demo.world import World
from harness.sim import NEW_ORDER_ENDPOINT
from harness.wait import wait_until
from tests.watchdog.wire import KEY, TRADER

BTC = "BTC/USDT:USDT"
# BTCUSDT as ccxt describes a linear perpetual, enough for it to build an order request.
MARKET = {
    "id": "BTCUSDT", "symbol": BTC, "base": "BTC", "quote": "USDT", "settle": "USDT",
    "baseId": "BTC", "quoteId": "USDT", "settleId": "USDT", "type": "swap", "spot": False,
    "margin": False, "swap": True, "future": False, "option": False, "contract": True,
    "linear": True, "inverse": False, "contractSize": 1, "active": True,
    "precision": {"amount": 0.001, "price": 0.1},
    "limits": {"amount": {"min": 0.001}, "price": {}, "cost": {}},
    "info": {"orderTypes": ["LIMIT", "MARKET"]},
}  # fmt: skip


@pytest.fixture(params=["binance", "bybit"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """The suite on exchange_sim speaking each venue's protocol; the example bot speaks it
    through ccxt's own exchange for that venue (`binanceusdm`, `bybit`)."""
    with World(venue=request.param) as built:
        built.start_sim()
        built.write_credentials()
        built.start_watchdog()
        yield built


def status(world: World) -> dict[str, Any]:
    return world.trader_status()


def decided_rules(world: World) -> set[str]:
    """Every rule the watchdog's audit shows in a decision: the status shows only the decisions
    in force, and a halt may have cooled down by the time the test looks."""
    rows = world.watchdog_cli("audit", "--limit", "1000")
    return {
        str(decision.get("rule"))
        for row in rows
        if row.get("kind") == "decision"
        for decision in (row.get("detail") or {}).get("decisions") or []
    }


def killed_and_swept(world: World) -> bool:
    trader = status(world)
    return trader.get("state") == "KILLED" and bool((trader.get("kill") or {}).get("finished"))


def assert_killed_at_the_venue(world: World) -> None:
    wait_until(lambda: killed_and_swept(world), within=60, what="the kill to finish")
    assert world.open_orders() == []
    client = world.trader_client()
    try:
        assert client.balance().key_refused  # the bot's key was deleted at the venue
    finally:
        client.close()
    assert not world.proc("trader").alive()


def orders_at_the_venue(world: World) -> int:
    endpoint = NEW_ORDER_ENDPOINT[world.venue]
    journal = world.admin.journal()
    return sum(
        1
        for e in journal
        if e["kind"] == "request"
        and e["endpoint"] == endpoint
        and e["account"] == configs.TRADER_ACCOUNT
    )


def test_a_supervised_bot_that_is_killed_leaves_an_empty_book_and_a_dead_key(
    world: World,
) -> None:
    world.start_ccxt_bot()
    world.wait_armed()
    wait_until(lambda: world.open_orders(), what="the bot's orders resting at the venue")
    assert status(world)["state"] == "ACTIVE"  # every order was reported: no key misuse
    world.proc("trader").send(signal.SIGKILL)
    assert_killed_at_the_venue(world)
    assert "process" in str((status(world).get("kill") or {}).get("reason", ""))


def test_a_supervised_async_bot_that_hangs_is_killed(world: World) -> None:
    world.start_ccxt_bot("--async")
    world.wait_armed()
    wait_until(lambda: world.bot_status().get("state") == "ACTIVE", what="the async bot ACTIVE")
    wait_until(lambda: world.open_orders(), what="the async bot's orders at the venue")
    world.proc("trader").send(signal.SIGSTOP)
    assert_killed_at_the_venue(world)
    assert "heartbeat" in str((status(world).get("kill") or {}).get("reason", ""))


def test_a_flooding_bot_is_stopped_by_its_own_wrapper_once_the_watchdog_says_so(
    world: World,
) -> None:
    world.start_ccxt_bot("--flood")
    wait_until(
        lambda: world.bot_status().get("refused", 0) > 0,
        within=60,
        what="create_order refused by the client (TradingHalted)",
    )
    rules = decided_rules(world)
    assert rules & {"order_rate", "open_orders"}, rules
    assert "key_misuse" not in rules  # every order that left was reported first
    # Every order the venue took was one the bot placed through the wrapper: none slipped
    # past a refusal (the bot counts a placed order once the venue answered it). The bot goes
    # on between the reads (a refusal may be brief): the venue first, then the bot's count,
    # which by then includes every order the venue had answered (read from its file: a
    # sustained breach may have killed the bot meanwhile).
    at_the_venue = orders_at_the_venue(world)
    now = json.loads(world.bot_status_path.read_text())
    assert at_the_venue <= now["placed"] + now["errors"] + 1  # +1: one in flight at the read


# -- without a venue: what the wrapper refuses or reports before anything is answered ----------


def halted_exchange(tmp_path: Path) -> tuple[Any, socket.socket]:
    """A supervised binanceusdm whose endpoints lead to a closed port, and the datagram socket
    its client reports to (nobody acks: the client stays HALTED, fail-closed)."""
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(tmp_path / "wd.sock"))
    sink.settimeout(10)
    client = Client(ClientConfig(TRADER, KEY, str(tmp_path / "wd.sock"), 5.0, 10.0))
    exchange = ccxt.binanceusdm({"apiKey": "k", "secret": "s", "enableRateLimit": False})
    for name, url in list(exchange.urls["api"].items()):
        if isinstance(url, str):
            exchange.urls["api"][name] = "http://127.0.0.1:9" + url[url.find("/", 8) :]
    exchange.set_markets([MARKET])
    return supervise(exchange, client), sink


def reported_orders(sink: socket.socket) -> list[wire.OrderEvent]:
    """The order events of every datagram the client sent so far."""
    sink.setblocking(False)
    orders: list[wire.OrderEvent] = []
    with contextlib.suppress(BlockingIOError):
        while True:
            events = decode_telemetry(sink.recv(2048), {TRADER: KEY}.get).events
            orders += [e for e in events if isinstance(e, wire.OrderEvent)]
    return orders


def test_without_a_fresh_ack_new_orders_and_edits_are_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    exchange, sink = halted_exchange(tmp_path)
    with contextlib.closing(sink), exchange.killswitch.client:
        assert isinstance(exchange, ccxt.binanceusdm)  # the same interface, subclassed
        with pytest.raises(TradingHalted, match="HALTED"):
            exchange.create_limit_buy_order(BTC, 0.01, 50_000)  # ccxt's helper: still checked
        with pytest.raises(TradingHalted):
            exchange.edit_order("1", BTC, "limit", "buy", 0.02, 50_000)
        with pytest.raises(ccxt.NotSupported):
            exchange.create_orders([])
        assert reported_orders(sink) == []  # nothing was reported: nothing was sent


def test_a_reduce_only_order_passes_halted_and_a_network_error_is_reported_as_nothing(
    tmp_path: Path,
) -> None:
    exchange, sink = halted_exchange(tmp_path)
    with contextlib.closing(sink), exchange.killswitch.client:
        with pytest.raises(ccxt.NetworkError):  # the closed port: the order's fate is unknown
            exchange.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})
        sent = wait_until(lambda: reported_orders(sink), within=10, what="the SUBMIT report")
    assert [(o.kind, o.symbol, o.side, o.price) for o in sent] == [
        ("SUBMIT", "BTCUSDT", "SELL", 0.0)
    ]
    assert sent[0].order_id.startswith("ks")  # the id the wrapper set as clientOrderId
