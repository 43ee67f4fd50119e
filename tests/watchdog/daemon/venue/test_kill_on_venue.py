"""Real processes: exchange_sim, the watchdog, a trader. Every kill ends at the venue with zero
open orders and the trader's key refused, whatever the trigger and whatever the venue answers.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

from harness.wait import wait_until
from tests.watchdog.daemon.venue.world import VENUES, venue_world


def test_trader_sigkill_cancels_everything_and_revokes_the_key_at_the_venue() -> None:
    with venue_world() as world:
        world.sigkill_ends_clean(world.arm_with_orders())
        # The watchdog's own key on the same account still works after the trader's is gone.
        assert world.sim.admin.key_status(world.sim.key("watchdog").api_key)["status"] == "active"


def test_a_telemetry_breach_ends_the_same_way() -> None:
    with venue_world() as world:
        pid = world.arm_with_orders()
        os.kill(pid, signal.SIGUSR1)  # the bot now reports a 10% loss
        world.wait_killed_clean()
        (started,) = world.space.audit("kill_started")
        assert started["detail"]["cause"] == "daily_loss"


@pytest.mark.parametrize("venue", VENUES)
def test_a_venue_answering_5xx_429_and_garbage_for_a_while_still_ends_clean(venue: str) -> None:
    with venue_world(venue=venue) as world:
        pid = world.arm_with_orders()
        since = world.sim.admin.last_seq()
        # An outage, a rate limit, a clock out of the window, then answers the adapter cannot
        # read (an unknown code, a proxy's HTML page, an empty body): each a typed error that
        # the kill retries and audits, never a crash nor a success.
        for kind, count in (("5xx", 8), ("429", 8), ("-1021", 3), ("unknown_code", 2),
                            ("html", 2), ("empty", 2)):  # fmt: skip
            world.sim.admin.set_fault(fail_next={"count": count, "kind": kind})
        os.kill(pid, signal.SIGKILL)
        world.wait_killed_clean()
        faulted = [e for e in world.sim.admin.journal(since=since) if e.get("status") != 200]
        assert faulted  # the faults were served
        attempts = [e["detail"] for e in world.space.audit("kill_step_attempt")]
        failed = [a for a in attempts if a["result"] == "failed" and a["step"].startswith("venue")]
        assert failed  # each failure audited with the venue's answer, then retried


def test_orders_placed_during_the_kill_are_swept() -> None:
    with venue_world() as world:
        pid = world.arm_with_orders(orders=2)
        placed: list[int] = []
        # A second client keeps placing orders with the trader's key until the venue refuses it.
        flood = threading.Thread(target=lambda: placed.append(world.place_until_refused()))
        flood.start()
        wait_until(lambda: len(world.open_orders()) >= 6, what="orders in flight")
        os.kill(pid, signal.SIGKILL)
        flood.join(timeout=60)
        assert not flood.is_alive()
        world.wait_killed_clean()
        assert placed
        assert placed[0] > 4
