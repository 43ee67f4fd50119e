"""Position size: per symbol (quantity and notional) and in total (gross and net notional).

Notional is |qty| x mark price. Breach -> REDUCING (reduce-only), transient. Percent limits
are of the day-start equity; until it is known only quote limits apply (the daily-loss rule
halts meanwhile). Each source keeps its own book; the worse one is graded.
"""

from __future__ import annotations

from risk.decision import Decision
from risk.limits import Amount, PositionLimits
from risk.rules._common import INF, Cooldown, Recovery
from risk.state import TradingState

_SOURCES = ("telemetry", "venue")


def _resolve(amount: Amount, base: float | None) -> float:
    value = amount.resolve(base)
    return INF if value is None else value


class PositionRule:
    name = "position"
    recovery = Recovery.TRANSIENT

    def __init__(self, limits: PositionLimits, warn_ratio: float, base: float | None) -> None:
        self.limits = limits
        self.warn_ratio = warn_ratio
        self.books: tuple[dict[str, tuple[float, float]], ...] = ({}, {})
        self.per_symbol = {s.symbol: s for s in limits.symbols}
        self.cooldown = Cooldown(limits.cooldown_s)
        self.raw: Decision | None = None
        self.decision: Decision | None = None
        self.due = INF
        self.worst_ratio = 0.0
        self.set_base(base)

    def set_base(self, base: float | None) -> None:
        """The day-start equity that percent limits are of."""
        self.symbol_max = _resolve(self.limits.max_symbol_notional, base)
        self.gross_max = _resolve(self.limits.max_gross_notional, base)
        self.net_max = _resolve(self.limits.max_net_notional, base)
        self.symbol_notional_max = {
            s.symbol: _resolve(s.max_notional, base)
            for s in self.limits.symbols
            if s.max_notional is not None
        }

    def on_position(self, source: int, symbol: str, qty: float, mark: float, now: float) -> bool:
        book = self.books[source]
        if qty == 0.0:
            book.pop(symbol, None)
        else:
            book[symbol] = (qty, mark)
        return self._regrade(now)

    def _measures(self, source: int) -> list[tuple[float, float, str]]:
        """(value, limit, what) for every measure of one book."""
        book, who = self.books[source], _SOURCES[source]
        measures = []
        gross = net = 0.0
        for symbol, (qty, mark) in book.items():
            notional = qty * mark
            gross += abs(notional)
            net += notional
            limit = self.symbol_notional_max.get(symbol, self.symbol_max)
            measures.append((abs(notional), limit, f"{symbol} notional ({who})"))
            special = self.per_symbol.get(symbol)
            if special is not None and special.max_qty is not None:
                measures.append((abs(qty), special.max_qty, f"{symbol} quantity ({who})"))
        measures.append((gross, self.gross_max, f"gross notional ({who})"))
        measures.append((abs(net), self.net_max, f"net notional ({who})"))
        return measures

    def _regrade(self, now: float) -> bool:
        worst: tuple[float, float, str] | None = None
        worst_ratio = 0.0
        for source in (0, 1):
            for value, limit, what in self._measures(source):
                ratio = value / limit if limit > 0.0 else (INF if value > 0.0 else 0.0)
                if worst is None or ratio > worst_ratio:
                    worst, worst_ratio = (value, limit, what), ratio
        self.worst_ratio = worst_ratio
        raw = None
        if worst is not None and worst_ratio >= self.warn_ratio:
            value, limit, what = worst
            state = TradingState.REDUCING if value > limit else TradingState.WARN
            if state is TradingState.WARN and self.warn_ratio >= 1.0:
                state = TradingState.ACTIVE
            if state is not TradingState.ACTIVE:
                raw = Decision(state, self.name, value, limit, f"{what} {value:.2f} vs {limit:.2f}")
        self.raw = raw
        before, before_due = self.decision, self.due
        if raw is None and self.cooldown.held is None:
            self.decision = None
        else:
            self.decision = self.cooldown.settle(raw, now)
        self.due = self.cooldown.release_at
        return self.decision is not before or self.due < before_due

    def evaluate(self, now: float) -> bool:
        if self.cooldown.held is None:
            return False
        return self._regrade(now)

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        return self.worst_ratio

    def on_rearm(self, now: float) -> None:
        del now
