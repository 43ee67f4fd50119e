"""Held-back datagrams cannot keep a stopped trader alive: life counts from the send time.

A relay between a real trader and a real watchdog holds the trader's genuine datagrams back
just before the trader is stopped, and releases them over the next seconds. Counted by arrival
(as it once was), they kept the trader alive until the last one arrived plus `kill_after_s`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness.configs import HeartbeatLimits
from harness.wait import wait_until
from harness.watchdog_world import ALPHA, WORLD, Workspace
from tests.support.faultproxy import DatagramPath, DatagramRelay, Direction, Latency

KILL_AFTER_S = 4.0
# Below warn_after_s (2 s): accepted, but as life from when they were sent.
SHORT_HOLD_S = 1.5
# Above it: refused. Counted from arrival, these would buy 4.5 s more; the gap between the
# two groups' arrivals (3 s) stays below kill_after_s, so arrival counting never kills early.
LONG_HOLD_S = 4.5
MARGIN_S = 2.0  # generous: a loaded machine fires the deadline late, never early

HEARTBEAT = HeartbeatLimits(interval_s=0.05, warn_after_s=2.0, halt_after_s=3.0, kill_after_s=4.0)


def _config() -> str:
    # Telemetry reaches the watchdog through a relay in this process, so the kernel names the
    # relay as the sender: no pid file, since nothing could tie its pid to the trader.
    return WORLD.with_(traders=(replace(ALPHA, pidfile=None, heartbeat=HEARTBEAT),)).to_toml()


@pytest.fixture
def workspace() -> Iterator[Workspace]:
    with tempfile.TemporaryDirectory(prefix="wd-") as root:
        space = Workspace(Path(root), _config())
        try:
            yield space
        finally:
            space.cleanup()


async def _wait(condition: Callable[[], object], what: str) -> None:
    await asyncio.to_thread(wait_until, condition, 30.0, what)


async def test_a_stopped_trader_is_killed_by_its_last_send_not_its_last_arrival(
    workspace: Workspace,
) -> None:
    await asyncio.to_thread(workspace.start_watchdog)
    async with DatagramRelay(str(workspace.ingress)) as relay:
        address = relay.address
        assert isinstance(address, str)
        trader = await asyncio.to_thread(workspace.start_trader, socket=address)
        await _wait(lambda: workspace.state() == "ACTIVE", "ACTIVE through the relay")

        relay.set_path(Direction.UPSTREAM, DatagramPath(delay=Latency(base_s=SHORT_HOLD_S)))
        await _wait(lambda: relay.stats().upstream.delayed >= 5, "datagrams held back")
        relay.set_path(Direction.UPSTREAM, DatagramPath(delay=Latency(base_s=LONG_HOLD_S)))
        await _wait(lambda: relay.stats().upstream.delayed >= 10, "datagrams held back longer")
        os.kill(trader.pid, signal.SIGSTOP)
        stopped = time.time()  # the trader's last real send is at or before this

        await _wait(lambda: workspace.state() == "KILLED", "KILLED")
        (started,) = workspace.audit("kill_started")
        assert started["detail"]["cause"] == "heartbeat"
        after_stop = started["ts"] - stopped
        assert after_stop < KILL_AFTER_S + MARGIN_S, (
            f"killed {after_stop:.2f} s after the trader stopped sending "
            f"(kill_after_s {KILL_AFTER_S}): held-back datagrams kept it alive"
        )
