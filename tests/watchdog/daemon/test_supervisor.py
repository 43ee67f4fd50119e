"""One trader's supervisor: decisions pushed as acks, a failing store HALTS, re-arm rules."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from killswitch_client.protocol import TraderState
from killswitch_client.states import TradingState as WireState

from risk import (
    AccountSnapshot,
    EventSource,
    Heartbeat,
    OrderEvent,
    OrderEventKind,
    Side,
    TradingState,
)
from risk.limits import parse_limits
from tests.watchdog.daemon.conftest import LIMITS
from watchdog.clock import Clock, FakeClock, SystemClock
from watchdog.daemon.alerts import Alerter
from watchdog.daemon.config import AlertConfig, KillConfig, ProcessTarget, TraderConfig, TraderKill
from watchdog.daemon.durable import Durable
from watchdog.daemon.errors import KillStepError
from watchdog.daemon.kill import KillAction, KillContext, KillPipeline
from watchdog.daemon.metrics import Metrics
from watchdog.daemon.store import Store
from watchdog.daemon.supervisor import Services, TraderSupervisor
from watchdog.daemon.venue.kinds import connect_binance
from watchdog.daemon.venue.settings import VenueSettings
from watchdog.venues import Credentials, VenueEndpoint
from watchdog.venues.base import SubAccountRef

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


class RecordingAlerter(Alerter):
    """The real alerter (it logs), recording each alert's kind and detail as well."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(AlertConfig(), clock, "test")
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def notify(self, kind: str, trader: str, **detail: Any) -> None:
        self.sent.append((kind, detail))
        super().notify(kind, trader, **detail)

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [detail for sent, detail in self.sent if sent == kind]


class Rig:
    def __init__(
        self,
        tmp_path: Path,
        group: asyncio.TaskGroup,
        config: TraderConfig = CONFIG,
        clock: Clock | None = None,
        control_gid: int | None = None,
    ) -> None:
        self.store = Store(tmp_path / "w.sqlite3", busy_timeout_ms=10)
        self.pushed: list[TradingState] = []
        self.asked: list[int] = []  # key-misuse questions the supervisor asked the trader
        self.gate = Gate()
        self.group = group
        clock = clock or SystemClock()
        durable = Durable(self.store, lambda error: None)
        self.alerts = self.alerter = alerter = RecordingAlerter(clock)
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
            lambda trader, state: self.pushed.append(state),
            lambda trader, question: self.asked.append(question), lambda group, reason: None,
            self.spawn, control_gid,
        )  # fmt: skip
        self.supervisor = TraderSupervisor(config, self.services, self.store.trader(config.id))

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.group.create_task(coroutine)

    def telemetry(self, session: str, changed: bool = False) -> None:
        now = self.services.clock.wall()
        events = [
            Heartbeat(ts=now),
            AccountSnapshot(ts=now, equity=10_000.0, realized_pnl=0.0, unrealized_pnl=0.0),
        ]
        self.supervisor.on_batch(session, events, changed)

    def heartbeat(self, value: bool) -> bool:
        """Send telemetry and pass `value` through: keeps the trader alive while polling."""
        self.telemetry("s1")
        return value


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
        rig.supervisor.on_sender(process.pid)  # its telemetry comes from that pid: tied
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


async def test_no_window_opens_while_the_store_fails_and_nothing_in_memory_changes(
    tmp_path: Path,
) -> None:
    """Refused before anything is applied: the heartbeat clock of a trader that has been
    quiet for a while keeps counting (undoing an opened window used to restart it)."""
    clock = FakeClock()
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group, clock=clock)
        rig.telemetry("s1", changed=True)
        last_beat = rig.supervisor.engine.heartbeat.last
        clock.advance(0.3)  # quiet, but not yet long enough to warn about
        persisted = rig.supervisor.engine.persisted()
        locker = sqlite3.connect(tmp_path / "w.sqlite3", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        refused = rig.supervisor.begin_maintenance(60.0, "deploy", "ops")
        locker.execute("ROLLBACK")
        assert not refused.accepted
        assert "could not be recorded" in refused.reason
        assert rig.supervisor.engine.heartbeat.last == last_beat
        assert rig.supervisor.engine.persisted() == persisted
        assert rig.supervisor.engine.maintenance is None
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


async def test_the_traders_own_state_is_kept_audited_on_change_and_forgotten_on_restart(
    tmp_path: Path,
) -> None:
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group)
        rig.telemetry("s1", changed=True)
        now = time.time()
        for state in (WireState.ACTIVE, WireState.ACTIVE, WireState.HALTED):
            rig.supervisor.on_trader_state(TraderState(now, state, "own check"))
        assert rig.supervisor.reported == TraderState(now, WireState.HALTED, "own check")
        assert rig.supervisor.view().reported_state == "HALTED"
        assert rig.supervisor.state == TradingState.ACTIVE  # recorded, not obeyed
        rig.telemetry("s2", changed=True)  # a new process has said nothing yet
        assert reported(rig) is None
        await asyncio.sleep(0)
        changes = [e.detail for e in rig.store.audit_since(0) if e.kind == "trader_state"]
        assert [(c["from"], c["to"]) for c in changes] == [(None, "ACTIVE"), ("ACTIVE", "HALTED")]
        rig.supervisor.close()


