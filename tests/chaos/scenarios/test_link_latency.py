"""Latency on the trader's order entry (TCP proxy on its REST link) and on its watchdog link
(datagram relay): short spikes are tolerated without a kill; sustained ones escalate as
configured (order entry: timeouts count as rejects and halt; watchdog link: the trader fails
closed at its ack timeout, the watchdog kills at its heartbeat deadline)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.wait import wait_until
from tests.support.stack import Stack, StackSpec, is_cancel_all, record_timings

pytestmark = pytest.mark.chaos


def test_order_entry_spikes_are_tolerated_and_sustained_latency_halts(tmp_path: Path) -> None:
    # Scripted: the real trader treats a timed-out new order as of unknown outcome (cancel by
    # client id, then query), not as a reject, so it does not reach this halt; its scenario is
    # not yet written.
    with Stack.start(tmp_path, StackSpec(proxies=("rest",), trader="scripted")) as stack:
        stack.wait_trading()
        rest = stack.proxy("rest")
        pauses = len(stack.bot_status()["pauses"])
        rest.set_faults(upstream={"spike_s": 0.3, "spike_probability": 0.3})
        wait_until(lambda: rest.stats()["stats"]["upstream"]["chunks_delayed"] >= 5, what="spikes")
        rest.heal()
        assert len(stack.bot_status()["pauses"]) == pauses
        stack.assert_no_kill()
        # Sustained: every request outlives the trader's 1 s timeout.
        start = time.monotonic()
        rest.set_faults(upstream={"base_s": 1.5})
        # Make it place orders: a feed stall cancels and pauses it, the return resumes it.
        stack.venue.admin.streams("stall", "market")
        wait_until(lambda: len(stack.bot_status()["pauses"]) > pauses, within=60, what="paused")
        stack.venue.admin.streams("resume", "market")
        wait_until(
            lambda: stack.bot_status()["refusals"].get("VenueTimeout", 0) >= 1,
            within=60,
            what="order entry timing out",
        )
        wait_until(lambda: stack.state() == "HALTED", within=30, what="HALTED")
        halted = time.monotonic()
        rest.heal()
        wait_until(lambda: not stack.bot_status()["trading"], what="trader paused")
        wait_until(lambda: stack.open_orders() == [], within=30, what="the trader cancelled")
        stack.assert_no_kill()
        record_timings(tmp_path, "order_entry_latency", sustained_to_halted_s=halted - start)


def test_watchdog_link_spikes_are_tolerated(tmp_path: Path) -> None:
    with Stack.start(tmp_path, StackSpec(proxies=("telemetry",))) as stack:
        stack.wait_trading()
        relay = stack.proxy("telemetry")
        pauses = len(stack.bot_status()["pauses"])
        spike = {"delay": {"spike_s": 0.2, "spike_probability": 0.05}}
        relay.set_faults(upstream=spike, downstream=spike)
        wait_until(lambda: relay.stats()["stats"]["upstream"]["delayed"] >= 10, what="spikes")
        relay.heal()
        assert len(stack.bot_status()["pauses"]) == pauses
        stack.assert_no_kill()


def test_sustained_watchdog_link_latency_fails_closed_then_kills(tmp_path: Path) -> None:
    with Stack.start(tmp_path, StackSpec(proxies=("telemetry",))) as stack:
        stack.wait_trading()
        since = stack.venue.admin.last_seq()
        relay = stack.proxy("telemetry")
        start = time.monotonic()
        relay.set_faults(upstream={"delay": {"base_s": 3.0}})
        stack.wait_killed_clean()
        bot = stack.bot_status()
        paused = bot["pauses"][-1]
        watchdog_key = stack.venue.watchdog_key.api_key
        cancel = stack.first_journal(
            lambda e: is_cancel_all(e) and e.get("api_key") == watchdog_key, since
        )
        assert cancel is not None
        # The trader stopped on its own (no ack for 0.5 s) before the watchdog's kill landed.
        assert start < paused < cancel["mono"]
        (started,) = stack.audit("kill_started")
        assert started["detail"]["cause"] == "heartbeat"
        record_timings(
            tmp_path,
            "watchdog_link_latency",
            to_trader_fail_closed_s=paused - start,
            to_watchdog_cancel_s=cancel["mono"] - start,
        )
