"""Heartbeat deadlines: seconds since the last heartbeat escalate WARN -> HALTED -> KILLED.

A heartbeat is life from when it was sent (its own time stamp), never from when it arrived:
a datagram held back on the way cannot prolong a trader that has stopped. The stamp is bounded
by arrival (`now`), so a trader's clock running ahead cannot buy it time either; one running
behind only shortens its own margin. Each threshold is reached at `last + <level>_after_s`
exactly. WARN and HALTED recover after a
cool-down once heartbeats return; KILLED latches through the engine. A re-arm restarts the
clock (the trader was stopped by the kill and needs time to come back).
"""

from __future__ import annotations

from risk.decision import Decision
from risk.limits import HeartbeatLimits
from risk.rules._common import INF, Cooldown, Recovery
from risk.state import TradingState


class HeartbeatRule:
    name = "heartbeat"
    recovery = Recovery.TRANSIENT  # WARN/HALTED; the kill level latches through the engine

    def __init__(self, limits: HeartbeatLimits, now: float) -> None:
        self.limits = limits
        self.last = now  # engine start counts as a beat: a trader that never comes is seen
        self.cooldown = Cooldown(limits.cooldown_s)
        self.decision: Decision | None = None
        self.due = now + limits.warn_after_s
        self.age = 0.0

    def on_heartbeat(self, sent: float, now: float) -> bool:
        # A heartbeat sent before the latest one (or before a re-arm) moves nothing.
        self.last = max(self.last, min(sent, now))
        if self.decision is None:
            return False  # `due` moves later; the engine's earlier timer is still valid
        return self.evaluate(now)

    def evaluate(self, now: float) -> bool:
        limits, last = self.limits, self.last
        age = now - last
        self.age = age if age > 0.0 else 0.0
        raw: Decision | None = None
        if age >= limits.kill_after_s:
            raw = self._decide(TradingState.KILLED, age, limits.kill_after_s)
            due = INF
        elif age >= limits.halt_after_s:
            raw = self._decide(TradingState.HALTED, age, limits.halt_after_s)
            due = last + limits.kill_after_s
        elif age >= limits.warn_after_s:
            raw = self._decide(TradingState.WARN, age, limits.warn_after_s)
            due = last + limits.halt_after_s
        else:
            due = last + limits.warn_after_s
        before, before_due = self.decision, self.due
        self.decision = self.cooldown.settle(raw, now)
        self.due = min(due, self.cooldown.release_at)
        return self.decision is not before or self.due < before_due

    def _decide(self, state: TradingState, age: float, limit: float) -> Decision:
        return Decision(
            state,
            self.name,
            age,
            limit,
            f"no heartbeat for {age:.2f} s ({state.name} at {limit:g} s; "
            f"interval {self.limits.interval_s:g} s)",
        )

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        return self.age / self.limits.kill_after_s

    def on_rearm(self, now: float) -> None:
        self.last = now
        self.cooldown.clear()
        self.evaluate(now)
