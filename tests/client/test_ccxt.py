"""`killswitch_client.ccxt.supervise` with the real ccxt package, the example bot as a real
process, exchange_sim and a real watchdog: a bot that is killed, one that hangs (the asyncio
flavour), one that floods. The venue's own records are the proof."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from demo import configs
from demo.world import World
from harness.sim import NEW_ORDER_ENDPOINT
from harness.wait import wait_until


@pytest.fixture
def world() -> Iterator[World]:
    with World() as built:
        built.start_sim()
        built.write_credentials()
        built.start_watchdog()
        yield built


def status(world: World) -> dict[str, Any]:
    return world.trader_status()


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
    endpoint = NEW_ORDER_ENDPOINT["binance"]
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
    refused = wait_until(
        lambda: world.bot_status().get("refused", 0) > 0 and world.bot_status(),
        within=60,
        what="create_order refused by the client (TradingHalted)",
    )
    rules = {d.get("rule") for d in status(world).get("decisions") or []}
    assert rules & {"order_rate", "open_orders"}, rules
    assert "key_misuse" not in rules  # every order that left was reported first
    # Every order the venue took was one the bot placed through the wrapper: none slipped
    # past a refusal (the bot counts a placed order once the venue answered it).
    attempts = refused["placed"] + refused["errors"]
    assert orders_at_the_venue(world) <= attempts + 1  # +1: the one in flight at the read
