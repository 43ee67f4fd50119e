"""Divergence: the trader's telemetry against the venue's own view of the same account.

Data in flight is not divergence. The two sides see the same facts at different moments (the
trader reports an ACK when its REST answer arrives, the venue's user stream says NEW on its own
schedule; each side reads its snapshots at its own instants), so every comparison allows a
reorder window of `reorder_s` before a difference counts at all:

- Acknowledged orders are matched one by one, by order id (the client order id; events without
  one match the oldest unmatched event of the other side). An ACK seen on one side only is in
  flight until `reorder_s` has passed; then it is unmatched, and more than `order_count`
  unmatched orders are a divergence naming them. A late match still clears it.
- Snapshot measures (the open-order count, each symbol's position quantity) diverge when the
  same signed gap above its tolerance has held for `reorder_s`: a gap that changes is data
  still moving, and its clock restarts. Position quantities also allow a relative 1e-9 for
  float rounding.

An established divergence is a WARN during `grace_s` and graded `grade` once it has lasted
that long. Transient: recovers after a cool-down of `grace_s` once the views agree. A re-arm
forgets both views (the trader restarts, the venue is re-read); the daily reset and a
reconnected venue stream restart the order matching.
"""

from __future__ import annotations

from dataclasses import dataclass

from risk.decision import Decision
from risk.limits import DivergenceLimits
from risk.rules._common import INF, Cooldown, Recovery
from risk.rules.order_match import OrderMatch
from risk.state import TradingState


@dataclass(slots=True)
class SnapshotGap:
    """A signed gap (telemetry minus venue) above its tolerance, held unchanged `since`."""

    value: float
    tolerance: float
    since: float


class DivergenceRule:
    name = "divergence"
    recovery = Recovery.TRANSIENT

    def __init__(self, limits: DivergenceLimits, orders: OrderMatch) -> None:
        """`orders` is shared with the key-misuse rule; this rule owns its ACK side."""
        self.limits = limits
        self.cooldown = Cooldown(limits.grace_s)
        self.decision: Decision | None = None
        self.due = INF
        self.orders = orders
        self._forget()

    def _forget(self) -> None:
        self.open_orders: list[int | None] = [None, None]
        self.positions: tuple[dict[str, float], ...] = ({}, {})
        self.positions_seen = [False, False]
        self.orders.restart(-INF)
        self.gaps: dict[str, SnapshotGap] = {}  # snapshot measure -> its gap, in flight or not
        self.since = INF  # since when some divergence has been established
        self.raw: Decision | None = None

    def on_open_orders(self, source: int, count: int, now: float) -> bool:
        self.open_orders[source] = count
        other = self.open_orders[1 - source]
        if other is None:
            return False
        gap = count - other if source == 0 else other - count
        return self._gap("open_orders", gap, self.limits.open_orders, now)

    def on_position(self, source: int, symbol: str, qty: float, now: float) -> bool:
        self.positions[source][symbol] = qty
        self.positions_seen[source] = True
        if not self.positions_seen[1 - source]:
            return False
        other = self.positions[1 - source].get(symbol, 0.0)
        slack = 1e-9 * max(abs(qty), abs(other))
        gap = qty - other if source == 0 else other - qty
        return self._gap(f"position {symbol}", gap, self.limits.position_qty + slack, now)

    def on_ack(self, source: int, order_id: str, now: float) -> bool:
        orders = self.orders
        before = (orders.count(), orders.next_due())
        orders.on_ack(source, order_id, now)
        if (orders.count(), orders.next_due()) == before:
            return False  # matched in flight, or queued behind an older one: nothing to decide
        return self.evaluate(now)

    def _gap(self, key: str, gap: float, tolerance: float, now: float) -> bool:
        gaps = self.gaps
        held = gaps.get(key)
        if abs(gap) <= tolerance:
            if held is None:
                return False
            del gaps[key]
        elif held is None or abs(held.value - gap) > tolerance:
            gaps[key] = SnapshotGap(gap, tolerance, now)  # a new gap: its window starts now
        else:
            return False  # the same gap again: its window keeps running
        return self.evaluate(now)

    def evaluate(self, now: float) -> bool:
        window = self.limits.reorder_s
        self.orders.expire(now)
        worst: tuple[str, float, float] | None = None  # (measure, gap, tolerance)
        pending = self.orders.next_due()
        for key, gap in self.gaps.items():
            if now - gap.since < window:
                pending = min(pending, gap.since + window)
            elif worst is None or abs(gap.value) - gap.tolerance > worst[1] - worst[2]:
                worst = (key, abs(gap.value), gap.tolerance)
        unmatched = self.orders.count()
        tolerated = self.limits.order_count
        if unmatched > tolerated and (
            worst is None or unmatched - tolerated >= worst[1] - worst[2]
        ):
            worst = ("orders", float(unmatched), float(tolerated))
        raw = self._raw(worst, now)
        self.raw = raw
        before, before_due = self.decision, self.due
        if raw is None and self.cooldown.held is None:
            self.decision = None
        else:
            self.decision = self.cooldown.settle(raw, now)
        grace_due = self.since + self.limits.grace_s
        self.due = min(grace_due if grace_due > now else INF, pending, self.cooldown.release_at)
        return self.decision is not before or self.due < before_due

    def _raw(self, worst: tuple[str, float, float] | None, now: float) -> Decision | None:
        if worst is None:
            self.since = INF
            return None
        if self.since == INF:
            self.since = now
        key, gap, tolerance = worst
        lasted = now - self.since
        state = self.limits.grade if lasted >= self.limits.grace_s else TradingState.WARN
        if key == "orders":
            what = (
                f"orders: {gap:g} acknowledged on one side only past the "
                f"{self.limits.reorder_s:g} s reorder window (tolerance {tolerance:g}): "
                f"{self.orders.describe()}"
            )
        else:
            what = (
                f"{key}: trader and venue differ by {gap:g} (tolerance {tolerance:g}), "
                f"unchanged for {self.limits.reorder_s:g} s or more"
            )
        reason = f"{what}; diverged for {lasted:.2f} s (grace {self.limits.grace_s:g} s)"
        return Decision(state, self.name, gap, tolerance, reason)

    def reset_counts(self, now: float) -> bool:
        """The daily reset and a reconnected venue stream restart the order matching, so that
        a datagram lost now and then cannot add up to a breach over weeks, and orders the
        stream never saw are not read as unmatched."""
        self.orders.restart(now)
        return self.evaluate(now)

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        return 1.0 if self.raw is not None else 0.0

    def on_rearm(self, now: float) -> None:
        self._forget()
        self.cooldown.clear()
        self.evaluate(now)
