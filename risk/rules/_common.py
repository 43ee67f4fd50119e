"""What every rule shares: recovery kinds, grading against a limit, the cool-down hold, and
the escalation of a sustained breach to a kill."""

from __future__ import annotations

from enum import Enum
from typing import Protocol

from risk.decision import Decision
from risk.state import TradingState

INF = float("inf")


class Recovery(Enum):
    """How a rule's breach ends."""

    TRANSIENT = "transient"  # back to the lower state after a cool-down once under the limit
    STICKY = "sticky-until-daily-reset"  # holds until the daily reset
    LATCHED = "latched"  # KILLED: only an accepted re-arm ends it


class Rule(Protocol):
    """The engine's view of a rule: its current verdict and its time-driven side."""

    name: str
    recovery: Recovery
    decision: Decision | None  # None while ACTIVE
    due: float  # wall time of the next time-driven transition; INF when none

    def evaluate(self, now: float) -> bool:
        """Advance time-driven state to `now`; True when `decision` or `due` changed."""
        ...

    def hard_breach(self) -> Decision | None:
        """The breach that must refuse a re-arm (a hard limit still breached), if any."""
        ...

    def utilisation(self) -> float:
        """Measured value over its (tightest) limit; 0.0 when unknown."""
        ...

    def on_rearm(self, now: float) -> None:
        """Reset what a re-arm restarts (liveness clocks, compared views)."""
        ...


def grade(value: float, limit: float, warn_ratio: float, breach: TradingState) -> TradingState:
    """`breach` above the limit, WARN from `warn_ratio` of it, else ACTIVE."""
    if value > limit:
        return breach
    if value >= limit * warn_ratio and limit > 0 and warn_ratio < 1.0:
        return TradingState.WARN
    return TradingState.ACTIVE


class Cooldown:
    """Holds a breach for `seconds` after the measure falls back under the limit.

    Only REDUCING and worse are held: a WARN is an alert and may clear at once.
    """

    __slots__ = ("held", "release_at", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.held: Decision | None = None
        self.release_at = INF

    def settle(self, raw: Decision | None, now: float) -> Decision | None:
        """The effective decision given the rule's raw verdict at `now`."""
        held = self.held
        if (
            raw is not None
            and raw.state >= TradingState.REDUCING
            and (held is None or raw.state >= held.state)
        ):
            self.held = raw
            self.release_at = INF
            return raw
        if held is None:
            return raw
        if self.release_at == INF:
            self.release_at = now + self.seconds
            self.held = held = Decision(
                held.state,
                held.rule,
                held.value,
                held.limit,
                f"{held.reason}; back under the limit, cool-down until {self.release_at:.3f}",
            )
        if now < self.release_at:
            return held
        self.held = None
        self.release_at = INF
        return self.settle(raw, now)

    def clear(self) -> None:
        self.held = None
        self.release_at = INF


class Sustain:
    """Escalates a breach that has held continuously for `kill_after_s` to KILLED.

    `kill_after_s` None never escalates. The rule reports, at each of its evaluations, whether
    it is breached and since when; the kill is due at `since + kill_after_s`, a time the rule
    puts into its `due` so the shell wakes for it (the same expression decides both, so the
    wake-up is never a float rounding short of the kill).
    """

    __slots__ = ("kill_after_s", "since")

    def __init__(self, kill_after_s: float | None) -> None:
        self.kill_after_s = kill_after_s
        self.since = INF  # start of the current continuous breach; INF when not breached

    def track(self, breached: bool, start: float) -> None:
        """Record the breach state; `start` is when a breach that is new now began."""
        if not breached:
            self.since = INF
        elif self.since == INF:
            self.since = start

    @property
    def kill_at(self) -> float:
        """When the breach, if it still holds, becomes a kill; INF when never."""
        if self.kill_after_s is None or self.since == INF:
            return INF
        return self.since + self.kill_after_s

    def killed(self, now: float) -> bool:
        return now >= self.kill_at

    def due(self, now: float) -> float:
        """The wake-up the escalation needs after `now`: INF once it has happened."""
        at = self.kill_at
        return at if at > now else INF

    def escalate(self, decision: Decision, now: float) -> Decision:
        """`decision` (the breach) at the kill level, saying how long it has held."""
        return Decision(
            TradingState.KILLED,
            decision.rule,
            decision.value,
            decision.limit,
            f"{decision.reason}, held {now - self.since:.1f} s "
            f"(kill after {self.kill_after_s:g} s)",
        )

    def restart(self, now: float) -> None:
        """A re-arm gives a breach that still holds a fresh `kill_after_s`."""
        if self.since != INF:
            self.since = now


REPORTED_BY = ("trader SUBMIT", "venue ACK")  # indexed by EventSource


def order_words(order_id: str, symbol: str, side: str, source: int) -> tuple[str, str]:
    """How a per-order verdict names its order, and which side's event it judged."""
    return f"order {order_id or '(no id)'} {symbol} {side}", REPORTED_BY[source]


class PerOrderRule:
    """What per-order rules share: each order is judged once, at its event, so a breach is a
    moment, not a level. The worst verdict holds until `cooldown_s` after the last order that
    reached the warn level; a milder one never replaces a worse one inside the hold."""

    name: str
    recovery = Recovery.TRANSIENT

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = cooldown_s
        self.decision: Decision | None = None
        self.due = INF  # when the held verdict lapses

    def hold(self, decision: Decision, now: float) -> bool:
        held = self.decision
        if held is None or decision.state >= held.state:
            self.decision = decision
        self.due = now + self.cooldown_s
        return True

    def evaluate(self, now: float) -> bool:
        if now < self.due:
            return False
        self.decision = None
        self.due = INF
        return True

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        """The held order's measure over its limit: how close a recent order came."""
        held = self.decision
        return held.value / held.limit if held is not None and held.limit > 0 else 0.0

    def on_rearm(self, now: float) -> None:
        self.decision = None
        self.due = INF
        self.evaluate(now)


def grade_order(
    value: float, limit: float, warn_ratio: float, kill_multiple: float
) -> TradingState:
    """One order's measure against its limit: WARN from `warn_ratio` of it, HALTED over it,
    KILLED at `kill_multiple` times it (a fat finger or a runaway, not a rounding)."""
    if value > limit:
        return TradingState.KILLED if value >= limit * kill_multiple else TradingState.HALTED
    return grade(value, limit, warn_ratio, TradingState.HALTED)
