"""The trader as a real process against exchange_sim and the watchdog as real processes."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.sim import VENUES
from harness.trader_world import World
from harness.wait import wait_until


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The Binance world; ``EVERY_VENUE`` runs a test on Bybit's and OKX's as well."""
    w = World(tmp_path, venue=getattr(request, "param", "binance"))
    try:
        yield w
    finally:
        w.stop()


# What the trader does the same way on every venue: quote, fill, report, fail safe on a dead
# feed, end flat. The rest is venue-neutral (the watchdog link, systemd, busy polling).
EVERY_VENUE = pytest.mark.parametrize("world", VENUES, indirect=True)


def started(world: World) -> World:
    world.start_watchdog()
    world.start_trader()
    wait_until(world.quoting, what=f"quotes on both sides\n{world.t.log()}")
    return world


@EVERY_VENUE
def test_it_quotes_fills_and_reports_to_the_watchdog(world: World, tmp_path: Path) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    world.start_watchdog()
    cpu = min(os.sched_getaffinity(0))
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}
    world.start_trader(env=env, config=world.trader_config().with_(cpus=(cpu,)))
    wait_until(world.quoting, what=f"quotes on both sides\n{world.t.log()}")
    assert os.sched_getaffinity(world.t.child.pid) == {cpu}  # it pinned itself
    wait_until(
        lambda: (
            world.t.metric('trader_fills_total{side="BUY",symbol="BTCUSDT"}')
            + world.t.metric('trader_fills_total{side="SELL",symbol="BTCUSDT"}')
            > 0
        ),
        within=60,
        what="a fill",
    )
    assert world.t.metric("trader_watchdog_state") == 0
    assert world.t.metric("trader_tick_to_order_seconds_count") > 0
    assert world.t.metric("trader_order_round_trip_seconds_count") > 0
    status = world.watchdog_cli("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["traders"][0]["state"] == "ACTIVE"
    # Type=notify: READY=1 once, when trading could start, then WATCHDOG=1 while healthy (every
    # 0.5 s here: a fill can come sooner than the second one, so wait for it).
    messages: list[str] = []

    def keepalives() -> int:
        with contextlib.suppress(BlockingIOError):
            while True:
                messages.append(notify.recv(256).decode())
        return messages.count("WATCHDOG=1")

    wait_until(lambda: keepalives() >= 2, what="two WATCHDOG=1 keepalives")
    notify.close()
    assert sum(m.startswith("READY=1") for m in messages) == 1


class NotifyListener:
    """A systemd notify socket that stamps each datagram with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.keepalives: list[float] = []

    def count(self) -> int:
        with contextlib.suppress(BlockingIOError):
            while True:
                if self.sock.recv(256) == b"WATCHDOG=1":
                    self.keepalives.append(time.monotonic())
        return len(self.keepalives)

    def longest_gap(self, since: float) -> float:
        times = [since, *(t for t in self.keepalives if t > since)]
        return max(b - a for a, b in itertools.pairwise(times))


def test_a_slow_venue_does_not_starve_the_systemd_keepalive(world: World, tmp_path: Path) -> None:
    # WatchdogSec=1s: systemd wants WATCHDOG=1 at least every second. The venue then answers
    # every REST call after 4 s, twice the trader's request timeout: housekeeping stalls.
    notify = NotifyListener(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}
    world.start_watchdog()
    world.start_trader(env=env)
    wait_until(world.quoting, what=f"quotes on both sides\n{world.t.log()}")
    world.sim.admin.set_fault(rest_latency={"fixed_ms": 4000})
    slow_since = time.monotonic()
    seen = notify.count()
    wait_until(lambda: notify.count() >= seen + 10, what="ten keepalives while the venue is slow")
    wait_until(
        lambda: (world.root / "trader.log").read_text().count("reconciliation_failed") >= 2,
        what="housekeeping timing out",
    )
    notify.count()
    assert notify.longest_gap(slow_since) < 1.0, notify.keepalives
    world.sim.admin.clear_faults()
    notify.sock.close()


@pytest.mark.parametrize("death", ["close", "reset", "stall"])
@EVERY_VENUE
def test_each_feed_death_cancels_and_pauses_then_it_resumes(world: World, death: str) -> None:
    started(world)
    stale = 'trader_feed_stale_total{symbol="BTCUSDT"}'
    before = world.t.metric(stale)
    world.sim.admin.streams(death, "market")
    wait_until(lambda: world.t.metric(stale) > before, what=f"feed seen stale after {death}")
    wait_until(world.flat_at_venue, what=f"orders cancelled after {death}")
    if death == "stall":
        # Reconnecting does not help while the venue stays silent: nothing is placed.
        seq = world.sim.admin.last_seq()
        wait_until(lambda: world.t.metric("trader_feed_connects_total") >= 2, what="reconnect")
        assert world.t.metric('trader_feed_fresh{symbol="BTCUSDT"}') == 0
        assert world.new_orders(since=seq) == []
        world.sim.admin.streams("resume", "market")
    wait_until(world.quoting, what=f"quoting again after {death}")


@EVERY_VENUE
def test_killing_the_watchdog_stops_trading_fail_closed(world: World) -> None:
    started(world)
    assert world.watchdog is not None
    world.watchdog.kill()
    wait_until(world.flat_at_venue, what="orders cancelled when the watchdog went silent")
    wait_until(lambda: world.t.metric("trader_posture") == 2, what="posture flat")
    # Still flat a while later: nothing new is opened while the watchdog is silent.
    journal_seq = world.sim.admin.last_seq()
    wait_until(lambda: world.t.metric('trader_feed_fresh{symbol="BTCUSDT"}') == 1, what="feed")
    assert not world.open_orders()
    assert world.new_orders(since=journal_seq) == []


def test_trading_resumes_once_a_restarted_watchdog_acks_again(world: World) -> None:
    started(world)
    assert world.watchdog is not None
    world.watchdog.kill()
    wait_until(world.flat_at_venue, what="orders cancelled when the watchdog went silent")
    world.start_watchdog()
    wait_until(world.quoting, what="quoting again under the restarted watchdog")
    assert world.t.metric("trader_watchdog_state") == 0


def test_a_watchdog_trip_halts_trading_and_it_stays_flat(world: World) -> None:
    started(world)
    result = world.watchdog_cli("trip", "--trader", "mm1", "--reason", "integration test")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: world.t.metric("trader_watchdog_state") == 4, what="KILLED seen")
    assert world.t.metric("trader_posture") == 2
    wait_until(world.flat_at_venue, what="orders cancelled after the trip")
    # KILLED is latched in the client: the fresh feed keeps ticking and nothing new is sent.
    seq = world.sim.admin.last_seq()
    connects = world.t.metric("trader_feed_connects_total")
    wait_until(lambda: world.sim.admin.last_seq() > seq + 20, what="the venue keeps running")
    assert world.new_orders(since=seq) == []
    assert world.open_orders() == []
    assert world.t.metric("trader_feed_connects_total") == connects


@EVERY_VENUE
def test_sigterm_cancels_every_own_order_and_exits_zero(world: World) -> None:
    started(world)
    assert world.open_orders()
    code = world.t.child.stop(timeout_s=30)
    assert code == 0, world.t.log()
    assert world.open_orders() == []


def test_with_busy_polling_it_quotes_and_a_sigterm_still_ends_it_flat(world: World) -> None:
    world.start_watchdog()
    world.start_trader(config=world.trader_config().with_(busy_poll=True))
    wait_until(world.quoting, what=f"quotes on both sides\n{world.t.log()}")
    # It never sleeps: CPU time grows about as fast as the clock (a sleeping trader at this
    # tick rate uses a few percent of a CPU).
    proc = psutil.Process(world.t.child.pid)
    start = sum(proc.cpu_times()[:2])
    wait_until(lambda: sum(proc.cpu_times()[:2]) - start >= 0.5, within=3.0, what="a busy CPU")
    code = world.t.child.stop(timeout_s=30)  # the polling task is cancelled with the rest
    assert code == 0, world.t.log()
    assert world.open_orders() == []
