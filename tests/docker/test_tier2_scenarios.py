"""Tier 2: exchange_sim, the watchdog and the trader in three containers, broken the way hosts
and networks break: a frozen trader (``docker pause``), a dead one (``docker kill``), a
partition between trader and watchdog, and one between trader and venue.

End state is read from the venue's side through its published ports (open orders on every
symbol, the trader's key), and from the watchdog's SQLite copied out of its container (latch,
kill steps, audit). See docs/chaos.md, "Tier 2 scenarios", for what each one proves.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.sim import TRADER_KEY
from harness.wait import wait_until
from tests.docker.stack import (
    DEADLINE_S,
    KILL_AFTER_S,
    STALE_AFTER_S,
    Stack,
    WatchdogRecord,
    stack,
)

pytestmark = pytest.mark.docker

KEY_REFUSED = -2015
KILL_STEPS = {"venue_cancel_all", "venue_sweep", "venue_revoke_key"}
SHORT_FREEZE_S = 1.0  # well under the 3 s kill deadline, over the 0.6 s WARN


@pytest.fixture
def world(suite_image: str, docker_engine: Any, tmp_path: Path) -> Iterator[Stack]:
    if os.geteuid() != 0:
        pytest.skip("tier 2 scenarios hand key files to the container user: needs root (chown)")
    with stack(suite_image, docker_engine, tmp_path) as w:
        wait_until(w.quoting, DEADLINE_S, "the trader quoting on both sides")
        wait_until(lambda: w.watchdog_state() == "ACTIVE", DEADLINE_S, "the watchdog ACTIVE")
        yield w


def assert_killed_on_the_venue(w: Stack, cause: str) -> WatchdogRecord:
    """The promise: no open order on any symbol, the key refused, the latch durable."""
    wait_until(w.kill_finished, DEADLINE_S, "the watchdog's kill verified")
    assert w.open_orders() == [], "orders left open at the venue"
    assert w.trader_key_deleted()
    assert w.trader_key_refused() == KEY_REFUSED
    record = w.watchdog_db()
    assert record.latched
    assert record.latch_reason.startswith(cause), record.latch_reason
    assert len(record.kills) == 1
    assert record.kills[0]["finished_ts"] is not None
    assert record.steps == dict.fromkeys(KILL_STEPS, "verified")
    for kind in ("kill_started", "kill_step_verified", "kill_finished"):
        assert kind in record.audit_kinds, kind
    return record


def assert_nothing_killed(w: Stack) -> None:
    assert w.trader_key_refused() is None, "the trader's key was refused"
    assert not w.trader_key_deleted()
    record = w.watchdog_db()
    assert not record.latched
    assert record.kills == ()
    assert "kill_started" not in record.audit_kinds


def test_a_healthy_stack_trades_and_a_freeze_shorter_than_the_deadline_kills_nothing(
    world: Stack,
) -> None:
    status = world.watchdog_status()
    assert status["kill"] is None
    assert status["heartbeat_age_s"] < KILL_AFTER_S
    world.pause("trader")
    time.sleep(SHORT_FREEZE_S)  # the fault's duration, not a wait for a condition
    world.unpause("trader")
    wait_until(lambda: world.watchdog_state() == "ACTIVE", DEADLINE_S, "the watchdog ACTIVE again")
    wait_until(world.quoting, DEADLINE_S, "the trader quoting again")
    assert_nothing_killed(world)
    kinds = {e["kind"] for e in world.audit()}
    assert "kill_started" not in kinds


def test_a_frozen_trader_is_killed_and_wakes_up_unable_to_trade(world: Stack) -> None:
    world.pause("trader")
    assert_killed_on_the_venue(world, "heartbeat")

    seq = world.venue.last_seq()
    world.unpause("trader")
    # The zombie wakes up: it hears KILLED and its key is gone. Whatever it still sends with
    # its key, the venue refuses; nothing of it rests on the book.
    wait_until(lambda: world.trader_requests(seq), DEADLINE_S, "the woken trader calling the venue")
    wait_until(
        lambda: world.watchdog_status()["heartbeat_age_s"] < 1.0, DEADLINE_S, "its heartbeats back"
    )
    assert world.watchdog_state() == "KILLED"  # latched: heartbeats do not clear it
    assert world.open_orders() == []
    codes = {e["code"] for e in world.trader_requests(seq)}
    assert codes == {KEY_REFUSED}, codes


def test_a_dead_trader_is_killed_on_the_venue(world: Stack) -> None:
    world.kill("trader")
    assert not world.nodes["trader"].running()
    assert_killed_on_the_venue(world, "heartbeat")


def test_cut_from_its_watchdog_the_trader_cancels_its_own_orders_and_is_killed(
    world: Stack,
) -> None:
    seq = world.venue.last_seq()  # first: a requote after it is in the journal below
    resting = {o["orderId"] for o in world.open_orders()}
    world.disconnect("trader", "telemetry")
    assert_killed_on_the_venue(world, "heartbeat")

    # Fail-closed first: with no ack for its silence timeout the trader cancelled every order
    # it had at the venue with its own key, before the watchdog's deadline deleted that key.
    journal = world.venue.journal(since=seq)
    deleted_at = next(e["seq"] for e in journal if e["endpoint"] == "key_deleted")
    by_trader = [e for e in journal if e["api_key"] == TRADER_KEY.api_key and e["status"] == 200]
    placed = {_order_id(e) for e in by_trader if e["endpoint"] == "POST /fapi/v1/order"}
    cancels = [e for e in by_trader if e["endpoint"] == "DELETE /fapi/v1/order"]
    assert cancels, "the trader never cancelled its own orders"
    assert all(e["seq"] < deleted_at for e in cancels)
    left = (resting | placed) - {_order_id(e) for e in cancels}
    assert not left, f"orders {left} were left for the watchdog to cancel"


def _order_id(entry: dict[str, Any]) -> int:
    """From the journal's order detail, ``"BTCUSDT orderId=7 NEW"``."""
    return int(entry["detail"].split("orderId=")[1].split()[0])


