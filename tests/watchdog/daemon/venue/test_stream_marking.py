"""The private stream moves the watchdog's own view at once: real processes (exchange_sim, the
watchdog, a trader bot that keeps saying all is well).

Reconciliation runs every 30 s here and the watchdog reads the account once before the fill,
so what it does within a few seconds of the fill can only come from the stream.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from harness.wait import wait_until
from tests.watchdog.daemon.venue.world import NO_KEY_MISUSE, VENUES, VenueWorld, venue_world

SLOW_RECONCILE = {"reconcile_period_s": 30.0, "max_venue_blind_s": 120.0}
WITHIN_S = 5.0  # far from the next reconciliation (30 s): only the stream can explain it
# A whole bitcoin in one order is this test's fill, not the per-order rule's breach.
BIG_ORDERS = NO_KEY_MISUSE + "\n[traders.limits.order_size]\nmax_notional = { quote = 1e9 }\n"
STREAM_VENUES = VENUES
# Venues whose position push comes without its wallet: the push's realized-PnL counter says
# how far a fill that shrinks, closes or flips the position moved the wallet.
SPLIT_VENUES = ("bybit", "okx")


def _decision(world: VenueWorld, rule: str) -> dict[str, Any] | None:
    return next((d for d in world.space.trader()["decisions"] if d["rule"] == rule), None)


def _started(world: VenueWorld) -> None:
    world.space.start_watchdog()
    world.space.start_trader(equity=100_000.0)  # and it keeps saying so: a lie, soon
    wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")


@pytest.mark.parametrize("venue", STREAM_VENUES)
def test_a_fill_then_a_loss_only_the_venue_shows_kills_before_the_next_read(venue: str) -> None:
    with venue_world(
        venue=venue, link=SLOW_RECONCILE, market=True, extra_config=BIG_ORDERS
    ) as world:
        _started(world)  # the watchdog's read: flat
        world.market_buy("BTCUSDT", Decimal("1"))  # the venue's fill, on its stream only
        jumped = time.monotonic()
        world.sim.admin.price_jump("BTCUSDT", -10)  # about -6000 on 100000: a 6% daily loss
        wait_until(lambda: world.space.state() == "KILLED", within=WITHIN_S, what="KILLED")
        assert time.monotonic() - jumped < WITHIN_S
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "daily_loss"
        world.wait_killed_clean()


@pytest.mark.parametrize("venue", STREAM_VENUES)
def test_a_fill_past_the_position_limit_is_acted_on_before_the_next_read(venue: str) -> None:
    with venue_world(
        venue=venue, link=SLOW_RECONCILE, market=True, extra_config=BIG_ORDERS
    ) as world:
        _started(world)
        filled = time.monotonic()
        world.market_buy("BTCUSDT", Decimal("1"))  # about 60000: past 15% of 100000
        world.sim.admin.price_jump("BTCUSDT", 0.01)  # a price event, no loss to speak of
        decision = wait_until(
            lambda: _decision(world, "position"), within=WITHIN_S, what="position rule"
        )
        assert time.monotonic() - filled < WITHIN_S
        assert decision["reason"].startswith("BTCUSDT notional (venue)")
        assert world.space.audit("kill_started") == []


@pytest.mark.parametrize("venue", SPLIT_VENUES)
def test_a_partial_close_that_realizes_a_loss_kills_before_the_next_read(venue: str) -> None:
    # The close's loss is in no price the watchdog saw (its market stream is stalled): only the
    # position push's counter says the wallet lost it.
    with venue_world(
        venue=venue, link=SLOW_RECONCILE, market=True, extra_config=BIG_ORDERS
    ) as world:
        _started(world)  # the watchdog's read: flat
        world.market_buy("BTCUSDT", Decimal("1"))
        wait_until(lambda: _decision(world, "position"), within=WITHIN_S, what="the long marked")
        assert world.sim.admin.streams("stall", "market") >= 1
        world.sim.admin.price_jump("BTCUSDT", -10)
        closed = time.monotonic()
        world.sim.place_order(world.trader_key, "BTCUSDT", "SELL", "0.9")  # about -5400 realized
        wait_until(lambda: world.space.state() == "KILLED", within=WITHIN_S, what="KILLED")
        assert time.monotonic() - closed < WITHIN_S
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "daily_loss"
        world.wait_killed_clean()


def test_a_flip_that_turns_a_long_into_a_losing_short_kills_before_the_next_read() -> None:
    # Bybit's counter spans the symbol's history, so a flip moves the wallet like any fill.
    with venue_world(
        venue="bybit", link=SLOW_RECONCILE, market=True, extra_config=BIG_ORDERS
    ) as world:
        _started(world)
        world.market_buy("BTCUSDT", Decimal("1"))
        world.sim.place_order(world.trader_key, "BTCUSDT", "SELL", "2")  # short 1 now
        flipped = time.monotonic()
        world.sim.admin.price_jump("BTCUSDT", 10)  # about -6000 on the short, +6000 on a long
        wait_until(lambda: world.space.state() == "KILLED", within=WITHIN_S, what="KILLED")
        assert time.monotonic() - flipped < WITHIN_S
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "daily_loss"
        world.wait_killed_clean()


def test_a_flip_the_counter_cannot_follow_is_read_at_once_not_at_the_next_period() -> None:
    # OKX's realizedPnl counts the new short alone: the long's close is in no field of the
    # push, so the symbol waits for a read, which is asked for at once.
    with venue_world(
        venue="okx", link=SLOW_RECONCILE, market=True, extra_config=BIG_ORDERS
    ) as world:
        _started(world)
        world.market_buy("BTCUSDT", Decimal("1"))
        world.sim.place_order(world.trader_key, "BTCUSDT", "SELL", "2")  # short 1 now
        flipped = time.monotonic()
        world.sim.admin.price_jump("BTCUSDT", 10)
        wait_until(lambda: world.space.state() == "KILLED", within=WITHIN_S, what="KILLED")
        assert time.monotonic() - flipped < WITHIN_S
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "daily_loss"
        world.wait_killed_clean()
