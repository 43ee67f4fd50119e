"""One trader under supervision: its risk engine, its timer, its liveness, its kill.

Everything here runs on the event loop and stays synchronous up to the kill launch, so the
path from a breaching datagram to a durable latch and a started pipeline has no await in it.
Time-driven rules (heartbeat deadlines, pauses) get one timer per trader, set to the engine's
`next_due`: no polling loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from killswitch_client.protocol import TraderState

from risk import (
    Assessment,
    Decision,
    Heartbeat,
    Maintenance,
    PersistedRisk,
    RiskEngine,
    TradingState,
)
from watchdog.clock import Clock
from watchdog.daemon.alerts import Alerter
from watchdog.daemon.config import TraderConfig
from watchdog.daemon.durable import Durable
from watchdog.daemon.holds import Holds
from watchdog.daemon.kill import KillPipeline
from watchdog.daemon.kill.pipeline import Spawn
from watchdog.daemon.liveness import Identity, ProcessWatch
from watchdog.daemon.maintenance import MaintenanceRequest, check_begin
from watchdog.daemon.metrics import Metrics, TraderView
from watchdog.daemon.riskflush import RiskFlush
from watchdog.daemon.socketgroup import group_name, process_groups
from watchdog.daemon.store import TraderRow
from watchdog.logs import log_event

_log = logging.getLogger("watchdog.supervisor")
BLIND_RULE = "venue_blind"
PROCESS_UNKNOWN = "process_unknown"  # the hold (and alert) while the trader's process is unknown
CONTROL_GROUP = "control_socket_group"  # the hold while the trader could use the control socket
_IDENTITY_ALERT_GRACE_S = 2.0
_REATTACH_EVERY_S = 1.0


@dataclass(frozen=True)
class Outcome:
    """The answer to an operator's request (re-arm, maintenance)."""

    accepted: bool
    reason: str
    state: TradingState


@dataclass(frozen=True)
class Services:
    """The shared parts every supervisor uses (one of each per process)."""

    clock: Clock
    durable: Durable
    alerter: Alerter
    metrics: Metrics
    killer: KillPipeline
    push_state: Callable[[str, TradingState], None]  # ack the trader with its new state
    ask: Callable[[str, int], None]  # (trader, question): an ack that asks the client to answer
    group_kill: Callable[[str, str], None]  # (kill group, reason): kill the group's others
    spawn: Spawn  # start a task in the daemon's task group
    control_gid: int | None = None  # the control socket's group when it may connect


def restore_persisted(row: TraderRow | None) -> PersistedRisk | None:
    if row is None:
        return None
    return PersistedRisk(
        latched=row.latched,
        latch_reason=row.latch_reason,
        high_water_mark=row.high_water_mark,
        day_start_equity=row.day_start_equity,
        day_start_ts=row.day_start_ts,
        maintenance_until=row.maintenance_until,
        maintenance_reason=row.maintenance_reason,
    )


