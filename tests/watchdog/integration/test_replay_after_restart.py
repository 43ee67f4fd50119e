"""Replays after a watchdog restart (kill -9) are refused: the guard's memory is durable.

Real watchdog and trader processes. The heartbeat limits are loose (telemetry is accepted
until 20 s old) so that the captured datagrams are still young enough when replayed: what
refuses them must be the persisted guard, not the age bound.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from killswitch_client.protocol import (
    SEQ_BLOCK,
    AccountSnapshot,
    Heartbeat,
    encode_event,
    encode_telemetry,
    new_session_id,
    peek_header,
)

from harness.configs import HeartbeatLimits
from harness.wait import wait_until
from harness.watchdog_world import ALPHA, WORLD, Workspace, metric
from tests.support.faultproxy import DatagramRelay, Direction
from watchdog.daemon.store import Store

MAX_SEND_AGE_S = 20.0  # warn_after_s below
HEARTBEAT = HeartbeatLimits(
    interval_s=0.05, warn_after_s=20.0, halt_after_s=25.0, kill_after_s=30.0
)


@pytest.fixture
def workspace() -> Iterator[Workspace]:
    with tempfile.TemporaryDirectory(prefix="wd-") as root:
        config = WORLD.with_(traders=(replace(ALPHA, heartbeat=HEARTBEAT),)).to_toml()
        space = Workspace(Path(root), config)
        try:
            yield space
        finally:
            space.cleanup()


def _datagrams(workspace: Workspace) -> dict[str, float]:
    port = workspace.request("GET", "/status")["metrics_port"]
    counts = metric(port, "killswitch_datagrams_total")
    return {k.split('"')[1]: v for k, v in counts.items()}


def _kill_9_and_restart(workspace: Workspace, watchdog: subprocess.Popen[bytes]) -> None:
    os.kill(watchdog.pid, signal.SIGKILL)
    watchdog.wait(timeout=10)
    workspace.start_watchdog()


def _replay(workspace: Workspace, datagrams: list[bytes]) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("")  # an address for acks, as a real sender has
        sock.connect(str(workspace.ingress))
        for data in datagrams:
            sock.send(data)


def _since_restart(workspace: Workspace, kind: str, restarted: float) -> list[dict[str, object]]:
    return [e for e in workspace.audit(kind) if float(e["ts"]) >= restarted]


def test_a_datagram_of_an_older_session_cannot_take_over_after_a_kill_9(
    workspace: Workspace,
) -> None:
    watchdog = workspace.start_watchdog()
    key = bytes.fromhex(workspace.root.joinpath("alpha.key").read_text())
    # Captured from the trader's previous run: genuine key, a session that started earlier.
    now = time.time()
    events = [
        encode_event(Heartbeat(ts=now)),
        encode_event(AccountSnapshot(ts=now, equity=1.0, realized_pnl=0.0, unrealized_pnl=0.0)),
    ]
    previous = encode_telemetry(
        key, "alpha", new_session_id(time.time_ns(), secrets.token_bytes(8)), 1, now, events
    )
    trader = workspace.start_trader()
    wait_until(lambda: workspace.trader()["heartbeat_age_s"] is not None, what="telemetry")
    session = workspace.trader()["session"]
    assert session is not None

    restarted = time.time()
    _kill_9_and_restart(workspace, watchdog)
    assert workspace.trader()["session"] == session  # remembered, before any datagram
    assert time.time() - peek_header(previous).sent_ts < MAX_SEND_AGE_S  # young enough
    _replay(workspace, [previous])
    wait_until(lambda: _datagrams(workspace).get("stale_session") == 1, what="refused as stale")
    # The live trader is heard again (it skips a block of sequences after the ack silence).
    wait_until(lambda: _datagrams(workspace).get("accepted", 0) >= 3, what="trader heard again")
    assert workspace.trader()["session"] == session
    assert _since_restart(workspace, "session_changed", restarted) == []
    assert trader.poll() is None


async def test_captured_datagrams_of_the_live_session_are_all_refused_after_a_kill_9(
    workspace: Workspace,
) -> None:
    watchdog = await asyncio.to_thread(workspace.start_watchdog)
    captured: list[bytes] = []

    def capture(direction: Direction, data: bytes) -> None:
        if direction is Direction.UPSTREAM:
            captured.append(data)

    async with DatagramRelay(str(workspace.ingress), tap=capture) as relay:
        address = relay.address
        assert isinstance(address, str)
        trader = await asyncio.to_thread(workspace.start_trader, socket=address, orders=20)
        await _wait(lambda: len(captured) >= 40, "datagrams captured")
        session = (await asyncio.to_thread(workspace.trader))["session"]
        # The trader pauses, so that only the replay reaches the restarted watchdog.
        os.kill(trader.pid, signal.SIGSTOP)
        replay = list(captured)
        restarted = time.time()
        await asyncio.to_thread(_kill_9_and_restart, workspace, watchdog)
        oldest = min(peek_header(data).sent_ts for data in replay)
        assert time.time() - oldest < MAX_SEND_AGE_S  # young enough to be judged by the guard
        await asyncio.to_thread(_replay, workspace, replay)

        def refused() -> float:
            counts = _datagrams(workspace)
            return counts.get("replay", 0) + counts.get("too_old", 0)

        await _wait(lambda: refused() == len(replay), "every replayed datagram refused")
        counts = await asyncio.to_thread(_datagrams, workspace)
        assert counts.get("accepted", 0) == 0  # no order event counted twice
        assert counts.get("clock_skew", 0) == 0

        os.kill(trader.pid, signal.SIGCONT)
        await _wait(lambda: _datagrams(workspace).get("accepted", 0) >= 3, "trader heard again")
        assert (await asyncio.to_thread(workspace.trader))["session"] == session
        assert (
            await asyncio.to_thread(_since_restart, workspace, "session_changed", restarted) == []
        )


async def _wait(condition: Callable[[], object], what: str) -> None:
    await asyncio.to_thread(wait_until, condition, 30.0, what)


def test_a_clean_stop_records_the_exact_mark_so_nothing_is_burned(workspace: Workspace) -> None:
    watchdog = workspace.start_watchdog()
    trader = workspace.start_trader()
    wait_until(lambda: _datagrams(workspace).get("accepted", 0) >= 5, what="telemetry")
    os.kill(trader.pid, signal.SIGSTOP)  # its sequence stops where it is
    accepted = _datagrams(workspace)["accepted"]
    watchdog.send_signal(signal.SIGTERM)
    assert watchdog.wait(timeout=20) == 0
    store = Store(workspace.root / "state" / "watchdog.sqlite3")
    try:
        mark = store.session_marks()["alpha"]
    finally:
        store.close()
    # Sequences start at 1 and the trader skipped none: the highest accepted is at least the
    # count read before the stop, and far below the block reserved ahead (1 + SEQ_BLOCK).
    assert accepted <= mark.seq_mark < SEQ_BLOCK
