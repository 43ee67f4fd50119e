"""One trader's supervisor: decisions pushed as acks, a failing store HALTS, re-arm rules."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from risk import AccountSnapshot, Heartbeat, OrderEvent, OrderEventKind, Side, TradingState
from risk.limits import parse_limits
from tests.watchdog.daemon.conftest import LIMITS
from watchdog.clock import SystemClock
from watchdog.daemon.alerts import Alerter
from watchdog.daemon.config import AlertConfig, KillConfig, ProcessTarget, TraderConfig, TraderKill
from watchdog.daemon.durable import Durable
from watchdog.daemon.errors import KillStepError
from watchdog.daemon.kill import KillAction, KillContext, KillPipeline
from watchdog.daemon.metrics import Metrics
from watchdog.daemon.store import Store
from watchdog.daemon.supervisor import Services, TraderSupervisor

CONFIG = TraderConfig(
    id="alpha",
    hmac_key=b"k" * 32,
    limits=parse_limits(LIMITS, "test"),
    process=ProcessTarget(),
    credential_file=None,
    kill_group=None,
    kill=TraderKill(),
    venue=None,
)


class Gate:
    """A kill action that verifies only once opened."""

    name = "gate"

    def __init__(self) -> None:
        self.open = False

    async def attempt(self) -> str:
        if not self.open:
            raise KillStepError("closed")
        return "open"

    async def verify(self) -> bool:
        return self.open


class Rig:
    def __init__(
        self, tmp_path: Path, group: asyncio.TaskGroup, config: TraderConfig = CONFIG
    ) -> None:
        self.store = Store(tmp_path / "w.sqlite3", busy_timeout_ms=10)
        self.pushed: list[TradingState] = []
        self.gate = Gate()
        self.group = group
        clock = SystemClock()
        durable = Durable(self.store, lambda error: None)
        alerter = Alerter(AlertConfig(), clock, "test")
        metrics = Metrics()

        def gate_factory(context: KillContext) -> KillAction | None:
            return self.gate

        killer = KillPipeline(
            clock=clock, durable=durable, alerter=alerter, metrics=metrics,
            config=KillConfig(backoff_initial_s=0.001, backoff_max_s=0.01),
            factories=[gate_factory], spawn=self.spawn,
        )  # fmt: skip
        self.services = Services(
            clock, durable, alerter, metrics, killer,
            lambda trader, state: self.pushed.append(state), lambda group, reason: None,
            self.spawn,
        )  # fmt: skip
        self.supervisor = TraderSupervisor(config, self.services, self.store.trader(config.id))

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.group.create_task(coroutine)

    def telemetry(self, session: str, changed: bool = False) -> None:
        now = time.time()
        events = [
            Heartbeat(ts=now),
            AccountSnapshot(ts=now, equity=10_000.0, realized_pnl=0.0, unrealized_pnl=0.0),
        ]
        self.supervisor.on_batch(session, events, changed)


async def test_telemetry_makes_it_active_and_the_change_is_pushed_and_audited(
    tmp_path: Path,
) -> None:
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group)
        rig.telemetry("s1", changed=True)
        assert rig.supervisor.state == TradingState.ACTIVE
        assert rig.pushed == []  # telemetry is acked by the daemon, once per batch
        rig.supervisor.trip("test", "uid 0")
        assert rig.pushed == [TradingState.KILLED]  # a change from elsewhere is pushed
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        kinds = [e.kind for e in rig.store.audit_since(0)]
        # In time order, although the latch commits before the audits queued before it.
        assert kinds[:5] == ["session_changed", "decision", "kill_started", "decision", "trip"]
        rig.gate.open = True  # let the kill finish so the task group can close
        rig.supervisor.close()


async def test_a_store_that_stops_taking_writes_halts_the_trader(tmp_path: Path) -> None:
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group)
        rig.telemetry("s1", changed=True)
        locker = sqlite3.connect(tmp_path / "w.sqlite3", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        rig.telemetry("s2", changed=True)  # the session-change audit cannot be written
        await asyncio.sleep(0)  # audits commit right after the current callbacks
        assert rig.supervisor.engine.state == TradingState.ACTIVE
        assert rig.supervisor.state == TradingState.HALTED  # what the ack says
        assert not rig.services.durable.healthy
        locker.execute("ROLLBACK")
        rig.supervisor.close()


async def test_rearm_is_refused_while_the_kill_runs_and_audited(tmp_path: Path) -> None:
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group)
        rig.telemetry("s1", changed=True)
        assert rig.supervisor.trip("test", "uid 0") == TradingState.KILLED
        refused = rig.supervisor.rearm("too soon", "ops")
        assert not refused.accepted
        assert "still running" in refused.reason
        rig.gate.open = True
        assert await rig.services.killer.wait_idle(10)
        rig.telemetry("s1")
        accepted = rig.supervisor.rearm("checked", "ops")
        assert accepted.accepted, accepted.reason
        assert rig.supervisor.state == TradingState.ACTIVE
        row = rig.store.trader("alpha")
        assert row is not None
        assert not row.latched
        kinds = [e.kind for e in rig.store.audit_since(0)]
        assert kinds.count("rearm_refused") == 1
        assert kinds.count("rearm_accepted") == 1
        rig.supervisor.close()


async def test_a_rule_entering_a_grade_is_audited_even_when_the_state_stays(
    tmp_path: Path,
) -> None:
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group)
        # Heartbeats but no equity: HALTED by daily_loss ("equity unknown").
        rig.supervisor.on_batch("s1", [Heartbeat(ts=time.time())], True)
        assert rig.supervisor.state == TradingState.HALTED
        # Then silence: the heartbeat rule's timer adds WARN under the same HALTED state.
        deadline = time.monotonic() + 10
        while not any(d.rule == "heartbeat" for d in rig.supervisor.decisions):
            assert time.monotonic() < deadline, "the heartbeat timer never fired"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)
        entries = [e for e in rig.store.audit_since(0) if e.kind == "decision"]
        rules = [{d["rule"] for d in e.detail["decisions"]} for e in entries]
        assert {"daily_loss", "heartbeat"} in rules
        assert entries[-1].detail["from"] == entries[-1].detail["to"] == "HALTED"
        rig.supervisor.close()


async def test_a_drawdown_kill_rearms_only_when_the_operator_resets_the_high_water_mark(
    tmp_path: Path,
) -> None:
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group)
        rig.telemetry("s1", changed=True)  # day starts at 10,000
        now = time.time()
        for equity in (13_000.0, 10_400.0):  # a new high, then 20 % down: past the hard 15 %
            snapshot = AccountSnapshot(
                ts=now, equity=equity, realized_pnl=0.0, unrealized_pnl=equity - 10_000.0
            )
            rig.supervisor.on_batch("s1", [Heartbeat(ts=now), snapshot], False)
        assert rig.supervisor.state == TradingState.KILLED
        rig.gate.open = True
        assert await rig.services.killer.wait_idle(10)
        refused = rig.supervisor.rearm("looked at it", "ops")
        assert not refused.accepted
        accepted = rig.supervisor.rearm(
            "accept 10,400 as the new high", "ops", reset_high_water_mark=True
        )
        assert accepted.accepted, accepted.reason
        assert accepted.state != TradingState.KILLED
        details = [e.detail for e in rig.store.audit_since(0) if e.kind == "rearm_accepted"]
        assert "reset_high_water_mark" in str(details)
        rig.supervisor.close()


async def test_a_venue_stream_connection_restarts_the_order_count_and_is_audited(
    tmp_path: Path,
) -> None:
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group)
        rig.telemetry("s1", changed=True)
        acked = OrderEvent(time.time(), OrderEventKind.ACK, "BTCUSDT", Side.BUY, 0.01, 1.0)
        rig.supervisor.on_batch("s1", [acked], False)  # acked before the stream was up
        assert rig.supervisor.engine.divergence.orders.in_flight[0]
        rig.supervisor.venue_stream_connected()
        assert not rig.supervisor.engine.divergence.orders.in_flight[0]
        await asyncio.sleep(0)
        assert "order_count_baseline" in [e.kind for e in rig.store.audit_since(0)]
        rig.supervisor.close()


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def audited(rig: Rig, kind: str) -> list[dict[str, Any]]:
    return [e.detail for e in rig.store.audit_since(0) if e.kind == kind]


async def test_a_trader_that_exits_inside_a_maintenance_window_is_not_killed(
    tmp_path: Path,
) -> None:
    process = await asyncio.create_subprocess_exec("sleep", "60")
    config = dataclasses.replace(CONFIG, process=ProcessTarget(pid=process.pid))
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group, config)
        await rig.supervisor.start()
        rig.telemetry("s1", changed=True)
        outcome = rig.supervisor.begin_maintenance(60.0, "deploy v1.2", "ops")
        assert outcome.accepted, outcome.reason
        assert outcome.state == TradingState.HALTED
        assert rig.pushed[-1] == TradingState.HALTED  # the trader is told to stand down
        row = rig.store.trader("alpha")
        assert row is not None
        assert row.maintenance_until is not None
        process.kill()
        await process.wait()
        await wait_for(lambda: bool(audited(rig, "process_exited")), "the exit to be audited")
        assert audited(rig, "process_exited")[0]["planned"] == "deploy v1.2 (by ops)"
        await asyncio.sleep(2.0)  # past every heartbeat deadline
        assert rig.supervisor.state == TradingState.HALTED
        assert not rig.supervisor.engine.latched
        assert rig.store.latest_kill("alpha") is None
        rig.supervisor.close()


async def test_an_expired_window_is_recorded_and_alerts_then_liveness_resumes(
    tmp_path: Path,
) -> None:
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group)
        rig.telemetry("s1", changed=True)
        assert rig.supervisor.begin_maintenance(0.3, "short", "ops").accepted
        await wait_for(lambda: bool(audited(rig, "maintenance_expired")), "the expiry")
        row = rig.store.trader("alpha")
        assert row is not None
        assert row.maintenance_until is None
        # Nobody came back: the heartbeat deadlines (kill at 1.5 s) now run from the expiry.
        await wait_for(lambda: rig.supervisor.state == TradingState.KILLED, "the kill")
        rig.gate.open = True
        assert await rig.services.killer.wait_idle(10)
        rig.supervisor.close()


async def test_a_window_survives_a_watchdog_restart(tmp_path: Path) -> None:
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group)
        rig.telemetry("s1", changed=True)
        assert rig.supervisor.begin_maintenance(600.0, "deploy", "ops").accepted
        rig.supervisor.close()
        rig.store.close()
        again = Rig(tmp_path, group)  # the same database, as after a restart
        await again.supervisor.start()
        assert again.supervisor.engine.maintenance is not None
        assert again.supervisor.state == TradingState.HALTED
        await asyncio.sleep(2.0)  # past every heartbeat deadline
        assert not again.supervisor.engine.latched
        ended = again.supervisor.end_maintenance("done", "ops")
        assert not ended.accepted
        assert "start the trader first" in ended.reason
        again.telemetry("s2", changed=True)
        ended = again.supervisor.end_maintenance("deployed", "ops")
        assert ended.accepted, ended.reason
        assert ended.state == TradingState.ACTIVE
        assert audited(again, "maintenance_ended")[0]["operator"] == "ops"
        row = again.store.trader("alpha")
        assert row is not None
        assert row.maintenance_until is None
        again.supervisor.close()


async def test_no_window_opens_while_the_store_fails(tmp_path: Path) -> None:
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group)
        rig.telemetry("s1", changed=True)
        locker = sqlite3.connect(tmp_path / "w.sqlite3", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        refused = rig.supervisor.begin_maintenance(60.0, "deploy", "ops")
        assert not refused.accepted
        assert "could not be recorded" in refused.reason
        assert rig.supervisor.engine.maintenance is None
        locker.execute("ROLLBACK")
        rig.supervisor.close()


async def test_an_extension_that_cannot_be_recorded_keeps_the_recorded_window(
    tmp_path: Path,
) -> None:
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group)
        rig.telemetry("s1", changed=True)
        assert rig.supervisor.begin_maintenance(600.0, "deploy", "ops").accepted
        await asyncio.sleep(0)  # let the queued audits commit
        recorded = rig.supervisor.engine.maintenance
        locker = sqlite3.connect(tmp_path / "w.sqlite3", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        refused = rig.supervisor.begin_maintenance(1200.0, "deploy: slow", "ops")
        locker.execute("ROLLBACK")
        assert not refused.accepted
        assert rig.supervisor.engine.maintenance == recorded
        assert rig.supervisor.state == TradingState.HALTED
        rig.supervisor.close()
