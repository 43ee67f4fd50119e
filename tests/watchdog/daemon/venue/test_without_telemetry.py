"""Real processes: exchange_sim (binance), the watchdog, and a bot that sends no telemetry
(`telemetry = "none"`). Silence is no alarm; a loss only the venue shows kills, and so does
the bot's death; every kill ends at the venue with no open orders and the bot's key refused.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from decimal import Decimal

from killswitch_client.protocol import Heartbeat, encode_event, encode_telemetry, new_session_id

from harness.wait import wait_until
from harness.watchdog_world import ALPHA, SILENT_CONFIG, metric
from tests.watchdog.daemon.venue.world import VenueWorld, venue_world

assert ALPHA.heartbeat is not None
# Longer than the heartbeat rule would let a telemetry-sending trader stay silent.
QUIET_S = 2 * ALPHA.heartbeat.kill_after_s + 1.0


def _armed_with_orders(world: VenueWorld) -> int:
    world.space.start_watchdog()
    bot = world.space.start_silent_bot()  # after the watchdog: it is looked for again
    wait_until(lambda: world.space.state() == "ACTIVE", within=30, what="ACTIVE")
    identity = world.space.trader()["identity"]
    assert (identity["known"], identity["pid"], identity["via"]) == (True, bot.pid, "cmdline")
    assert world.place_resting(4) == 4
    return bot.pid


def _states_over(world: VenueWorld, seconds: float) -> set[str]:
    """Every state the status shows while `seconds` pass."""
    seen: set[str] = set()
    end = time.monotonic() + seconds

    def passed() -> bool:
        seen.add(world.space.state())
        return time.monotonic() >= end

    wait_until(passed, within=seconds + 30, what=f"{seconds:g} s of status")
    return seen


def _send_a_datagram(world: VenueWorld) -> None:
    session = new_session_id(time.time_ns(), os.urandom(8))
    event = encode_event(Heartbeat(ts=time.time()))
    data = encode_telemetry(b"k" * 32, "alpha", session, 1, time.time(), [event])
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.sendto(data, str(world.space.ingress))


def test_a_silent_bot_stays_active_and_a_loss_only_the_venue_shows_kills_it() -> None:
    with venue_world(config=SILENT_CONFIG) as world:
        _armed_with_orders(world)
        _send_a_datagram(world)
        assert _states_over(world, QUIET_S) == {"ACTIVE"}
        assert not world.space.audit("decision")[-1]["detail"]["decisions"]
        status = world.space.cli("status", "--socket", str(world.space.control))
        assert "alpha: ACTIVE, no telemetry (process and venue only)" in status.stdout
        port = world.space.request("GET", "/status")["metrics_port"]
        counts = metric(port, "killswitch_datagrams_total")
        assert counts.get('killswitch_datagrams_total{result="telemetry_none"}') == 1
        assert counts.get('killswitch_datagrams_total{result="accepted"}', 0) == 0

        mid = Decimal(world.sim.admin.quotes()["BTCUSDT"]["mid"])
        world.market_buy("BTCUSDT", (Decimal(60_000) / mid).quantize(Decimal("0.001")))
        world.sim.admin.price_jump("BTCUSDT", -10)  # 6% of the account's equity lost
        world.wait_killed_clean()
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "daily_loss"
        assert world.audit_steps()["stop_process"] == "verified"


def test_the_silent_bots_death_kills_it_and_after_a_rearm_only_a_new_bot_is_watched() -> None:
    with venue_world(config=SILENT_CONFIG) as world:
        pid = _armed_with_orders(world)
        os.kill(pid, signal.SIGKILL)
        world.wait_killed_clean()
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "process_exit"

        # Re-armed with no bot running: its exited process is not the trader any more.
        rearm = world.space.rearm("bot restarted by hand")
        assert rearm.returncode == 0, rearm.stderr
        wait_until(lambda: "process_unknown" in world.space.trader()["holds"], what="unknown")
        assert world.space.state() == "HALTED"
        bot = world.space.start_silent_bot()
        wait_until(lambda: world.space.state() == "ACTIVE", within=30, what="ACTIVE again")
        assert world.space.trader()["identity"]["pid"] == bot.pid
