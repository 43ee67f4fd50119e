"""Order rate: new orders per sliding window, one window set per source.

Window edge (exact): an order at `ts` is inside the window of `seconds` while
`now < ts + seconds`; at `now == ts + seconds` it has left. Each order is appended once and
popped once, so the cost per event is O(1) amortized.

Over any window -> HALTED (transient, cool-down once every window is back under). Over some
window continuously for `kill_after_s` -> KILLED (latched through the engine). TELEMETRY
counts the trader's SUBMITs; VENUE counts orders the venue reports as new (ACK).
"""

from __future__ import annotations

import math
from collections import deque

from risk.decision import Decision
from risk.limits import OrderRateLimits
from risk.rules._common import INF, Cooldown, Recovery
from risk.state import TradingState

_SOURCES = ("telemetry", "venue")


class SlidingWindow:
    """Counts timestamps in the half-open window (now - seconds, now]."""

    __slots__ = ("max_orders", "seconds", "times", "warn_count")

    def __init__(self, seconds: float, max_orders: int, warn_ratio: float) -> None:
        self.seconds = seconds
        self.max_orders = max_orders
        # Counts are integers: "count >= max * ratio" is "count >= ceil(max * ratio)".
        self.warn_count = math.ceil(max_orders * warn_ratio) if warn_ratio < 1.0 else INF
        self.times: deque[float] = deque()

    def level_drop_at(self) -> float:
        """When the count next falls below its current level's floor (over the limit ->
        at most the limit; at WARN -> under the warn count); INF when below both."""
        times, count = self.times, len(self.times)
        if count > self.max_orders:
            leaving = count - self.max_orders
        elif count >= self.warn_count:
            leaving = count - int(self.warn_count) + 1
        else:
            return INF
        return times[leaving - 1] + self.seconds

    def expire(self, now: float) -> int:
        """Drop what has left the window at `now`; return the count still inside."""
        times, seconds = self.times, self.seconds
        while times and times[0] + seconds <= now:
            times.popleft()
        return len(times)

    def add(self, now: float) -> int:
        self.expire(now)
        self.times.append(now)
        return len(self.times)


class OrderRateRule:
    name = "order_rate"
    recovery = Recovery.TRANSIENT  # the halt; a sustained breach latches through the engine

    def __init__(self, limits: OrderRateLimits, warn_ratio: float) -> None:
        self.limits = limits
        self.windows = tuple(
            tuple(SlidingWindow(w.seconds, w.max_orders, warn_ratio) for w in limits.windows)
            for _ in _SOURCES
        )
        self.over_since = INF  # since when some window has been over its limit continuously
        self.cooldown = Cooldown(limits.cooldown_s)
        self.raw: Decision | None = None
        self.decision: Decision | None = None
        self.due = INF
        self.hot = False  # some window at or above its warn count: re-grade on every change
        self._raw_key: tuple[int, int, int, int] | None = None  # what `raw` was graded from

    def on_order(self, source: int, now: float) -> bool:
        hot = False
        over = False
        for window in self.windows[source]:
            count = window.expire(now)
            # An expiry just now may have ended the breach before this order re-opens it:
            # checking between expiry and append keeps "sustained" exact.
            if count > window.max_orders:
                over = True
            window.times.append(now)
            if count + 1 >= window.warn_count:
                hot = True
        if not over and self.over_since != INF and not self._any_over(now):
            self.over_since = INF
        if not hot and not self.hot and self.cooldown.held is None:
            return False
        return self._regrade(now)

    def _any_over(self, now: float) -> bool:
        return any(w.expire(now) > w.max_orders for ws in self.windows for w in ws)

    def _regrade(self, now: float) -> bool:
        worst: tuple[float, SlidingWindow, int, int] | None = None
        hot = False
        for source, windows in enumerate(self.windows):
            for window in windows:
                count = window.expire(now)
                if count >= window.warn_count:
                    hot = True
                    ratio = count / window.max_orders
                    if worst is None or ratio > worst[0]:
                        worst = (ratio, window, count, source)
        self.hot = hot
        over = worst is not None and worst[2] > worst[1].max_orders
        if not over:
            self.over_since = INF
        elif self.over_since == INF:
            self.over_since = now
        if worst is None:
            self.raw = self._raw_key = None
        else:
            _, window, count, source = worst
            state = self._state(window, count, now)
            key = (state, count, id(window), source)
            if key != self._raw_key:  # at a steady rate the count often stays put: reuse
                self._raw_key = key
                self.raw = self._grade(window, count, source, now)
        return self._settle(now)

    def _state(self, window: SlidingWindow, count: int, now: float) -> int:
        if count <= window.max_orders:
            return TradingState.WARN
        if now >= self._kill_due():
            return TradingState.KILLED
        return TradingState.HALTED

    def _grade(self, window: SlidingWindow, count: int, source: int, now: float) -> Decision:
        where = f"{count} orders in {window.seconds:g} s ({_SOURCES[source]})"
        limit = float(window.max_orders)
        if count <= window.max_orders:
            return Decision(
                TradingState.WARN, self.name, float(count), limit, f"{where}, limit {limit:g}"
            )
        sustained = now - self.over_since
        if now >= self._kill_due():
            return Decision(
                TradingState.KILLED,
                self.name,
                float(count),
                limit,
                f"{where} over the limit {limit:g} for {sustained:.1f} s "
                f"(kill after {self.limits.kill_after_s:g} s)",
            )
        return Decision(
            TradingState.HALTED, self.name, float(count), limit, f"{where} over {limit:g}"
        )

    def _settle(self, now: float) -> bool:
        before, before_due = self.decision, self.due
        self.decision = self.cooldown.settle(self.raw, now)
        kill_at = self._kill_due()
        wake_for_kill = kill_at if kill_at > now else INF  # a kill that happened needs no timer
        self.due = min(self.cooldown.release_at, self._next_expiry(), wake_for_kill)
        return self.decision is not before or self.due < before_due

    def _next_expiry(self) -> float:
        """When some hot window's count falls below its level: the next possible drop."""
        due = INF
        if self.hot:
            for windows in self.windows:
                for w in windows:
                    at = w.level_drop_at()
                    if at < due:
                        due = at
        return due

    def _kill_due(self) -> float:
        """The kill time: the one expression both the decision and the wake-up use, so the
        wake-up is never a float rounding short of the kill."""
        if self.over_since == INF:
            return INF
        return self.over_since + self.limits.kill_after_s

    def count(self, source: int, window_index: int, now: float) -> int:
        """Orders from `source` inside window `window_index` at `now`."""
        return self.windows[source][window_index].expire(now)

    def evaluate(self, now: float) -> bool:
        if not self.hot and self.cooldown.held is None:
            return False
        return self._regrade(now)

    def hard_breach(self) -> Decision | None:
        return None  # a re-arm restarts the sustain clock; the windows keep counting

    def utilisation(self) -> float:
        return max((len(w.times) / w.max_orders for ws in self.windows for w in ws), default=0.0)

    def on_rearm(self, now: float) -> None:
        if self.over_since != INF:
            self.over_since = now
        self.cooldown.clear()
        self._regrade(now)
