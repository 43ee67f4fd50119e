"""Drawdown of marked equity from its high-water mark.

Soft limit -> REDUCING (transient: cool-down once back under); hard limit -> KILLED (latched).
Percent limits are of the high-water mark. The drawdown is never negative.

Each source (telemetry, venue) is measured against its own high-water mark and the worse
drawdown counts: the sources report at different moments, and a source that has not yet seen a
rise must not read the other's new peak as a fall. A fall either source sees still counts.
"""

from __future__ import annotations

from risk.decision import Decision
from risk.limits import DrawdownLimits
from risk.rules._common import INF, Cooldown, Recovery
from risk.state import TradingState


class DrawdownRule:
    name = "drawdown"
    recovery = Recovery.TRANSIENT  # the soft limit; the hard limit latches through the engine

    def __init__(
        self, limits: DrawdownLimits, warn_ratio: float, high_water_mark: float | None
    ) -> None:
        self.limits = limits
        self.warn_ratio = warn_ratio
        self.high_water_mark = high_water_mark  # the highest of the sources' marks: persisted
        self.marks: list[float | None] = [high_water_mark, high_water_mark]  # per source
        self.equity: list[float | None] = [None, None]
        self.current: float | None = None
        self.drawdown = 0.0
        self.soft = INF
        self.hard = INF
        self.cooldown = Cooldown(limits.cooldown_s)
        self.raw: Decision | None = None
        self.decision: Decision | None = None
        self.due = INF
        self._resolve()

    def _resolve(self) -> None:
        hwm = self.high_water_mark
        soft, hard = self.limits.soft.resolve(hwm), self.limits.hard.resolve(hwm)
        self.soft = INF if soft is None else soft
        self.hard = INF if hard is None else hard

    def on_equity(self, source: int, equity: float, now: float) -> bool:
        self.equity[source] = equity
        other = self.equity[1 - source]
        self.current = equity if other is None or equity < other else other
        own = self.marks[source]
        if own is None or equity > own:
            self.marks[source] = equity
        hwm = self.high_water_mark
        if hwm is None or equity > hwm:
            self.high_water_mark = equity
            self._resolve()
        return self._measure(now)

    def drop(self, source: int, now: float) -> bool:
        """`source`'s equity is too old to measure with: forget it until it reports again (its
        high-water mark stays). The engine halts on the blindness itself."""
        if self.equity[source] is None:
            return False
        self.equity[source] = None
        self.current = self.equity[1 - source]
        return self._measure(now)

    def _measure(self, now: float) -> bool:
        hwm = self.high_water_mark
        if hwm is None or self.current is None:
            return False
        drawdown = 0.0
        for mark, equity in zip(self.marks, self.equity, strict=True):
            if mark is not None and equity is not None and mark - equity > drawdown:
                drawdown = mark - equity
        self.drawdown = drawdown
        raw = self.raw
        if self.drawdown >= self.soft * self.warn_ratio or raw is not None:
            self.raw = raw = self._grade(self.drawdown, hwm)
        if raw is None and self.cooldown.held is None:
            changed = self.decision is not None
            self.decision = None
            return changed
        return self._settle(raw, now)

    def _settle(self, raw: Decision | None, now: float) -> bool:
        before, before_due = self.decision, self.due
        self.decision = self.cooldown.settle(raw, now)
        self.due = self.cooldown.release_at
        return self.decision is not before or self.due < before_due

    def _grade(self, drawdown: float, hwm: float) -> Decision | None:
        if drawdown > self.hard:
            state, limit, which = TradingState.KILLED, self.hard, "hard"
        elif drawdown > self.soft:
            state, limit, which = TradingState.REDUCING, self.soft, "soft"
        elif drawdown >= self.soft * self.warn_ratio and drawdown > 0.0:
            state, limit, which = TradingState.WARN, self.soft, "soft"
        else:
            return None
        return Decision(
            state,
            self.name,
            drawdown,
            limit,
            f"drawdown {drawdown:.2f} from high-water mark {hwm:.2f} against the {which} "
            f"limit {limit:.2f} quote",
        )

    def reset_high_water_mark(self) -> None:
        """An operator accepts the current equity as the new high-water mark (audited re-arm)."""
        if self.current is not None:
            self.high_water_mark = self.current
            self.marks = [self.current, self.current]
            self._resolve()
            self.drawdown = 0.0
            self.raw = None
            self.cooldown.clear()
            self.decision = None
            self.due = INF

    def evaluate(self, now: float) -> bool:
        if self.cooldown.held is None:
            return False
        return self._settle(self.raw, now)

    def hard_breach(self) -> Decision | None:
        raw = self.raw
        return raw if raw is not None and raw.state is TradingState.KILLED else None

    def utilisation(self) -> float:
        return self.drawdown / self.soft if self.soft not in (0.0, INF) else 0.0

    def on_rearm(self, now: float) -> None:
        # A KILLED decision held by the cool-down would re-latch at once: start fresh from
        # the measure (the re-arm was refused if it is still past the hard limit).
        self.cooldown.clear()
        self._settle(self.raw, now)
