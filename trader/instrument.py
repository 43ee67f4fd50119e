"""Conversions between exchange decimals and the integer ticks and lots the hot path uses."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trader.config import SymbolConfig


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    tick: float
    lot: float
    price_decimals: int
    qty_decimals: int
    quote_lots: int
    max_lots: int

    @classmethod
    def from_config(cls, spec: SymbolConfig) -> Instrument:
        return cls(
            symbol=spec.symbol,
            tick=float(spec.tick_size),
            lot=float(spec.lot_size),
            price_decimals=_decimals(spec.tick_size),
            qty_decimals=_decimals(spec.lot_size),
            quote_lots=int(spec.quote_qty / spec.lot_size),
            max_lots=int(spec.max_position / spec.lot_size),
        )

    def ticks(self, price: float) -> int:
        return round(price / self.tick)

    def price(self, ticks: int) -> float:
        return round(ticks * self.tick, self.price_decimals)

    def price_str(self, ticks: int) -> str:
        return f"{ticks * self.tick:.{self.price_decimals}f}"

    def lots(self, qty: float) -> int:
        return round(qty / self.lot)

    def qty(self, lots: int) -> float:
        return round(lots * self.lot, self.qty_decimals)

    def qty_str(self, lots: int) -> str:
        return f"{lots * self.lot:.{self.qty_decimals}f}"
