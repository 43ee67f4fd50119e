"""A NautilusTrader node under a real watchdog: its reports reach the watchdog, the watchdog's
halt stops its orders, and a kill latches. Twice: in Nautilus's backtest engine with its
simulated venue, and as a live `TradingNode` whose Binance futures clients trade on
exchange_sim, where the venue's own journal is the proof.

The trader is not stopped on a kill here (`stop_process = false`), so that the node can be
seen holding the latch afterwards."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from harness.configs import HeartbeatLimits, credentials_toml
from harness.sim import NEW_ORDER_ENDPOINT, SimKey, SimProcess
from harness.wait import wait_until
from harness.watchdog_world import ALPHA, WORLD, Workspace

CONFIG = WORLD.with_(traders=(replace(ALPHA, stop_process=False),)).to_toml()
TRADER_ACCOUNT = "trader1"
# A live node connects, loads its instrument and reconciles on the loop its client's
# heartbeats run on: deadlines that a busy start does not breach.
LIVE_HEARTBEAT = HeartbeatLimits(
    interval_s=0.05, warn_after_s=2.0, halt_after_s=4.0, kill_after_s=8.0
)


@pytest.fixture
def workspace() -> Iterator[Workspace]:
    with tempfile.TemporaryDirectory(prefix="wd-") as root:  # a short Unix socket path
        space = Workspace(Path(root), CONFIG)
        try:
            yield space
        finally:
            space.cleanup()


def last_line(journal: Path) -> dict[str, Any] | None:
    """The node's newest journal line, once there is one."""
    lines = journal.read_text().splitlines() if journal.exists() else []
    return json.loads(lines[-1]) if lines else None


def test_a_nautilus_node_reports_obeys_a_halt_and_latches_a_kill(workspace: Workspace) -> None:
    journal = workspace.root / "node.jsonl"
    workspace.start_watchdog()
    workspace.start_nautilus_bot(journal)

    # Reports arrive: the account (without it the watchdog holds HALTED) and the orders.
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE on the node's account")
    wait_until(
        lambda: workspace.trader()["utilisation"].get("order_rate", 0.0) > 0,
        what="the node's orders counted by the watchdog",
    )
    trading = wait_until(
        lambda: (line := last_line(journal)) and line["state"] == "ACTIVE" and line,
        what="the node trading",
    )
    assert trading["submitted"] > 0
    # Until the first ack the client's state is HALTED (fail-closed): the node denied its first
    # orders itself. Count from here.
    before = trading["denied"]

    # The watchdog halts (a maintenance window holds HALTED): the node denies new orders.
    started = workspace.cli(
        *("maintenance", "start", "--socket", str(workspace.control), "--trader", "alpha"),
        *("--operator", "alice", "--for", "5m", "--reason", "halt the node"),
    )
    assert started.returncode == 0, started.stdout + started.stderr
    halted = wait_until(
        lambda: (line := last_line(journal)) and line["denied"] > before and line,
        what="the node denying orders",
    )
    assert halted["state"] == "HALTED"
    later = wait_until(
        lambda: (line := last_line(journal)) and line["denied"] >= halted["denied"] + 5 and line,
        what="more denied orders",
    )
    assert later["submitted"] == halted["submitted"]  # nothing went out since

    # A kill: the node latches HALTED (cancels only), and stays so.
    tripped = workspace.cli(
        *("trip", "--socket", str(workspace.control), "--trader", "alpha"),
        *("--reason", "kill the node"),
    )
    assert tripped.returncode == 0, tripped.stdout + tripped.stderr
    wait_until(lambda: workspace.state() == "KILLED", what="KILLED")
    killed = wait_until(
        lambda: (line := last_line(journal)) and line["killed"] and line,
        what="the node latching the kill",
    )
    assert killed["state"] == "HALTED"
    assert killed["submitted"] == halted["submitted"]


# -- a live TradingNode on exchange_sim ------------------------------------------------------


