"""Latch first, then every action concurrently, each retried until it verifies.

Each step: attempt -> verify -> record (attempts, answer, duration) -> back off (capped
exponential) -> again. Past the deadline a step escalates once (alert) and keeps trying at the
capped pace: a kill is never abandoned. Steps already verified are stored, so a restarted
watchdog resumes only what is left.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from watchdog.clock import Clock
from watchdog.daemon.alerts import Alerter
from watchdog.daemon.config import KillConfig, TraderConfig
from watchdog.daemon.durable import Durable
from watchdog.daemon.errors import KillStepError
from watchdog.daemon.kill.action import ActionFactory, KillAction, KillContext
from watchdog.daemon.liveness import ProcessWatch
from watchdog.daemon.metrics import Metrics
from watchdog.daemon.store import KillRecord
from watchdog.logs import bound, log_event

_log = logging.getLogger("watchdog.kill")

# Runs a coroutine as a task of the daemon's task group (errors surface there).
Spawn = Callable[[Coroutine[Any, Any, None]], None]


@dataclass(frozen=True)
class KillStarted:
    """When a kill began, on the system-wide CLOCK_MONOTONIC (benchmarks compare stamps).

    trigger: what caused it arrived (datagram batch, pidfd readable, timer fired);
    decided: the pipeline was entered; latched: the latch was durable and the actions launched.
    """

    kill_id: str
    trader: str
    reason: str
    trigger_monotonic: float
    decided_monotonic: float
    latched_monotonic: float


class KillPipeline:
    def __init__(
        self,
        *,
        clock: Clock,
        durable: Durable,
        alerter: Alerter,
        metrics: Metrics,
        config: KillConfig,
        factories: Sequence[ActionFactory],
        spawn: Spawn,
    ) -> None:
        self._clock = clock
        self._durable = durable
        self._alerter = alerter
        self._metrics = metrics
        self._config = config
        self._factories = tuple(factories)
        self._spawn = spawn
        self._active: dict[str, int] = {}  # trader id -> kills of it still running
        self.last_started: dict[str, KillStarted] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def running(self, trader: str) -> bool:
        return self._active.get(trader, 0) > 0

    async def wait_idle(self, wait_s: float) -> bool:
        """Wait until no kill runs; False if some still run after `wait_s`."""
        try:
            await asyncio.wait_for(self._idle.wait(), wait_s)
        except TimeoutError:
            return False
        return True

    def start(
        self, trader: TraderConfig, process: ProcessWatch, cause: str, reason: str, trigger: float
    ) -> KillStarted:
        """Make the latch durable, then launch the actions. Synchronous up to the launch."""
        started = self._clock.monotonic()
        kill_id = f"{trader.id}-{uuid.uuid4().hex[:12]}"
        actions = self._actions(trader, process, kill_id, reason)
        names = [action.name for action in actions]
        detail = {"cause": cause, "trigger_monotonic": trigger, "decided_monotonic": started}
        self._durable.write(
            lambda s: s.begin_kill(kill_id, trader.id, reason, self._clock.wall(), names, detail)
        )
        self._metrics.kill_started(trader.id, cause)
        log_event(
            _log,
            logging.WARNING,
            "kill_started",
            trader=trader.id,
            kill_id=kill_id,
            reason=reason,
            steps=names,
        )
        self._launch(trader.id, kill_id, actions, started)
        latched = self._clock.monotonic()
        record = KillStarted(kill_id, trader.id, reason, trigger, started, latched)
        self.last_started[trader.id] = record
        return record

    def resume(self, record: KillRecord, trader: TraderConfig, process: ProcessWatch) -> None:
        """Finish a kill a previous run left unverified."""
        pending = {step.step for step in record.steps if step.status != "verified"}
        actions = [
            a
            for a in self._actions(trader, process, record.kill_id, record.reason)
            if a.name in pending
        ]
        missing = pending - {a.name for a in actions}
        if missing:
            # A step this build cannot run (e.g. an action no longer configured): say so loudly.
            self._alerter.notify("kill_step_unavailable", trader.id, steps=sorted(missing))
        log_event(
            _log,
            logging.WARNING,
            "kill_resumed",
            trader=trader.id,
            kill_id=record.kill_id,
            steps=sorted(pending),
        )
        self._durable.write(
            lambda s: s.audit(
                self._clock.wall(),
                trader.id,
                "kill_resumed",
                {"kill_id": record.kill_id, "steps": sorted(pending)},
            )
        )
        self._launch(
            trader.id, record.kill_id, actions, self._clock.monotonic(), tuple(sorted(missing))
        )

    def _actions(
        self, trader: TraderConfig, process: ProcessWatch, kill_id: str, reason: str
    ) -> list[KillAction]:
        context = KillContext(
            trader, kill_id, reason, self._clock, self._config, self._alerter, process
        )
        built = (factory(context) for factory in self._factories)
        return [action for action in built if action is not None]

    def _launch(
        self,
        trader: str,
        kill_id: str,
        actions: list[KillAction],
        started: float,
        unavailable: tuple[str, ...] = (),
    ) -> None:
        self._active[trader] = self._active.get(trader, 0) + 1
        self._idle.clear()
        self._spawn(self._run(trader, kill_id, actions, started, unavailable))

    async def _run(
        self,
        trader: str,
        kill_id: str,
        actions: list[KillAction],
        started: float,
        unavailable: tuple[str, ...],
    ) -> None:
        try:
            # Every line of this kill, its steps' tasks and their actions included, names it.
            with bound(trader=trader, kill_id=kill_id):
                async with asyncio.TaskGroup() as group:
                    for action in actions:
                        group.create_task(self._step(trader, kill_id, action, started))
                if unavailable or not actions:
                    self._incomplete(trader, kill_id, unavailable)
                else:
                    self._verified(trader, kill_id, started)
        finally:
            self._active[trader] -= 1
            if not any(self._active.values()):
                self._idle.set()

    def _verified(self, trader: str, kill_id: str, started: float) -> None:
        self._durable.write(lambda s: s.finish_kill(kill_id, trader, self._clock.wall()))
        log_event(
            _log,
            logging.WARNING,
            "kill_verified",
            seconds=round(self._clock.monotonic() - started, 6),
        )
        self._alerter.notify("kill_verified", trader, kill_id=kill_id)

    async def _step(self, trader: str, kill_id: str, action: KillAction, started: float) -> None:
        delay = self._config.backoff_initial_s
        escalated = False
        attempt = 0
        while True:
            attempt += 1
            if await self._try(trader, kill_id, action, attempt):
                return
            overdue = self._clock.monotonic() - started > self._config.deadline_s
            if overdue and not escalated:
                escalated = True
                self._escalate(trader, kill_id, action.name, attempt)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._config.backoff_max_s)

    async def _try(self, trader: str, kill_id: str, action: KillAction, attempt: int) -> bool:
        began = self._clock.monotonic()
        try:
            detail = await action.attempt()
            verified = await action.verify()
            result = "verified" if verified else "unverified"
        except (KillStepError, OSError) as exc:
            # OSError: an action's I/O failed in a way it did not wrap; still only this try.
            detail, verified, result = str(exc), False, "failed"
        except Exception as exc:  # noqa: BLE001 - a bug in one action must not stop the others
            # Not swallowed: logged with its traceback, audited, alerted (by escalation) and
            # retried. Letting it cancel the sibling steps would abandon a kill half done.
            _log.exception("kill_action_bug", extra={"step": action.name})
            detail, verified, result = f"{type(exc).__name__}: {exc}", False, "error"
        duration = self._clock.monotonic() - began
        self._metrics.kill_step(action.name, result, duration)
        record = {
            "attempt": attempt,
            "result": result,
            "detail": detail,
            "duration_s": round(duration, 6),
        }
        log_event(
            _log,
            logging.INFO if verified else logging.WARNING,
            "kill_step",
            step=action.name,
            **record,
        )
        self._durable.write(
            lambda s: s.record_step(
                kill_id, trader, action.name, self._clock.wall(), verified, record
            )
        )
        return verified

    def _incomplete(self, trader: str, kill_id: str, unavailable: tuple[str, ...]) -> None:
        """Steps this run cannot perform (or none at all) were never verified: the kill is not
        finished and never reported verified. It stays open for a person to complete."""
        why = "steps this build cannot run" if unavailable else "no kill action is configured"
        detail = {"kill_id": kill_id, "steps": list(unavailable), "why": why}
        log_event(_log, logging.ERROR, "kill_incomplete", trader=trader, **detail)
        self._durable.write(
            lambda s: s.audit(self._clock.wall(), trader, "kill_incomplete", detail)
        )
        self._alerter.notify("kill_incomplete", trader, **detail)

    def _escalate(self, trader: str, kill_id: str, step: str, attempts: int) -> None:
        detail = {
            "kill_id": kill_id,
            "step": step,
            "attempts": attempts,
            "deadline_s": self._config.deadline_s,
        }
        log_event(_log, logging.ERROR, "kill_step_escalated", **detail)
        self._durable.write(
            lambda s: s.audit(self._clock.wall(), trader, "kill_step_escalated", detail)
        )
        self._alerter.notify("kill_step_escalated", trader, **detail)
