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
from risk.state import TradingState

_SIDES = ("trader", "venue")  # indexed by EventSource
_TRADER = 0
MAX_UNMATCHED = 10_000  # per side: beyond it the oldest is dropped and counted as unmatched
_NAMED = 5  # order ids a reason names before "+N more"


@dataclass(slots=True)
class SnapshotGap:
    """A signed gap (telemetry minus venue) above its tolerance, held unchanged `since`."""

    value: float
    tolerance: float
    since: float


class OrderMatch:
    """Acknowledged orders seen by one side and not yet by the other, by order id.

    Anonymous events (no id) get a private integer key and match the other side's oldest
    entry; a named event that finds no entry of its id takes the other side's oldest anonymous
    one (a bot that sends no ids against a venue that always has them). An entry is in flight
    until it is `window` old, then unmatched. Both stay matchable.

    A restart (`started`, a reconnected venue stream) cannot compare what the trader reports
    in its first `window`: those acks may belong to orders whose venue event came while the
    stream was away. They are dropped unmatched, never counted. Orders only the venue shows
    are never excused: that is how someone else trading the key looks.
    """

    __slots__ = (
        "_anonymous",
        "_excused_until",
        "_last_key",
        "dropped",
        "in_flight",
        "seen",
        "unmatched",
        "window",
    )

    def __init__(self, window: float, started: float = -INF) -> None:
        self.window = window
        self._excused_until = started + window
        self.in_flight: tuple[dict[object, float], ...] = ({}, {})  # key -> arrival, oldest first
        self.unmatched: tuple[dict[object, float], ...] = ({}, {})
        self.seen = [False, False]  # a side's entries count only once the other side reports
        self.dropped = [0, 0]  # unmatched entries evicted past MAX_UNMATCHED: still counted
        self._anonymous = [0, 0]  # anonymous entries held per side: no scan when there are none
        self._last_key = 0

    def on_ack(self, source: int, order_id: str, now: float) -> None:
        self.seen[source] = True
        other = 1 - source
        if order_id:
            for pending in (self.unmatched[other], self.in_flight[other]):
                if pending.pop(order_id, None) is not None:
                    return
        if self._match_oldest(other, anonymous_only=bool(order_id)):
            return
        key: object = order_id or self._new_anonymous(source)
        flight = self.in_flight[source]
        flight[key] = now
        if len(flight) + len(self.unmatched[source]) > MAX_UNMATCHED:
            oldest = self.unmatched[source] or flight
            self._remove(source, oldest, next(iter(oldest)))
            if self.seen[other]:  # else nothing compares this side yet: nothing is lost
                self.dropped[source] += 1

    def _match_oldest(self, side: int, *, anonymous_only: bool) -> bool:
        if anonymous_only and not self._anonymous[side]:
            return False
        for pending in (self.unmatched[side], self.in_flight[side]):
            for key in pending:
                if not anonymous_only or isinstance(key, int):
                    self._remove(side, pending, key)
                    return True
        return False

    def _new_anonymous(self, side: int) -> int:
        self._anonymous[side] += 1
        self._last_key += 1
        return self._last_key

    def _remove(self, side: int, pending: dict[object, float], key: object) -> None:
        del pending[key]
        if isinstance(key, int):
            self._anonymous[side] -= 1

    def expire(self, now: float) -> None:
        """Move entries older than the window, on sides whose counterpart reports, to unmatched."""
        for side in (0, 1):
            if not self.seen[1 - side]:
                continue
            flight, late = self.in_flight[side], self.unmatched[side]
            while flight:
                key, at = next(iter(flight.items()))
                if now - at < self.window:
                    break
                if side == _TRADER and at < self._excused_until:
                    self._remove(side, flight, key)  # acked across the restart: not comparable
                    continue
                del flight[key]
                late[key] = at

    def count(self) -> int:
        return len(self.unmatched[0]) + len(self.unmatched[1]) + sum(self.dropped)

    def next_due(self) -> float:
        """When the oldest entry now in flight leaves the window; INF when none will."""
        due = INF
        for side in (0, 1):
            flight = self.in_flight[side]
            if flight and self.seen[1 - side]:
                due = min(due, next(iter(flight.values())) + self.window)
        return due

    def describe(self) -> str:
        """The unmatched orders by side: the first ids, then how many more."""
        parts = []
        for side in (0, 1):
            ids = [k for k in self.unmatched[side] if isinstance(k, str)]
            words = [", ".join(ids[:_NAMED])] if ids else []
            counts = (
                (len(ids) - _NAMED, "more"),
                (len(self.unmatched[side]) - len(ids), "without id"),
                (self.dropped[side], f"dropped past {MAX_UNMATCHED}"),
            )
            words += [f"{n} {what}" for n, what in counts if n > 0]
            if words:
                parts.append(f"{_SIDES[side]} only: {', '.join(words)}")
        return "; ".join(parts)


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
        self.orders = OrderMatch(self.limits.reorder_s)
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
        self.orders = OrderMatch(self.limits.reorder_s, started=now)
        return self.evaluate(now)

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        return 1.0 if self.raw is not None else 0.0

    def on_rearm(self, now: float) -> None:
        self._forget()
        self.cooldown.clear()
        self.evaluate(now)
