"""Stale market data: the age of the oldest symbol's last market event against a maximum.

Over the maximum -> HALTED, transient (cool-down once fresh again). Only symbols the trader
has reported are watched; liveness of the trader itself is the heartbeat rule's job.
"""

from __future__ import annotations

from risk.decision import Decision
from risk.limits import StaleDataLimits
from risk.rules._common import INF, Cooldown, Recovery
from risk.state import TradingState


class StaleDataRule:
    name = "stale_data"
    recovery = Recovery.TRANSIENT

    def __init__(self, limits: StaleDataLimits, warn_ratio: float) -> None:
        self.limits = limits
        self.warn_age = limits.max_age_s * warn_ratio if warn_ratio < 1.0 else INF
        self.last: dict[str, float] = {}
        self.oldest_symbol = ""
        self.oldest = INF
        self.age = 0.0
        self.cooldown = Cooldown(limits.cooldown_s)
        self.decision: Decision | None = None
        self.due = INF

    def on_feed(self, symbol: str, last_event_ts: float, now: float) -> bool:
        last = self.last
        previous = last.get(symbol)
        last[symbol] = last_event_ts if previous is None else max(previous, last_event_ts)
        if symbol == self.oldest_symbol or last_event_ts < self.oldest:
            self.oldest_symbol = min(last, key=last.__getitem__)
            self.oldest = last[self.oldest_symbol]
        return self.evaluate(now)

    def evaluate(self, now: float) -> bool:
        if self.oldest == INF:
            return False
        age = now - self.oldest
        self.age = age if age > 0.0 else 0.0
        max_age = self.limits.max_age_s
        raw: Decision | None = None
        if age > max_age or age >= self.warn_age:
            state = TradingState.HALTED if age > max_age else TradingState.WARN
            raw = Decision(
                state,
                self.name,
                age,
                max_age,
                f"market data for {self.oldest_symbol} is {age:.2f} s old (max {max_age:g} s)",
            )
        before, before_due = self.decision, self.due
        if raw is None and self.cooldown.held is None and before is None:
            self.decision = None
        else:
            self.decision = self.cooldown.settle(raw, now)
        # Next change: WARN begins, HALTED begins (just past max age), or the cool-down ends.
        if age < self.warn_age:
            due = self.oldest + self.warn_age
        elif age <= max_age:
            due = self.oldest + max_age
        else:
            due = INF
        self.due = min(due, self.cooldown.release_at)
        return self.decision is not before or self.due < before_due

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        return self.age / self.limits.max_age_s

    def on_rearm(self, now: float) -> None:
        del now
