"""Open orders per symbol: a runaway that rests order after order in one symbol, each small
enough for the per-order limits and slow enough for the order-rate limit.

Each side keeps its own book by client order id: the trader's from its SUBMITs, the venue's
from its ACKs; an order leaves at its REJECT or CANCEL, or once its FILLs reach its quantity.
The larger count of the two is graded: WARN from `warn_at_pct` of `max_per_symbol`, HALTED
over it, KILLED at `kill_multiple` times it; transient, with a cool-down of `cooldown_s`.
Orders without a client id cannot be followed to their end and are not counted.

A book only knows what it was told: the venue's is forgotten each time its stream (re)connects
(orders placed while it was away are not counted until the next connection), both at the
daily reset and at a re-arm, so that an end-of-order report lost now and then cannot add up
to a halt over weeks. Each book holds at most `MAX_TRACKED` orders, the oldest dropped first.
"""

from __future__ import annotations

from risk.decision import Decision
from risk.limits import OpenOrderLimits
from risk.rules._common import INF, Cooldown, Recovery, grade_order
from risk.state import TradingState

MAX_TRACKED = 10_000  # orders per side
_SIDES = ("trader", "venue")  # indexed by EventSource


class OpenOrdersRule:
    name = "open_orders"
    recovery = Recovery.TRANSIENT

    def __init__(self, limits: OpenOrderLimits, warn_ratio: float) -> None:
        self.limits = limits
        self.warn_ratio = warn_ratio
        # Below this many orders in a symbol nothing needs grading: the common case.
        self.quiet_below = limits.max_per_symbol * warn_ratio
        self.cooldown = Cooldown(limits.cooldown_s)
        self.books: tuple[dict[str, dict[str, float]], ...] = ({}, {})  # symbol -> id -> qty left
        self.held: tuple[dict[str, str], ...] = ({}, {})  # order id -> symbol, oldest first
        self.decision: Decision | None = None
        self.raw: Decision | None = None
        self.due = INF

    def forget(self, source: int, now: float) -> bool:
        """Start one side's book afresh (see the module docstring for when)."""
        self.books[source].clear()
        self.held[source].clear()
        return self._regrade(now)

    def on_new(self, source: int, symbol: str, order_id: str, qty: float, now: float) -> bool:
        """The trader's SUBMIT or the venue's ACK of an order."""
        held = self.held[source]
        if order_id in held:
            return False
        book = self.books[source].setdefault(symbol, {})
        book[order_id] = qty
        held[order_id] = symbol
        if len(held) > MAX_TRACKED:
            oldest = next(iter(held))
            self._drop(source, oldest)
        if len(book) < self.quiet_below and self.raw is None:
            return False
        return self._regrade(now)

    def on_fill(self, source: int, order_id: str, qty: float, now: float) -> bool:
        symbol = self.held[source].get(order_id)
        if symbol is None:
            return False
        book = self.books[source][symbol]
        left = book[order_id] - qty
        if left > book[order_id] * 1e-9:
            book[order_id] = left
            return False
        return self.on_end(source, order_id, now)

    def on_end(self, source: int, order_id: str, now: float) -> bool:
        """A REJECT or CANCEL: the order is no longer open."""
        if not self._drop(source, order_id):
            return False
        return self.raw is not None and self._regrade(now)

    def _drop(self, source: int, order_id: str) -> bool:
        symbol = self.held[source].pop(order_id, None)
        if symbol is None:
            return False
        book = self.books[source][symbol]
        del book[order_id]
        if not book:
            del self.books[source][symbol]
        return True

    def _regrade(self, now: float) -> bool:
        worst: tuple[int, str, int] | None = None  # (count, symbol, source)
        for source in (0, 1):
            for symbol, book in self.books[source].items():
                if worst is None or len(book) > worst[0]:
                    worst = (len(book), symbol, source)
        raw = None
        if worst is not None:
            count, symbol, source = worst
            limit = self.limits.max_per_symbol
            state = grade_order(count, limit, self.warn_ratio, self.limits.kill_multiple)
            if state is not TradingState.ACTIVE:
                reason = f"{symbol}: {count} open orders ({_SIDES[source]}'s book), max {limit}"
                raw = Decision(state, self.name, float(count), float(limit), reason)
        self.raw = raw
        before, before_due = self.decision, self.due
        self.decision = self.cooldown.settle(raw, now)
        self.due = self.cooldown.release_at
        return self.decision is not before or self.due != before_due

    def evaluate(self, now: float) -> bool:
        return self.cooldown.held is not None and self._regrade(now)

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        raw = self.raw
        return raw.value / raw.limit if raw is not None else 0.0

    def on_rearm(self, now: float) -> None:
        self.cooldown.clear()
        self.forget(0, now)
        self.forget(1, now)
