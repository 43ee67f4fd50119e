"""Consecutive losing trades: after `max_count` losses in a row, pause new orders.

The pause (HALTED) lasts `pause_s` and then the count starts again from zero: transient.
A fill with realized PnL < 0 is a loss, > 0 ends the run, == 0 changes nothing.
"""

from __future__ import annotations

from risk.decision import Decision
from risk.limits import ConsecutiveLossLimits
from risk.rules._common import INF, Recovery
from risk.state import TradingState

_SOURCES = ("telemetry", "venue")


class ConsecutiveLossesRule:
    name = "consecutive_losses"
    recovery = Recovery.TRANSIENT

    def __init__(self, limits: ConsecutiveLossLimits, warn_ratio: float) -> None:
        self.limits = limits
        self.warn_count = limits.max_count * warn_ratio if warn_ratio < 1.0 else INF
        self.counts = [0, 0]
        self.decision: Decision | None = None
        self.due = INF  # end of the pause

    def on_fill(self, source: int, realized_pnl: float, now: float) -> bool:
        counts = self.counts
        if realized_pnl < 0.0:
            counts[source] += 1
        elif realized_pnl > 0.0:
            counts[source] = 0
        else:
            return False
        if self.due != INF:
            return False  # already paused; the pause runs its course
        count = counts[source]
        before = self.decision
        if count >= self.limits.max_count:
            self.due = now + self.limits.pause_s
            self.decision = Decision(
                TradingState.HALTED,
                self.name,
                count,
                self.limits.max_count,
                f"{count} losing trades in a row ({_SOURCES[source]}): paused until {self.due:.3f}",
            )
            return True
        worst = max(counts)
        if worst >= self.warn_count:
            self.decision = Decision(
                TradingState.WARN,
                self.name,
                worst,
                self.limits.max_count,
                f"{worst} losing trades in a row, pause at {self.limits.max_count}",
            )
        else:
            self.decision = None
        return self.decision is not before

    def evaluate(self, now: float) -> bool:
        if now < self.due:
            return False
        self.counts = [0, 0]
        self.due = INF
        self.decision = None
        return True

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        return max(self.counts) / self.limits.max_count

    def on_rearm(self, now: float) -> None:
        del now
