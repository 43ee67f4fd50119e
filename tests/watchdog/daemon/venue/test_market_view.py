"""The watchdog's own market view: real processes (exchange_sim, the watchdog, a trader bot).

Reconciliation runs every 30 s here, so what happens within a few seconds of a price event was
done at the price event: the watchdog marked the position itself.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from harness.wait import wait_until
from tests.watchdog.daemon.venue.world import VENUES, VenueWorld, venue_world

SLOW_RECONCILE = {"reconcile_period_s": 30.0, "max_venue_blind_s": 120.0}
WITHIN_S = 5.0  # far from the next reconciliation (30 s): the kill came at the price event


def _halted_by(world: VenueWorld, rule: str) -> dict[str, Any] | None:
    trader = world.space.trader()
    if trader["state"] != "HALTED":
        return None
    return next((d for d in trader["decisions"] if d["rule"] == rule), None)


def _hold(world: VenueWorld, key: str) -> dict[str, Any] | None:
    holds = [h for h in world.space.audit("hold") if h["detail"]["key"] == key]
    return holds[-1] if holds else None


@pytest.mark.parametrize("venue", VENUES)
def test_a_price_jump_kills_at_the_price_event_not_at_the_next_reconciliation(
    venue: str,
) -> None:
    with venue_world(venue=venue, link=SLOW_RECONCILE, market=True) as world:
        # Held before the watchdog's first read, under the position limit (15% of 100000).
        world.market_buy("BTCUSDT", Decimal("0.2"))
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)  # and it keeps saying all is well
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        jumped = time.monotonic()
        world.sim.admin.price_jump("BTCUSDT", -30)  # about -3600 on 100000: a 3.6% daily loss
        wait_until(lambda: world.space.state() == "KILLED", within=WITHIN_S, what="KILLED")
        assert time.monotonic() - jumped < WITHIN_S
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "daily_loss"
        world.wait_killed_clean()


@pytest.mark.parametrize("venue", VENUES)
def test_a_market_stream_silent_with_its_socket_open_halts_until_it_prices_again(
    venue: str,
) -> None:
    link = {"max_market_silence_s": 1.0}
    with venue_world(venue=venue, link=link, market=True) as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        assert world.sim.admin.streams("stall", "market") >= 1  # open sockets, no message
        wait_until(lambda: world.space.state() == "HALTED", within=15, what="HALTED")
        hold = _hold(world, "venue_market")
        assert hold is not None
        assert "with the socket open" in hold["detail"]["reason"]
        world.sim.admin.streams("resume", "market")
        wait_until(lambda: world.space.state() == "ACTIVE", within=30, what="ACTIVE again")
        assert world.space.audit("kill_started") == []


class _FakeBookTicker:
    """A Binance combined bookTicker stream on loopback whose bid turns to ``bad`` on demand."""

    def __init__(self, bad: str) -> None:
        self.bad = bad
        self.poisoned = threading.Event()
        self.port = 0

    async def _handler(self, ws: ServerConnection) -> None:
        update = 0
        while True:
            for symbol, price in (("BTCUSDT", 60_000.0), ("ETHUSDT", 3_000.0)):
                update += 1
                bid = self.bad if self.poisoned.is_set() else f"{price:.2f}"
                data = {"e": "bookTicker", "u": update, "s": symbol, "b": bid, "B": "1",
                        "a": f"{price + 0.1:.2f}", "A": "1", "T": 0, "E": 0}  # fmt: skip
                name = f"{symbol.lower()}@bookTicker"
                await ws.send(orjson.dumps({"stream": name, "data": data}).decode())
            await asyncio.sleep(0.05)

    @contextmanager
    def running(self) -> Iterator[str]:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        stop = asyncio.Event()

        async def main() -> None:
            async with serve(self._handler, "127.0.0.1", 0) as server:
                self.port = server.sockets[0].getsockname()[1]
                ready.set()
                await stop.wait()

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        assert ready.wait(10)
        try:
            yield f"ws://127.0.0.1:{self.port}"
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)


@pytest.mark.parametrize(("bad", "named"), [("NaN", "MarketEvent.bid"), ("0", "bid is 0")])
def test_a_price_that_is_not_a_price_halts_naming_it(bad: str, named: str) -> None:
    feed = _FakeBookTicker(bad)
    with feed.running() as url, venue_world(market=url) as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        feed.poisoned.set()
        decision = wait_until(lambda: _halted_by(world, "bad_data"), within=15, what="HALTED")
        assert named in decision["reason"]
        assert world.space.audit("kill_started") == []