class TraderSupervisor:
    def __init__(self, config: TraderConfig, services: Services, row: TraderRow | None) -> None:
        self.config = config
        self.id = config.id
        self._services = services
        now = services.clock.wall()
        # Raises PersistedStateError for a corrupt row: the daemon then refuses to arm.
        blind_s = config.venue.max_venue_blind_s if config.venue is not None else None
        self.engine = RiskEngine(
            config.limits,
            now=now,
            persisted=restore_persisted(row),
            max_venue_blind_s=blind_s,
            telemetry=config.telemetry_expected,
        )
        # The engine alone starts a new day (at the configured reset through `next_due`, or in
        # its constructor for one missed while we were down); each new day is audited once.
        restored = row.day_start_ts if row is not None else None
        self._day_start = self.engine.day_start_ts if restored is None else restored
        self.process = ProcessWatch(
            config.process, self._on_process_exit, on_identity=self._on_identity
        )
        self._identity_alert: asyncio.TimerHandle | None = None
        self._identity_check: asyncio.TimerHandle | None = None  # telemetry = "none" only
        self._reattaching = False
        self._reattach_at = float("-inf")  # loop time of the last re-resolve asked by telemetry
        self.session_id: str | None = None
        self.reported: TraderState | None = None  # the trader's own last state report
        self.last_heartbeat: float | None = None  # monotonic
        self.decisions: tuple[Decision, ...] = ()
        self._state = self.engine.state
        self._timer: asyncio.TimerHandle | None = None
        self._flush = RiskFlush(self.id, self.engine, services.durable, row)
        self._trigger = 0.0  # monotonic stamp of what caused the current handling
        self._holds = Holds()
        # The maintenance window as last written to the store: a change (expiry, a kill
        # ending it) is noticed after each decision and recorded.
        self._stored_window = self.engine.maintenance
        self.restored_maintenance_until = row.maintenance_until if row is not None else None

    # -- state ---------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        """The engine's state, at least HALTED while the store cannot record what happens
        or a hold is set (e.g. the watchdog's own venue keys fail: it could not kill)."""
        if not self._services.durable.healthy or self._holds:
            return max(self._state, TradingState.HALTED)
        return self._state

    @property
    def holds(self) -> dict[str, str]:
        """What holds the trader at least HALTED besides its risk rules: key -> reason."""
        return self._holds.as_dict()

    def view(self) -> TraderView:
        age = None
        if self.last_heartbeat is not None:
            age = self._services.clock.monotonic() - self.last_heartbeat
        return TraderView(
            self.id,
            int(self.state),
            self._state == TradingState.KILLED,
            age,
            self.engine.utilisation(),
            self.engine.maintenance is not None,
            None if self.reported is None else self.reported.state.name,
        )

    # -- inputs --------------------------------------------------------------------------

    async def start(self) -> None:
        """Watch the process and run the time-driven rules once (a restart may be overdue)."""
        await self.process.attach()
        if not self.config.telemetry_expected:
            self._schedule_identity_check()
        until = self.restored_maintenance_until
        if until is not None and self.engine.maintenance is None:
            # The window closed while the watchdog was down (or the trader is latched).
            detail = {"until": until, "while_down": True}
            log_event(_log, logging.ERROR, "maintenance_expired", trader=self.id, **detail)
            self._services.alerter.notify("maintenance_expired", self.id, **detail)
            self._save_maintenance(None, "maintenance_expired", detail)
        self._handle(self.engine.evaluate(self._services.clock.wall()), "start")

    def on_batch(self, session_id: str, events: Sequence[Any], session_changed: bool) -> None:
        self._trigger = self._services.clock.monotonic()
        if session_changed:
            self._new_session(session_id)
        now = self._services.clock.wall()
        assessment = None
        for event in events:
            if isinstance(event, Heartbeat):
                self._beat(event.ts, now)
            assessment = self.engine.apply(event, now)
        if assessment is not None:
            self._handle(assessment, "telemetry")
        self._ask()
        self._flush.soon()

    def _ask(self) -> None:
        """Ask the trader about a venue ACK it has not reported (key misuse), if one is due."""
        question = self.engine.question()
        if question:
            self._services.ask(self.id, question)

    def _beat(self, sent: float, now: float) -> None:
        """The heartbeat age shown is counted from the send time, as the engine counts it."""
        at = self._trigger - max(0.0, now - sent)
        if self.last_heartbeat is None or at > self.last_heartbeat:
            self.last_heartbeat = at

    def on_trader_state(self, report: TraderState) -> None:
        """The trader's own view of its state: recorded, audited when the state changes.

        It decides nothing (the watchdog does not trust the trader), but a trader that halted
        itself, or disagrees with the watchdog, is what an operator needs to see first.
        """
        previous, self.reported = self.reported, report
        if previous is not None and previous.state == report.state:
            return
        detail = {
            "from": None if previous is None else previous.state.name,
            "to": report.state.name,
            "reason": report.reason,
            "ts": report.ts,
        }
        log_event(_log, logging.INFO, "trader_state_reported", trader=self.id, **detail)
        self._audit("trader_state", detail)

    def on_venue(self, events: Sequence[Any]) -> None:
        """Facts from the watchdog's own view of the venue (source VENUE)."""
        self._trigger = self._services.clock.monotonic()
        now = self._services.clock.wall()
        assessment = None
        for event in events:
            assessment = self.engine.apply(event, now)
        if assessment is not None:
            self._handle(assessment, "venue")
        self._ask()
        self._flush.soon()

    def hold(self, key: str, reason: str) -> None:
        """Hold the trader at least HALTED until `release(key)`; audited and pushed."""
        before = self.state
        if not self._holds.set(key, reason):
            return
        self._audit("hold", {"key": key, "reason": reason})
        log_event(_log, logging.ERROR, "hold", trader=self.id, key=key, reason=reason)
        if self.state != before:
            self._services.push_state(self.id, self.state)

    def release(self, key: str) -> None:
        if not self._holds.release(key):
            return
        self._audit("hold_released", {"key": key})
        log_event(_log, logging.WARNING, "hold_released", trader=self.id, key=key)
        self._services.push_state(self.id, self.state)

    def _new_session(self, session_id: str) -> None:
        previous, self.session_id = self.session_id, session_id
        self.reported = None  # a new process has not said anything yet
        detail = {"previous": previous, "session": session_id}
        log_event(_log, logging.WARNING, "session_changed", trader=self.id, **detail)
        self._audit("session_changed", detail)
        # A restarted trader may be a new process: watch that one from now on.
        self._services.spawn(self._reattach())
        if self._state == TradingState.KILLED:
            # Latched: the ack says KILLED (the client fails closed) and its credential was
            # revoked. It is not killed again: an operator may be bringing it up to give the
            # re-arm check the equity it needs. Say so loudly instead.
            self._services.alerter.notify("session_while_latched", self.id, session=session_id)

    async def _reattach(self) -> None:
        if self._reattaching:
            return  # one re-resolve at a time (a unit's takes a systemctl call)
        self._reattaching = True
        try:
            await self.process.attach()
        finally:
            self._reattaching = False

    def _schedule_identity_check(self) -> None:
        loop = asyncio.get_running_loop()
        self._identity_check = loop.call_later(_REATTACH_EVERY_S, self._check_identity)

    def _check_identity(self) -> None:
        """A trader that sends no telemetry gives nothing else that prompts a new look at its
        process: one not tied yet (its pid file not written yet), or started again after a
        planned stop or a re-arm, is looked for again every second. A latched trader's exited
        process is left as it is: the kill's stop step verifies that exit. Outside a kill and a
        planned stop, an exited process is no longer the trader's: unknown, until one is tied.
        """
        self._schedule_identity_check()
        if self.process.identity.known and (self.engine.latched or self.process.alive()):
            return
        if self.engine.maintenance is None:
            self.process.untie_exited()
        self._services.spawn(self._reattach())

    def on_sender(self, pid: int | None) -> None:
        """The kernel's sender pid of an authentic datagram: what ties the trader's process."""
        if not self.process.observe_sender(pid):
            return
        now = asyncio.get_running_loop().time()
        if now - self._reattach_at >= _REATTACH_EVERY_S:  # a unit: systemctl, at most 1/s
            self._reattach_at = now
            self._services.spawn(self._reattach())

    def _on_identity(self, identity: Identity) -> None:
        """Not knowing the trader's process is not armed: HALTED (a hold) until it is known.

        The alert waits a short grace: a trader that just started may send its first
        datagram before its pid file is written, and that is not worth waking anyone.
        """
        self._audit("process_identity", identity.as_dict())
        if identity.known and identity.pid is not None:
            self._check_control_group(identity.pid)
        if identity.known or not identity.required:
            if self._identity_alert is not None:
                self._identity_alert.cancel()
                self._identity_alert = None
            self.release(PROCESS_UNKNOWN)
            return
        self.hold(PROCESS_UNKNOWN, f"{PROCESS_UNKNOWN}: {identity.reason}")
        if self._identity_alert is None:
            loop = asyncio.get_running_loop()
            self._identity_alert = loop.call_later(_IDENTITY_ALERT_GRACE_S, self._alert_identity)

    def _check_control_group(self, pid: int) -> None:
        """A trader in the control socket's group could trip or re-arm itself: not armed."""
        gid = self._services.control_gid
        if gid is None:
            return
        groups = process_groups(pid)
        if groups is None or gid in groups:
            why = "cannot read its groups" if groups is None else "it is in that group"
            reason = f"{CONTROL_GROUP}: the control socket's group is {group_name(gid)}; {why}"
            if self._holds.reason(CONTROL_GROUP) != reason:
                self._services.alerter.notify(CONTROL_GROUP, self.id, pid=pid, reason=reason)
            self.hold(CONTROL_GROUP, reason)
            return
        self.release(CONTROL_GROUP)

    def _alert_identity(self) -> None:
        self._identity_alert = None
        identity = self.process.identity
        if identity.required and not identity.known:
            detail = {"pid": identity.pid, "reason": identity.reason}
            self._services.alerter.notify(PROCESS_UNKNOWN, self.id, **detail)

    def _on_process_exit(self, pid: int) -> None:
        self._trigger = self._services.clock.monotonic()
        window = self.engine.maintenance
        if window is not None:
            log_event(_log, logging.WARNING, "trader_process_exited", trader=self.id, pid=pid)
            self._audit("process_exited", {"pid": pid, "planned": window.reason})
            return
        log_event(_log, logging.ERROR, "trader_process_exited", trader=self.id, pid=pid)
        if self._state == TradingState.KILLED:
            self._audit("process_exited", {"pid": pid})
            return
        self._trip("process_exit", f"trader process {pid} exited")

    def trip(self, reason: str, source: str) -> TradingState:
        self._trigger = self._services.clock.monotonic()
        self._trip("manual", f"{reason} (by {source})")
        return self.state

    def _trip(self, cause: str, reason: str) -> None:
        # The kill (its latch write) goes first: one fsync less before the actions start.
        self._handle(self.engine.trip(self._services.clock.wall(), reason), cause)
        self._audit("trip", {"cause": cause, "reason": reason})

    def rearm(self, reason: str, operator: str, *, reset_high_water_mark: bool = False) -> Outcome:
        """Clear the latch unless a hard limit still holds.

        After a hard drawdown kill equity cannot recover while trading is stopped, so the
        operator may accept current equity as the new high-water mark; that choice is audited.
        """
        detail = {"reason": reason, "operator": operator}
        if reset_high_water_mark:
            detail["reset_high_water_mark"] = "yes"
        if self._services.killer.running(self.id):
            return self._refuse(detail, "the kill pipeline is still running: wait until verified")
        result = self.engine.rearm(
            self._services.clock.wall(), reason, reset_high_water_mark=reset_high_water_mark
        )
        if not result.accepted:
            return self._refuse(detail, result.reason)
        self._services.durable.write(
            lambda s: s.clear_latch(self.id, self._services.clock.wall(), detail)
        )
        self._services.metrics.rearms.labels(self.id, "accepted").inc()
        log_event(_log, logging.WARNING, "rearmed", trader=self.id, **detail)
        self._handle(result.assessment, "rearm")
        return Outcome(True, result.reason, self.state)

    def begin_maintenance(self, window_s: float, reason: str, operator: str) -> Outcome:
        """Stand the trader down for a planned stop of at most `window_s` seconds.

        Durable before it is applied, and applied before it is answered: a watchdog
        restarted inside the window keeps it, so a trader stopped on purpose is never killed
        for it; a window the store cannot record is refused and changes nothing.
        """
        now = self._services.clock.wall()
        request = MaintenanceRequest(window_s, reason, operator)
        detail = request.detail()
        window = check_begin(self.engine, self._services.durable.healthy, request, now)
        if isinstance(window, str):
            return self._refuse_maintenance(detail, window)
        started = {**detail, "until": window.until}
        if not self._save_maintenance(window, "maintenance_started", started):
            return self._refuse_maintenance(detail, "the window could not be recorded")
        self._stored_window = window
        # The same check as above on the same state, with no await between: it opens.
        result = self.engine.begin_maintenance(now, window.until, window.reason)
        log_event(_log, logging.WARNING, "maintenance_started", trader=self.id, **detail)
        self._handle(result.assessment, "maintenance")
        return Outcome(result.accepted, result.reason, self.state)

    def end_maintenance(self, reason: str, operator: str) -> Outcome:
        detail = {"reason": reason, "operator": operator}
        result = self.engine.end_maintenance(self._services.clock.wall(), reason)
        if not result.accepted:
            return self._refuse_maintenance(detail, result.reason)
        self._trigger = self._services.clock.monotonic()
        self._handle(result.assessment, "maintenance", ended=("maintenance_ended", detail))
        log_event(_log, logging.WARNING, "maintenance_ended", trader=self.id, **detail)
        return Outcome(True, result.reason, self.state)

    def _refuse_maintenance(self, detail: dict[str, Any], why: str) -> Outcome:
        self._audit("maintenance_refused", {**detail, "why": why})
        log_event(_log, logging.WARNING, "maintenance_refused", trader=self.id, why=why, **detail)
        return Outcome(False, why, self.state)

    def _save_maintenance(
        self, window: Maintenance | None, kind: str, detail: dict[str, Any]
    ) -> bool:
        """Record `window` (None: none is open) as the store's; False if it was not written."""
        until, reason = (window.until, window.reason) if window else (None, "")
        now = self._services.clock.wall()
        return self._services.durable.write(
            lambda s: s.save_maintenance(self.id, until, reason, now, kind, detail)
        )

    def _maintenance_closed(self, ended: tuple[str, dict[str, Any]] | None) -> None:
        """The window closed: by the operator (`ended`), by a kill, or at its end time."""
        before = self._stored_window
        if ended is not None:
            kind, detail = ended
        elif self.engine.latched:
            kind, detail = "maintenance_ended", {"reason": "killed"}
        else:
            kind, detail = "maintenance_expired", {"until": before.until if before else None}
            log_event(_log, logging.ERROR, "maintenance_expired", trader=self.id, **detail)
            self._services.alerter.notify("maintenance_expired", self.id, **detail)
        self._save_maintenance(None, kind, detail)
        self._stored_window = None  # a failed write is not retried: the store is unhealthy

    def _refuse(self, detail: dict[str, str], why: str) -> Outcome:
        self._audit("rearm_refused", {**detail, "why": why})
        self._services.metrics.rearms.labels(self.id, "refused").inc()
        log_event(_log, logging.WARNING, "rearm_refused", trader=self.id, why=why, **detail)
        return Outcome(False, why, self.state)

    def venue_stream_connected(self) -> None:
        """The venue's order stream (re)connected: its order count starts from zero again."""
        now = self._services.clock.wall()
        self._audit("order_count_baseline", {"ts": now})
        self._handle(self.engine.restart_order_count(now), "venue")

    @property
    def next_daily_reset(self) -> float:
        return self.engine.next_daily_reset(self.engine.day_start_ts)

    def group_trip(self, reason: str) -> None:
        if self._state != TradingState.KILLED:
            self._trigger = self._services.clock.monotonic()
            self._trip("group", reason)

    # -- decisions -----------------------------------------------------------------------

    def _handle(
        self,
        assessment: Assessment,
        cause: str,
        ended: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        self._decide(assessment, cause, ended)
        # After the decision: a kill's latch write never waits behind this one.
        if self.engine.day_start_ts != self._day_start:
            self._day_started()

    def _decide(
        self,
        assessment: Assessment,
        cause: str,
        ended: tuple[str, dict[str, Any]] | None,
    ) -> None:
        self._reschedule(assessment.next_due)
        previous, self._state = self._state, assessment.state
        if previous == assessment.state and assessment.decisions == self.decisions:
            return
        before, self.decisions = self.decisions, assessment.decisions
        if assessment.state == TradingState.KILLED and previous != TradingState.KILLED:
            # First, before any logging or bookkeeping: the latch and the actions.
            self._start_kill(_kill_cause(cause, assessment), _kill_reason(assessment))
        if self._stored_window is not None and self.engine.maintenance is None:
            self._maintenance_closed(ended)
        if previous != assessment.state or _verdicts(before) != _verdicts(assessment.decisions):
            self._decision_changed(previous, before, assessment, cause)

    def _day_started(self) -> None:
        """The engine started a new day: audit it (with when it was due) and persist it."""
        previous, self._day_start = self._day_start, self.engine.day_start_ts
        detail = {"ts": self._day_start, "due": self.engine.next_daily_reset(previous)}
        log_event(_log, logging.INFO, "daily_reset", trader=self.id, **detail)
        self._audit("daily_reset", detail)
        self._flush.now()

    def _decision_changed(
        self,
        previous: TradingState,
        before: tuple[Decision, ...],
        assessment: Assessment,
        cause: str,
    ) -> None:
        """A new state, or a rule entering or leaving a grade: audit, count, ack, alert.

        A measured value moving inside the same grade (a growing heartbeat age) is not a
        change: it would flood the audit with every event.
        """
        decisions = [_decision_dict(d) for d in assessment.decisions]
        known = _verdicts(before)
        for decision in assessment.decisions:
            if (decision.rule, decision.state) not in known:
                self._services.metrics.decision(self.id, decision.rule, decision.state.name)
        self._alert_blindness(before, assessment.decisions)
        detail = {
            "from": previous.name,
            "to": assessment.state.name,
            "cause": cause,
            "decisions": decisions,
        }
        log_event(_log, logging.WARNING, "decision_changed", trader=self.id, **detail)
        self._audit("decision", detail)
        if previous == assessment.state:
            return
        if cause != "telemetry":  # a batch is acked by the daemon right after it is applied
            self._services.push_state(self.id, self.state)
        if assessment.state >= TradingState.WARN and previous < assessment.state:
            self._services.alerter.notify(
                "state", self.id, state=assessment.state.name, decisions=decisions
            )

    def _alert_blindness(self, before: tuple[Decision, ...], after: tuple[Decision, ...]) -> None:
        """Blindness and its end are alerted whatever the state: a trader already HALTED
        for another reason still needs a person to know its venue cannot be seen."""
        was = any(d.rule == BLIND_RULE for d in before)
        blind = next((d for d in after if d.rule == BLIND_RULE), None)
        if blind is not None and not was:
            log_event(_log, logging.ERROR, "venue_blind", trader=self.id, reason=blind.reason)
            self._services.alerter.notify(
                "venue_blind", self.id, age_s=blind.value, limit_s=blind.limit, reason=blind.reason
            )
        elif blind is None and was:
            log_event(_log, logging.WARNING, "venue_view_restored", trader=self.id)
            self._services.alerter.notify("venue_view_restored", self.id)

    def _start_kill(self, cause: str, reason: str) -> None:
        self._services.killer.start(self.config, self.process, cause, reason, self._trigger)
        if self.config.kill_group is not None:
            self._services.group_kill(
                self.config.kill_group,
                f"group {self.config.kill_group}: {self.id} killed ({reason})",
            )

    # -- timers --------------------------------------------------------------------------

    def _reschedule(self, due: float | None) -> None:
        if due is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, due - self._services.clock.wall())
        # Every heartbeat moves the next deadline later; a timer that fires no later than
        # needed is kept (it re-evaluates, which changes nothing early, and re-arms), so a
        # stream of batches does not cancel and re-create a timer each. Compared in the
        # loop's own time, so a wall-clock step cannot make a kept timer late.
        if self._timer is not None:
            if self._timer.when() <= when:
                return
            self._timer.cancel()
        self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._trigger = self._services.clock.monotonic()
        self._handle(self.engine.evaluate(self._services.clock.wall()), "timer")

    def close(self) -> None:
        for timer in (self._timer, self._identity_alert, self._identity_check):
            if timer is not None:
                timer.cancel()
        self._flush.close()
        self.process.close()

    def _audit(self, kind: str, detail: dict[str, Any]) -> None:
        self._services.durable.audit_soon(self._services.clock.wall(), self.id, kind, detail)


def _verdicts(decisions: tuple[Decision, ...]) -> frozenset[tuple[str, TradingState]]:
    return frozenset((d.rule, d.state) for d in decisions)


def _decision_dict(decision: Decision) -> dict[str, Any]:
    return {
        "state": decision.state.name,
        "rule": decision.rule,
        "value": decision.value,
        "limit": decision.limit,
        "reason": decision.reason,
    }


def _kill_cause(cause: str, assessment: Assessment) -> str:
    if cause in ("telemetry", "venue", "timer", "start") and assessment.decisions:
        return assessment.decisions[0].rule
    return cause


def _kill_reason(assessment: Assessment) -> str:
    if not assessment.decisions:
        return "killed"
    worst = assessment.decisions[0]
    return f"{worst.rule}: {worst.reason}"
