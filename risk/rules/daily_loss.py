"""Daily loss: marked equity against the day-start equity. Sticky until the daily reset.

With `action = "killed"` a breach also latches the engine; a re-arm is refused until the
daily reset has cleared the breach.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from risk.decision import Decision
from risk.events import EventSource
from risk.limits import DailyLossLimits
from risk.rules._common import INF, Recovery
from risk.state import TradingState

_UNKNOWN = Decision(
    TradingState.HALTED,
    "daily_loss",
    0.0,
    0.0,
    "equity unknown: no account snapshot yet, so the day's loss cannot be measured",
)


class DailyLossRule:
    name = "daily_loss"
    recovery = Recovery.STICKY

    def __init__(
        self, limits: DailyLossLimits, warn_ratio: float, day_start_equity: float | None
    ) -> None:
        self.limits = limits
        self.warn_ratio = warn_ratio
        self.due = INF
        self.day_start_equity = day_start_equity
        self.equity: list[float | None] = [None, None]  # latest per EventSource
        self.current: float | None = None  # the worse (lower) of the sources
        self.stale: tuple[int, str] | None = None  # (source, why): its equity was dropped
        self.loss = 0.0
        self.limit: float | None = None
        self.warn_at = INF
        self.sticky: Decision | None = None
        self.decision: Decision | None = _UNKNOWN
        self._resolve()

    def _resolve(self) -> None:
        self.limit = self.limits.max_loss.resolve(self.day_start_equity)
        self.warn_at = INF if self.limit is None else self.limit * self.warn_ratio

    def on_equity(self, source: int, equity: float) -> bool:
        """A new marked equity from `source`; True when the decision changed."""
        self.equity[source] = equity
        if self.stale is not None and self.stale[0] == source:
            self.stale = None
        other = self.equity[1 - source]
        self.current = equity if other is None or equity < other else other
        if self.day_start_equity is None and self.stale is None:
            self.day_start_equity = self.current  # never from one source while the other is stale
            self._resolve()
        return self._measure()

    def drop(self, source: int, why: str) -> bool:
        """`source`'s equity is too old to measure with: forget it until it reports again.

        The other source alone can still show a breach, never that all is well: until the
        dropped source returns the day's loss is unknown, and unknown halts.
        """
        if self.stale is not None and self.stale[0] == source:
            return False
        self.equity[source] = None
        self.stale = (source, why)
        self.current = self.equity[1 - source]
        return self._measure()

    def _measure(self) -> bool:
        before = self.decision
        limit, current, start = self.limit, self.current, self.day_start_equity
        if limit is None or current is None or start is None:
            self.decision = _UNKNOWN if self.stale is None else self._unknown(None, limit)
            return self.decision != before
        loss = start - current
        self.loss = loss
        if self.sticky is not None:
            self.decision = self.sticky
        elif loss > limit:
            self.sticky = self.decision = Decision(
                self.limits.action,
                self.name,
                loss,
                limit,
                f"daily loss {loss:.2f} exceeds {limit:.2f} quote "
                f"({self.limits.max_loss.describe()} of day-start equity {start:.2f}); "
                "holds until the daily reset",
            )
        elif self.stale is not None:
            self.decision = self._unknown(loss, limit)
        elif loss >= self.warn_at and loss > 0.0:
            self.decision = Decision(
                TradingState.WARN,
                self.name,
                loss,
                limit,
                f"daily loss {loss:.2f} nears its {limit:.2f} quote limit",
            )
        else:
            self.decision = None
        return self.decision is not before

    def _unknown(self, loss: float | None, limit: float | None) -> Decision:
        assert self.stale is not None
        other = EventSource(1 - self.stale[0]).name.lower()
        seen = "" if loss is None else f"; the {other} alone shows a loss of {loss:.2f}"
        return Decision(
            TradingState.HALTED,
            self.name,
            0.0 if loss is None else loss,
            0.0 if limit is None else limit,
            f"the day's loss is unknown: {self.stale[1]}{seen}",
        )

    def reset_day(self) -> bool:
        """The daily reset: the current equity becomes the day start and the breach clears.

        While a source is stale the day start is unknown until it reports again: the other
        source alone would set the whole day's limit on its word."""
        self.day_start_equity = self.current if self.stale is None else None
        self.sticky = None
        self._resolve()
        return self._measure()

    def evaluate(self, now: float) -> bool:
        del now
        return False

    def hard_breach(self) -> Decision | None:
        return self.sticky

    def utilisation(self) -> float:
        if not self.limit:
            return 0.0
        return max(0.0, self.loss) / self.limit

    def on_rearm(self, now: float) -> None:
        del now


def next_reset(now: float, limits: DailyLossLimits) -> float:
    """The first daily-reset instant strictly after `now` (wall seconds), DST-aware."""
    tz = limits.tz
    local = datetime.fromtimestamp(now, tz)
    candidate = datetime.combine(local.date(), limits.reset_time, tzinfo=tz).timestamp()
    if candidate <= now:
        tomorrow = local.date() + timedelta(days=1)
        candidate = datetime.combine(tomorrow, limits.reset_time, tzinfo=tz).timestamp()
    return candidate
