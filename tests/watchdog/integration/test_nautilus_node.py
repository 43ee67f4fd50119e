"""A NautilusTrader node (Nautilus's own engine and simulated venue) under a real watchdog:
its reports reach the watchdog, the watchdog's halt stops its orders, and a kill latches.

The trader is not stopped on a kill here (`stop_process = false`), so that the node can be
seen holding the latch afterwards."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.wait import wait_until
from harness.watchdog_world import ALPHA, WORLD, Workspace

CONFIG = WORLD.with_(traders=(replace(ALPHA, stop_process=False),)).to_toml()


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