def test_cut_from_the_venue_the_trader_is_halted_not_killed_and_recovers(world: Stack) -> None:
    world.disconnect("trader", "venue_t")

    # The trader's feed goes stale; it reports so over the intact telemetry link, and the
    # watchdog halts on the age it measures. Heartbeats keep flowing: no kill is due.
    def stale_for(seconds: float) -> bool:
        status = world.watchdog_status()
        stale = [d for d in status["decisions"] if d["rule"] == "stale_data"]
        return bool(stale and stale[0]["value"] > seconds)

    wait_until(lambda: stale_for(STALE_AFTER_S), DEADLINE_S, "the watchdog halted on stale data")
    # Whatever was in flight at the cut has landed by now: this is what the trader left.
    seq = world.venue.last_seq()
    resting = {o["orderId"] for o in world.open_orders()}
    wait_until(
        lambda: stale_for(STALE_AFTER_S + KILL_AFTER_S), DEADLINE_S, "stale past the kill deadline"
    )
    assert world.watchdog_state() == "HALTED"
    # The documented gap: the trader cannot reach the venue to cancel, and HALTED stops new
    # orders without cancelling resting ones, so its quotes stay on the book until the link
    # heals (or a kill is due, or the watchdog dies and the venue's countdown fires).
    assert resting, "the trader's quotes should still rest at the venue"
    assert {o["orderId"] for o in world.open_orders()} == resting
    during = {e["endpoint"] for e in world.venue.journal(since=seq) if e["kind"] == "request"}
    assert "POST /fapi/v1/order" not in during  # the trader is cut off: nothing new arrives
    assert "DELETE /fapi/v1/order" not in during  # ... and nobody cancels its quotes
    assert "DELETE /fapi/v1/allOpenOrders" not in during  # HALTED is not a kill
    assert_nothing_killed(world)

    world.connect("trader", "venue_t")
    wait_until(lambda: world.watchdog_state() == "ACTIVE", DEADLINE_S, "the watchdog ACTIVE again")
    wait_until(world.quoting, DEADLINE_S, "the trader quoting again")
    assert_nothing_killed(world)
