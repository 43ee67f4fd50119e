"""Pre-trade risk inside the trader, with the same limits file as the watchdog.

Defence in depth, never a replacement for the watchdog: a bug here and in the strategy at once
is still caught outside the process. Two layers:

- a ``RiskEngine`` fed with the same facts the trader reports, whose state joins the
  watchdog's (the worse one wins);
- a per-order check before the send: the trading state, the order-rate windows (kept strictly
  below the watchdog's limit, so the trader throttles itself before the watchdog halts it) and
  the position limits after a worst-case fill. Reduce-only orders that truly reduce always pass:
  exits are never blocked.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from risk import (
    AccountSnapshot,
    Limits,
    RiskEngine,
    TradingState,
    allows_new_orders,
    parse_limits,
)
from risk.decision import Assessment
from risk.events import RiskEvent
from trader.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Denial:
    """A refused order: which rule and why (an event, not an exception)."""

    rule: str
    reason: str


def load_limits(path: Path) -> Limits:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the limits file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 ({exc.reason})") from None
    try:
        return parse_limits(text, str(path))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


class _Window:
    __slots__ = ("max_orders", "seconds", "times")

    def __init__(self, seconds: float, max_orders: int) -> None:
        self.seconds = seconds
        self.max_orders = max_orders
        self.times: deque[float] = deque()

    def room(self, now: float) -> bool:
        times = self.times
        while times and times[0] <= now - self.seconds:
            times.popleft()
        return len(times) < self.max_orders


class PreTradeRisk:
    def __init__(self, limits: Limits, *, now: float) -> None:
        self.limits = limits
        self.engine = RiskEngine(limits, now=now)
        self._windows = tuple(_Window(w.seconds, w.max_orders) for w in limits.order_rate.windows)
        self._per_symbol = {s.symbol: s for s in limits.position.symbols}
        self._equity: float | None = None
        self._day_start_equity: float | None = None

    @property
    def state(self) -> TradingState:
        return self.engine.state

    def apply(self, event: RiskEvent, now: float) -> Assessment:
        assessment = self.engine.apply(event, now)
        if isinstance(event, AccountSnapshot):
            # Percent limits are of the day-start equity; read it here, not per order.
            self._day_start_equity = self.engine.persisted().day_start_equity
        return assessment

    def evaluate(self, now: float) -> Assessment:
        return self.engine.evaluate(now)

    def set_equity(self, equity: float) -> None:
        self._equity = equity

    def check(
        self,
        symbol: str,
        signed_qty: float,
        price: float,
        reduce_only: bool,
        position: float,
        now: float,
    ) -> Denial | None:
        """May this order be sent now? ``now`` is monotonic seconds (rate windows)."""
        if reduce_only:
            return _reduce_check(signed_qty, position)
        state = self.engine.state
        if not allows_new_orders(state):
            return Denial("state", f"in-process risk state is {state.name}")
        for window in self._windows:
            if not window.room(now):
                return Denial(
                    "order_rate", f"{window.max_orders} orders in {window.seconds:g}s already"
                )
        return self._position_check(symbol, abs(position + signed_qty), price)

    def record_submit(self, now: float) -> None:
        for window in self._windows:
            window.times.append(now)

    def _position_check(self, symbol: str, qty_after: float, price: float) -> Denial | None:
        base = self._day_start_equity or self._equity
        notional = qty_after * price
        special = self._per_symbol.get(symbol)
        if special is not None and special.max_qty is not None and qty_after > special.max_qty:
            return Denial("position", f"{symbol} qty {qty_after:g} > {special.max_qty:g}")
        limits = [self.limits.position.max_symbol_notional.resolve(base)]
        if special is not None and special.max_notional is not None:
            limits.append(special.max_notional.resolve(base))
        known = [limit for limit in limits if limit is not None]
        if known and notional > min(known):
            return Denial("position", f"{symbol} notional {notional:.2f} > {min(known):.2f}")
        return None


def _reduce_check(signed_qty: float, position: float) -> Denial | None:
    if position == 0 or (position > 0) == (signed_qty > 0) or abs(signed_qty) > abs(position):
        return Denial("reduce_only", f"order {signed_qty:g} does not reduce position {position:g}")
    return None
