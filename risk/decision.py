"""Decisions as data: which rule, what it measured, against which limit, and why."""

from __future__ import annotations

from dataclasses import dataclass

from risk.state import TradingState


@dataclass(frozen=True, slots=True)
class Decision:
    """One rule's verdict. `value` and `limit` share a unit named in `reason`."""

    state: TradingState
    rule: str
    value: float
    limit: float
    reason: str


@dataclass(frozen=True, slots=True)
class Assessment:
    """The engine's verdict after an input.

    `state` is the worst of `decisions` (ACTIVE when empty). `decisions` holds every rule that
    is not ACTIVE, worst first. `next_due` is the wall time at which a time-driven transition
    may happen (heartbeat escalation, cool-down expiry, stale data, divergence grace, daily
    reset); the shell schedules one timer for it and calls `RiskEngine.evaluate`. It may be
    early, never late: waking early just yields a fresh `next_due`.
    """

    state: TradingState
    decisions: tuple[Decision, ...]
    next_due: float | None


@dataclass(frozen=True, slots=True)
class RearmResult:
    """The answer to a re-arm request: refused while a hard limit is still breached."""

    accepted: bool
    reason: str
    assessment: Assessment


@dataclass(frozen=True, slots=True)
class Maintenance:
    """A planned stop: until `until` (wall seconds) the trader may be silent or exit.

    While it lasts the engine holds the trader HALTED (it must place nothing) and suspends
    the rules that measure the trader's own liveness (heartbeat, stale market data); every
    other limit, the venue's view included, still applies and still kills.
    """

    until: float
    reason: str


@dataclass(frozen=True, slots=True)
class MaintenanceResult:
    """The answer to starting or ending a maintenance window."""

    accepted: bool
    reason: str
    assessment: Assessment
