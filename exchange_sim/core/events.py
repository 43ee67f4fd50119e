"""What the user-data streams must hear, in no venue's shape: each front renders these.

The engine queues them only for accounts someone follows; an order event holds a copy of the
order as it was at that instant (the engine keeps mutating its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from exchange_sim.core.orders import Order


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: int
    qty: Decimal
    price: Decimal
    fee: Decimal
    realized: Decimal
    maker: bool


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """``exec_type``: NEW, TRADE (with ``trade``), CANCELED, EXPIRED or AMENDED."""

    account: str
    exec_type: str
    order: Order
    now_ms: int
    trade: Trade | None = None


@dataclass(frozen=True, slots=True)
class PositionEvent:
    """The account's wallet and one symbol's position after a fill, with the position's
    realized PnL net of fees: over the symbol's history, and since ``opened_ms`` (of which
    ``fees_open`` are fees)."""

    account: str
    symbol: str
    wallet: Decimal
    qty: Decimal
    entry: Decimal
    unrealized: Decimal
    now_ms: int
    realized_total: Decimal
    realized_open: Decimal
    fees_open: Decimal
    opened_ms: int


UserEvent = OrderEvent | PositionEvent
