"""Stale market data: the age of the oldest symbol's last market event against a maximum.

Over the maximum -> HALTED, transient (cool-down once fresh again). Stale continuously for
`kill_after_s` -> KILLED (latched through the engine); absent, a dead feed never kills. The
breach starts when the oldest symbol's age passes `max_age_s` (or at the report that reveals
a symbol already stale while the others were fresh) and lasts while some symbol stays stale:
with one symbol the kill is due at an age of `max_age_s + kill_after_s`. Only symbols the
trader has reported are watched; liveness of the trader itself is the heartbeat rule's job.
"""

from __future__ import annotations

import math

from risk.decision import Decision
from risk.limits import StaleDataLimits
from risk.rules._common import INF, Cooldown, Recovery, Sustain
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
        self.sustain = Sustain(limits.kill_after_s)
        self.fresh_at = -INF  # the last time every watched symbol was seen fresh
        self.decision: Decision | None = None
        self.due = INF

    def on_feed(self, symbol: str, last_event_ts: float, now: float) -> bool:
        if now <= self.oldest + self.limits.max_age_s:
            self.fresh_at = now  # fresh up to this report: a breach it reveals starts now
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
        # Levels compare times, not ages: `now` against the very times put into `due`, so a
        # wake-up at `due` always finds the level it was scheduled for (no float rounding gap).
        oldest, max_age = self.oldest, self.limits.max_age_s
        stale_at, warn_at = oldest + max_age, oldest + self.warn_age
        age = now - oldest
        self.age = age if age > 0.0 else 0.0
        stale = now > stale_at
        if not stale:
            self.fresh_at = now
        sustain = self.sustain
        sustain.track(stale, max(stale_at, self.fresh_at))
        raw: Decision | None = None
        if stale or now >= warn_at:
            raw = Decision(
                TradingState.HALTED if stale else TradingState.WARN,
                self.name,
                age,
                max_age,
                f"market data for {self.oldest_symbol} is {age:.2f} s old (max {max_age:g} s)",
            )
            if sustain.killed(now):
                raw = sustain.escalate(raw, now)
        before, before_due = self.decision, self.due
        if raw is None and self.cooldown.held is None and before is None:
            self.decision = None
        else:
            self.decision = self.cooldown.settle(raw, now)
        # Next change: WARN begins, HALTED begins (just past max age), the kill, the cool-down.
        if now < warn_at < stale_at:  # warn_at is INF when WARN is off
            due = warn_at
        elif not stale:
            due = math.nextafter(stale_at, INF)
        else:
            due = INF
        self.due = min(due, self.cooldown.release_at, sustain.due(now))
        return self.decision is not before or self.due < before_due

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        return self.age / self.limits.max_age_s

    def forget(self) -> None:
        """Drop every symbol's reports: the trader reports afresh (after a planned stop)."""
        self.last.clear()
        self.oldest_symbol = ""
        self.oldest = INF
        self.age = 0.0
        self.fresh_at = -INF
        self.sustain.track(False, INF)
        self.cooldown.clear()
        self.decision = None
        self.due = INF

    def on_rearm(self, now: float) -> None:
        self.sustain.restart(now)
        self.cooldown.clear()
        self.evaluate(now)
