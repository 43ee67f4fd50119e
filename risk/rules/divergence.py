"""Divergence: the trader's telemetry against the venue's own view of the same account.

Compared once both sources have reported the measure: the open-order count, each symbol's
position quantity, and the number of orders acknowledged (ACK events). A gap above its
tolerance is a WARN during `grace_s` (orders in flight) and graded `grade` once it has
lasted that long. Position quantities also allow a relative 1e-9 for float rounding.
Transient: recovers after a cool-down of `grace_s` once the views agree. A re-arm forgets
both views (the trader restarts, the venue is re-read); the daily reset restarts the order
count comparison.
"""

from __future__ import annotations

from risk.decision import Decision
from risk.limits import DivergenceLimits
from risk.rules._common import INF, Cooldown, Recovery
from risk.state import TradingState


class DivergenceRule:
    name = "divergence"
    recovery = Recovery.TRANSIENT

    def __init__(self, limits: DivergenceLimits) -> None:
        self.limits = limits
        self.cooldown = Cooldown(limits.grace_s)
        self.decision: Decision | None = None
        self.due = INF
        self._forget()

    def _forget(self) -> None:
        self.open_orders: list[int | None] = [None, None]
        self.positions: tuple[dict[str, float], ...] = ({}, {})
        self.positions_seen = [False, False]
        self.acks = [0, 0]
        self.orders_seen = [False, False]
        self.gaps: dict[str, tuple[float, float]] = {}  # measure -> (gap, tolerance)
        self.since = INF  # since when some gap has been open
        self.raw: Decision | None = None

    def on_open_orders(self, source: int, count: int, now: float) -> bool:
        self.open_orders[source] = count
        other = self.open_orders[1 - source]
        if other is None:
            return False
        return self._gap("open_orders", abs(count - other), self.limits.open_orders, now)

    def on_position(self, source: int, symbol: str, qty: float, now: float) -> bool:
        self.positions[source][symbol] = qty
        self.positions_seen[source] = True
        if not self.positions_seen[1 - source]:
            return False
        other = self.positions[1 - source].get(symbol, 0.0)
        slack = 1e-9 * max(abs(qty), abs(other))
        gap = abs(qty - other)
        return self._gap(f"position {symbol}", gap, self.limits.position_qty + slack, now)

    def on_ack(self, source: int, now: float) -> bool:
        acks = self.acks
        acks[source] += 1
        self.orders_seen[source] = True
        if not self.orders_seen[1 - source]:
            return False
        return self._gap("order_count", abs(acks[0] - acks[1]), self.limits.order_count, now)

    def _gap(self, key: str, gap: float, tolerance: float, now: float) -> bool:
        gaps = self.gaps
        if gap > tolerance:
            gaps[key] = (gap, tolerance)
        elif key in gaps:
            del gaps[key]
        else:
            return False
        return self.evaluate(now)

    def evaluate(self, now: float) -> bool:
        gaps = self.gaps
        raw: Decision | None = None
        if gaps:
            if self.since == INF:
                self.since = now
            key = max(gaps, key=lambda k: gaps[k][0] - gaps[k][1])
            gap, tolerance = gaps[key]
            lasted = now - self.since
            graded = lasted >= self.limits.grace_s
            state = self.limits.grade if graded else TradingState.WARN
            raw = Decision(
                state,
                self.name,
                gap,
                tolerance,
                f"{key}: trader and venue differ by {gap:g} (tolerance {tolerance:g}) "
                f"for {lasted:.2f} s (grace {self.limits.grace_s:g} s)",
            )
        else:
            self.since = INF
        self.raw = raw
        before, before_due = self.decision, self.due
        if raw is None and self.cooldown.held is None:
            self.decision = None
        else:
            self.decision = self.cooldown.settle(raw, now)
        grace_due = self.since + self.limits.grace_s
        self.due = min(grace_due if grace_due > now else INF, self.cooldown.release_at)
        return self.decision is not before or self.due < before_due

    def reset_counts(self, now: float) -> bool:
        """The daily reset restarts the acknowledged-order comparison, so that a datagram
        lost now and then cannot add up to a breach over weeks."""
        self.acks = [0, 0]
        self.orders_seen = [False, False]
        if "order_count" not in self.gaps:
            return False
        del self.gaps["order_count"]
        return self.evaluate(now)

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        return 1.0 if self.gaps else 0.0

    def on_rearm(self, now: float) -> None:
        self._forget()
        self.cooldown.clear()
        self.evaluate(now)
