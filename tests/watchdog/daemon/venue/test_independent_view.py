"""The watchdog's own view of the venue: it catches what telemetry hides, and the venue's dead
man's switch catches the watchdog's own death."""

from __future__ import annotations

import os
import signal
from decimal import Decimal

import pytest

from harness.wait import wait_until
from tests.watchdog.daemon.venue.world import VENUES, venue_world

LOW_ORDER_RATE = """
[traders.limits.order_rate]
windows = [{seconds = 1.0, max_orders = 5}]
kill_after_s = 0.5
cooldown_s = 5.0
"""


@pytest.mark.parametrize("venue", VENUES)
def test_a_client_flooding_orders_without_telemetry_is_killed_by_the_venue_view(
    venue: str,
) -> None:
    with venue_world(venue=venue, extra_config=LOW_ORDER_RATE) as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)  # heartbeats only: it says nothing of orders
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        placed = world.place_until_refused()  # ends when the watchdog has revoked the key
        world.wait_killed_clean()
        assert placed > 5
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "order_rate"


@pytest.mark.parametrize("venue", VENUES)
def test_a_loss_only_the_venue_shows_kills_while_the_trader_reports_all_is_well(
    venue: str,
) -> None:
    with venue_world(venue=venue) as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)  # and it keeps saying so: a lie, soon
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        world.market_buy("BTCUSDT", Decimal("1"))
        world.place_resting(2)
        world.sim.admin.price_jump("BTCUSDT", -10)  # about -6000 on 100000: a 6% daily loss
        world.wait_killed_clean()
        kills = world.space.audit("kill_started")
        assert kills[0]["detail"]["cause"] == "daily_loss"


@pytest.mark.parametrize("venue", VENUES)
def test_when_the_watchdog_dies_the_venues_switch_cancels_the_orders(venue: str) -> None:
    # Binance: the countdown runs out; Bybit: the DCP window passes after the watchdog's
    # private stream (subscribed to dcp) is gone.
    with venue_world(venue=venue, countdown_ms=3_000) as world:
        watchdog = world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        assert world.place_resting(4) == 4
        os.kill(watchdog.pid, signal.SIGKILL)
        watchdog.wait(timeout=30)
        wait_until(lambda: world.open_orders() == [], within=30, what="venue countdown fired")
        # Nobody revoked anything: the venue did this on its own.
        assert not world.key_deleted()


def test_a_master_key_that_does_not_work_holds_the_trader_halted() -> None:
    with venue_world(master_secret="not-the-secret") as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)
        wait_until(lambda: world.space.state() == "HALTED", what="HALTED (fail closed)")
        # The trader's process is held unknown a moment too (until its pid file is written).
        (hold,) = [h for h in world.space.audit("hold") if h["detail"]["key"] != "process_unknown"]
        assert "master key" in hold["detail"]["reason"]


def test_each_user_stream_connection_restarts_the_order_count_comparison() -> None:
    # Orders acknowledged while the watchdog's stream is away are missing from the venue's
    # count; without a fresh comparison they would read as a divergence for the rest of the day.
    with venue_world() as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        wait_until(lambda: len(world.space.audit("order_count_baseline")) == 1, what="baseline")
        assert world.sim.admin.streams("close", "user") >= 1
        wait_until(
            lambda: len(world.space.audit("order_count_baseline")) == 2,
            within=30,
            what="a new baseline once the watchdog's stream reconnected",
        )
        assert world.space.state() == "ACTIVE"
