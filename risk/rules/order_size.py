"""Order size: each order's quantity and notional, judged as the trader submits it (a
TELEMETRY SUBMIT) and as the venue acknowledges it (a VENUE ACK), so that a runaway order is
acted on at its acknowledgement, not at its fill.

Notional is qty x the order's price; a market order (price 0) is priced at the venue's fresh
mid (the price collar's), and without one is judged by its quantity only. Percent limits are
of the day-start equity; until it is known only quote limits apply (the daily-loss rule halts
meanwhile). WARN from `warn_at_pct` of a limit, HALTED over it, KILLED at `kill_multiple`
times it; the verdict holds `cooldown_s` after the last order that reached the warn level
(transient).
"""

from __future__ import annotations

from risk.decision import Decision
from risk.events import OrderEvent
from risk.limits import OrderSizeLimits
from risk.rules._common import INF, PerOrderRule, grade_order, order_words
from risk.state import TradingState


class OrderSizeRule(PerOrderRule):
    name = "order_size"

    def __init__(self, limits: OrderSizeLimits, warn_ratio: float, base: float | None) -> None:
        super().__init__(limits.cooldown_s)
        self.limits = limits
        self.warn_ratio = warn_ratio
        self.max_qty = {s.symbol: s.max_qty for s in limits.symbols if s.max_qty is not None}
        self.set_base(base)

    def set_base(self, base: float | None) -> None:
        """The day-start equity that percent limits are of."""
        value = self.limits.max_notional.resolve(base)
        self.default_notional = INF if value is None else value
        self.max_notional: dict[str, float] = {}
        for s in self.limits.symbols:
            if s.max_notional is not None:
                resolved = s.max_notional.resolve(base)
                self.max_notional[s.symbol] = INF if resolved is None else resolved
        # symbol -> (notional, quantity) below which an order is under the warn level: one
        # lookup and two comparisons for the common order, on the hot path
        self._quiet: dict[str, tuple[float, float]] = {}

    def _quiet_below(self, symbol: str) -> tuple[float, float]:
        notional = self.max_notional.get(symbol, self.default_notional)
        qty = self.max_qty.get(symbol, INF)
        quiet = self._quiet[symbol] = (notional * self.warn_ratio, qty * self.warn_ratio)
        return quiet

    def on_order(self, e: OrderEvent, price: float, now: float) -> bool:
        """Judge one order (the engine passes TELEMETRY SUBMITs and VENUE ACKs) at `price`:
        its own, or for a market order the venue's mid (0.0 when unknown)."""
        symbol, qty = e.symbol, e.qty
        quiet = self._quiet.get(symbol) or self._quiet_below(symbol)
        if qty * price < quiet[0] and qty < quiet[1]:
            return False
        notional_max = self.max_notional.get(symbol, self.default_notional)
        value, limit, what = qty * price, notional_max, "notional"
        qty_max = self.max_qty.get(symbol)
        if qty_max is not None and qty / qty_max > value / limit:
            value, limit, what = qty, qty_max, "quantity"
        state = grade_order(value, limit, self.warn_ratio, self.limits.kill_multiple)
        if state is TradingState.ACTIVE:
            return False
        order, judged = order_words(e.order_id, symbol, e.side.value, e.source)
        reason = f"{order} {what} {value:g} vs max {limit:g} ({judged})"
        return self.hold(Decision(state, self.name, value, limit, reason), now)