def reported(rig: Rig) -> TraderState | None:
    """Read through a call: the last assertion's narrowing must not stick."""
    return rig.supervisor.reported


async def test_a_wall_clock_step_across_the_day_boundary_starts_one_audited_day(
    tmp_path: Path,
) -> None:
    midnight = 1_700_006_400.0  # 2023-11-15 00:00 UTC, the limits' reset time
    clock = FakeClock(wall=midnight - 0.1)
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group, clock=clock)
        await rig.supervisor.start()
        rig.telemetry("s1", changed=True)
        assert rig.supervisor.next_daily_reset == midnight
        clock.step_wall(0.3)  # an NTP correction carries the wall clock past midnight
        rig.telemetry("s1")
        rig.telemetry("s1")
        await asyncio.sleep(0)  # audits commit right after the current callbacks
        (reset,) = audited(rig, "daily_reset")
        assert reset == {"ts": midnight + 0.2, "due": midnight}
        assert rig.supervisor.next_daily_reset == midnight + 86_400
        row = rig.store.trader("alpha")
        assert row is not None
        assert row.day_start_ts == midnight + 0.2  # persisted at once, not a second later
        rig.supervisor.close()


def _venue_settings(tmp_path: Path) -> VenueSettings:
    keys = Credentials("ACCOUNTKEY", "account-secret")
    return VenueSettings(
        kind="binance_futures", ws_url=None,
        connect=connect_binance(VenueEndpoint("http://127.0.0.1:9")),
        account=keys, master=keys, trader=SubAccountRef("TRADERKEY", email="t@sub.example"),
        symbols=("BTCUSDT",), dms=None,
        reconcile_period_s=1.0, selfcheck_period_s=60.0, flatten=False, max_venue_blind_s=5.0,
    )  # fmt: skip


async def test_blindness_is_alerted_even_when_the_trader_is_already_halted(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    config = dataclasses.replace(CONFIG, venue=_venue_settings(tmp_path))
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group, config, clock)
        rig.supervisor.on_batch("s1", [Heartbeat(ts=clock.wall())], True)
        assert rig.supervisor.state == TradingState.HALTED  # equity unknown: no snapshot yet
        for _ in range(51):  # heartbeats all along: only the venue view goes stale
            clock.advance(0.1)
            rig.supervisor.on_batch("s1", [Heartbeat(ts=clock.wall())], False)
        assert "venue_blind" in {d.rule for d in rig.supervisor.decisions}
        (blind,) = [detail for kind, detail in rig.alerts.sent if kind == "venue_blind"]
        assert blind["limit_s"] == 5.0
        assert 5.0 <= blind["age_s"] < 5.1
        view = AccountSnapshot(clock.wall(), 10_000.0, 0.0, 0.0, EventSource.VENUE)
        rig.supervisor.on_venue([view])
        assert rig.supervisor.decisions == ()
        assert [kind for kind, _ in rig.alerts.sent if kind.startswith("venue")] == [
            "venue_blind", "venue_view_restored",
        ]  # fmt: skip
        rig.supervisor.close()


def state(rig: Rig) -> TradingState:
    return rig.supervisor.state


def identified(rig: Rig, pid: int) -> bool:
    """One datagram from `pid` (as the ingress reports it); whether that tied the trader."""
    rig.supervisor.on_sender(pid)
    rig.telemetry("s1")
    return rig.supervisor.process.identity.known


