"""Position and realized PnL from our own fills (average-cost), pure.

The venue's account read is the truth for equity and positions; this book gives every fill
its realized PnL at once, which the watchdog's consecutive-loss rule needs per fill.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Holding:
    qty: float = 0.0  # signed
    avg_price: float = 0.0
    realized: float = 0.0


def apply_fill(holding: Holding, signed_qty: float, price: float) -> tuple[Holding, float]:
    """The holding after a fill of ``signed_qty`` (buy > 0) at ``price``, and its realized PnL."""
    qty = holding.qty
    if qty == 0 or (qty > 0) == (signed_qty > 0):
        total = qty + signed_qty
        avg = (qty * holding.avg_price + signed_qty * price) / total if total else 0.0
        return Holding(total, avg, holding.realized), 0.0
    closed = min(abs(signed_qty), abs(qty))
    direction = 1.0 if qty > 0 else -1.0
    pnl = closed * (price - holding.avg_price) * direction
    remaining = qty + signed_qty
    if abs(remaining) < 1e-12:
        return Holding(0.0, 0.0, holding.realized + pnl), pnl
    if (remaining > 0) == (qty > 0):
        return Holding(remaining, holding.avg_price, holding.realized + pnl), pnl
    # The fill flipped the position: the rest opens a new one at the fill price.
    return Holding(remaining, price, holding.realized + pnl), pnl
