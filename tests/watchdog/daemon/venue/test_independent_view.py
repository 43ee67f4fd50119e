"""The watchdog's own view of the venue: it catches what telemetry hides, and the venue's dead
man's switch catches the watchdog's own death."""

from __future__ import annotations

import os
import signal
from decimal import Decimal

import pytest

from harness.wait import wait_until
from tests.watchdog.daemon.venue.world import NO_KEY_MISUSE, VENUES, venue_world

# A flood rests order after order in one symbol: out of the way of the rule under test.
MANY_OPEN_ORDERS = """
[traders.limits.open_orders]
max_per_symbol = 1000000
"""
LOW_ORDER_RATE = """
[traders.limits.order_rate]
windows = [{seconds = 1.0, max_orders = 5}]
kill_after_s = 0.5
cooldown_s = 5.0
"""


@pytest.mark.parametrize("venue", VENUES)
def test_orders_the_trader_never_reported_are_key_misuse_and_killed(venue: str) -> None:
    with venue_world(venue=venue, extra_config="") as world:  # the profile's key misuse: on
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)  # heartbeats only: it reports no orders
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        assert world.place_resting(1) == 1  # a rogue client with the trader's key: one is enough
        world.wait_killed_clean()
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "key_misuse"
        assert "acknowledged 1 order(s) the trader never reported" in started["detail"]["reason"]


# A window no test outlasts: only the trader's answer to the watchdog's question can judge.
LONG_REORDER_WINDOW = """
[traders.limits.key_misuse]
enabled = true
reorder_s = 120.0
ask_trader = true
"""


@pytest.mark.parametrize("venue", VENUES)
def test_the_traders_answer_settles_an_unreported_order_without_waiting_for_the_window(
    venue: str,
) -> None:
    with venue_world(venue=venue, extra_config=LONG_REORDER_WINDOW) as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)  # its client answers the watchdog's question
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        assert world.place_resting(1) == 1  # a rogue client with the trader's key
        world.wait_killed_clean()  # within 30 s: a window of 120 s could not have judged it
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "key_misuse"
        assert "settled by the trader's answer" in started["detail"]["reason"]


@pytest.mark.parametrize("venue", VENUES)
def test_a_client_flooding_orders_without_telemetry_is_killed_by_the_venue_view(
    venue: str,
) -> None:
    extra = LOW_ORDER_RATE + NO_KEY_MISUSE + MANY_OPEN_ORDERS
    with venue_world(venue=venue, extra_config=extra) as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)  # heartbeats only: it says nothing of orders
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        placed = world.place_until_refused()  # ends when the watchdog has revoked the key
        world.wait_killed_clean()
        assert placed > 5
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "order_rate"


def test_a_flood_resting_in_one_symbol_is_killed_by_the_venues_own_book() -> None:
    # Key misuse off: the venue's open-order book alone, killed at 20 (far from the venue's own
    # cap of 200 per symbol, which would refuse the flood before the watchdog does).
    few_open_orders = "\n[traders.limits.open_orders]\nmax_per_symbol = 10\n"
    with venue_world(extra_config=NO_KEY_MISUSE + few_open_orders) as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        world.place_until_refused()
        world.wait_killed_clean()
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "open_orders"
        assert "(venue's book)" in started["detail"]["reason"]


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
    # private stream (subscribed to dcp) is gone; OKX: cancel-all-after runs out (10 s at least).
    countdown_ms = 10_000 if venue == "okx" else 3_000
    with venue_world(venue=venue, countdown_ms=countdown_ms) as world:
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