async def test_a_trader_whose_process_is_unknown_is_held_halted_until_it_is_known(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "alpha.pid"
    pidfile.write_text("garbage\n")
    trader = await asyncio.create_subprocess_exec("sleep", "60")
    config = dataclasses.replace(CONFIG, process=ProcessTarget(pidfile=pidfile))
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group, config)
        await rig.supervisor.start()
        rig.supervisor.on_sender(trader.pid)
        rig.telemetry("s1", changed=True)
        assert rig.supervisor.engine.state == TradingState.ACTIVE
        assert state(rig) == TradingState.HALTED  # not armed: what the ack says
        assert rig.supervisor.process.identity.pid is None
        await wait_for(lambda: bool(audited(rig, "hold")), "the hold to be audited")
        assert audited(rig, "hold")[-1]["key"] == "process_unknown"
        assert "holds no pid: 'garbage'" in audited(rig, "hold")[-1]["reason"]
        assert audited(rig, "process_identity")[-1]["known"] is False
        await wait_for(lambda: rig.heartbeat(bool(rig.alerter.kinds("process_unknown"))), "alert")
        assert "holds no pid" in rig.alerter.kinds("process_unknown")[0]["reason"]
        pidfile.write_text(f"{trader.pid}\n")  # now the pid file names the sender
        await wait_for(lambda: identified(rig, trader.pid), "the trader identified")
        assert rig.supervisor.process.pid == trader.pid
        assert state(rig) == TradingState.ACTIVE
        await wait_for(lambda: bool(audited(rig, "hold_released")), "the release")
        assert audited(rig, "process_identity")[-1]["via"] == "sender_pid"
        rig.supervisor.close()
    trader.kill()
    await trader.wait()


async def test_a_trader_that_starts_before_its_pid_file_is_not_alerted(tmp_path: Path) -> None:
    # Its first datagrams arrive before the pid file names it: held, but nobody is woken.
    pidfile = tmp_path / "alpha.pid"
    trader = await asyncio.create_subprocess_exec("sleep", "60")
    config = dataclasses.replace(CONFIG, process=ProcessTarget(pidfile=pidfile))
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group, config)
        await rig.supervisor.start()
        rig.supervisor.on_sender(trader.pid)
        rig.telemetry("s1", changed=True)
        assert state(rig) == TradingState.HALTED
        pidfile.write_text(f"{trader.pid}\n")
        await wait_for(lambda: identified(rig, trader.pid), "the trader identified")
        deadline = time.monotonic() + 2.5  # past the alert's grace, heartbeating
        await wait_for(lambda: rig.heartbeat(time.monotonic() > deadline), "the grace")
        assert rig.alerter.kinds("process_unknown") == []
        assert state(rig) == TradingState.ACTIVE
        rig.supervisor.close()
    trader.kill()
    await trader.wait()


async def test_a_trader_in_the_control_sockets_group_is_held_halted(tmp_path: Path) -> None:
    # With control_socket_mode "0660" that group may trip and re-arm: not the trader's to hold.
    trader = await asyncio.create_subprocess_exec("sleep", "60")
    config = dataclasses.replace(CONFIG, process=ProcessTarget(pid=trader.pid))
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group, config, control_gid=os.getegid())  # the child's group too
        await rig.supervisor.start()
        rig.supervisor.on_sender(trader.pid)
        rig.telemetry("s1", changed=True)
        assert rig.supervisor.process.identity.known
        assert state(rig) == TradingState.HALTED
        (alert,) = rig.alerter.kinds("control_socket_group")
        assert "it is in that group" in alert["reason"]
        await asyncio.sleep(0)  # the re-attach a new session starts runs before close()
        rig.supervisor.close()
    trader.kill()
    await trader.wait()


async def test_a_trader_outside_the_control_sockets_group_stays_active(tmp_path: Path) -> None:
    trader = await asyncio.create_subprocess_exec("sleep", "60")
    config = dataclasses.replace(CONFIG, process=ProcessTarget(pid=trader.pid))
    others = max([*os.getgroups(), os.getegid()]) + 1000  # a group this process is not in
    async with asyncio.TaskGroup() as group:
        rig = Rig(tmp_path, group, config, control_gid=others)
        await rig.supervisor.start()
        rig.supervisor.on_sender(trader.pid)
        rig.telemetry("s1", changed=True)
        await asyncio.sleep(0)  # the re-attach a new session starts runs before close()
        assert state(rig) == TradingState.ACTIVE
        assert rig.alerter.kinds("control_socket_group") == []
        rig.supervisor.close()
    trader.kill()
    await trader.wait()