@dataclass
class LiveWorld:
    space: Workspace
    sim: SimProcess
    credentials: Path  # the node's own venue key

    def start_node(self, journal: Path) -> None:
        self.space.start_nautilus_bot(
            journal,
            *("--live", "--base-url", self.sim.base_url, "--ws-url", self.sim.ws_url),
            *("--credentials", str(self.credentials)),
        )

    def orders_at_the_venue(self) -> list[dict[str, Any]]:
        """Every new-order request the venue received with the node's key, refused or not."""
        endpoint = NEW_ORDER_ENDPOINT["binance"]
        key = self.sim.trader_key.api_key
        return [
            e
            for e in self.sim.admin.journal(since=0)
            if e["kind"] == "request" and e["endpoint"] == endpoint and e["api_key"] == key
        ]


def write_key(path: Path, key: SimKey, *, secret: bool = True) -> str:
    path.write_text(credentials_toml(key.api_key, key.secret if secret else None))
    path.chmod(0o600)
    return path.name


@pytest.fixture
def live() -> Iterator[LiveWorld]:
    with tempfile.TemporaryDirectory(prefix="wd-") as name:  # a short Unix socket path
        root = Path(name)
        sim = SimProcess.start(root)
        try:
            link = sim.venue_link(
                TRADER_ACCOUNT,
                account_credentials=write_key(root / "watchdog-account.cred", sim.watchdog_key),
                master_credentials=write_key(root / "watchdog-master.cred", sim.master_key),
                trader_key_file=write_key(root / "trader-key-id", sim.trader_key, secret=False),
            )
            trader = replace(ALPHA, stop_process=False, heartbeat=LIVE_HEARTBEAT, venue=link)
            space = Workspace(root, WORLD.with_(traders=(trader,)).to_toml())
            credentials = root / "node-venue.cred"
            write_key(credentials, sim.trader_key)
            try:
                yield LiveWorld(space, sim, credentials)
            finally:
                space.cleanup()
        finally:
            sim.stop()


def test_a_live_node_on_the_venue_reports_its_orders_and_a_trip_stops_them_there(
    live: LiveWorld,
) -> None:
    space, journal = live.space, live.space.root / "node.jsonl"
    space.start_watchdog()
    live.start_node(journal)

    # The node's orders reach the venue, each reported first: the watchdog, which follows the
    # account at the venue itself, sees no order it was not told of (key misuse would kill).
    wait_until(lambda: space.state() == "ACTIVE", within=60, what="ACTIVE on the node's account")
    wait_until(lambda: len(live.orders_at_the_venue()) >= 4, within=60, what="orders at the venue")
    assert all(e["status"] == 200 for e in live.orders_at_the_venue())
    assert space.trader()["utilisation"].get("order_rate", 0.0) > 0
    assert space.state() == "ACTIVE"
    assert not [e for e in space.audit() if "key_misuse" in json.dumps(e)]

    # A trip: the node latches HALTED and denies its next orders itself.
    tripped = space.cli(
        *("trip", "--socket", str(space.control), "--trader", "alpha"),
        *("--reason", "kill the live node"),
    )
    assert tripped.returncode == 0, tripped.stdout + tripped.stderr
    latched = wait_until(
        lambda: (line := last_line(journal)) and line["killed"] and line,
        what="the node latching the kill",
    )
    assert latched["state"] == "HALTED"
    later = wait_until(
        lambda: (line := last_line(journal)) and line["denied"] >= latched["denied"] + 3 and line,
        within=30,
        what="the node denying its next orders",
    )
    assert later["submitted"] == latched["submitted"]  # nothing left the node since
    # At the venue: every order the node sent arrived, and nothing else (it sent none after).
    assert len(live.orders_at_the_venue()) == later["submitted"]
    wait_until(space.kill_finished, within=60, what="the kill verified at the venue")
    assert live.sim.admin.open_orders(TRADER_ACCOUNT) == []
