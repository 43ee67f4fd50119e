"""``OrderVenue`` over Bybit v5 (``category=linear``), through ``watchdog.venues.Bybit``.

Bybit answers a new order and a cancel with the ids alone: the order's status is a second read.

- ``place`` reports the acknowledged order as ``NEW`` with nothing filled: that is all the
  venue has said. A post-only order that would have crossed is accepted, then cancelled by
  the venue; reconciliation finds it gone and queries how it ended (a cancel, not a reject).
- ``cancel`` reads the order back after the venue accepted the cancel, so fills that landed
  before it are counted; an order still listed as resting is an unknown outcome (retried),
  never taken as cancelled.
- New orders go through the aiohttp session (the Binance fast path signs Binance's query
  strings; Bybit signs a JSON body with its own headers): ``venue.fast_connections`` does not
  apply here.
"""

from __future__ import annotations

import watchdog.venues as wv
from trader.strategy import Side
from trader.venue import (
    AccountReport,
    OrderReport,
    OrderRequest,
    SentHook,
    UnknownOrder,
    VenueUnavailable,
    acknowledged,
    cancel_and_read_back,
    note_sent,
    translated,
    warm_connections,
)
from watchdog.venues.bybit_wire import CATEGORY

# Bybit's order statuses in the words the order manager reads (Binance's). Conditional orders
# (Untriggered, Triggered, Deactivated) are never placed by the trader; they still rest or end.
_STATUS = {
    "New": "NEW",
    "PartiallyFilled": "PARTIALLY_FILLED",
    "Untriggered": "NEW",
    "Triggered": "NEW",
    "Filled": "FILLED",
    "Cancelled": "CANCELED",
    "PartiallyFilledCanceled": "CANCELED",
    "Deactivated": "CANCELED",
    "Rejected": "REJECTED",
}


def order_report(order: wv.OpenOrder) -> OrderReport:
    """Bybit's order (its status in Bybit's words) as the order manager reads it."""
    status = _STATUS.get(order.status)
    if status is None:
        # An unknown status is an unread answer, never a guess at "resting" or "gone".
        raise VenueUnavailable(f"Bybit order {order.client_order_id}: status {order.status!r}")
    return OrderReport(
        symbol=order.symbol,
        client_id=order.client_order_id,
        side=Side(order.side.value),
        status=status,
        price=float(order.price),
        orig_qty=float(order.orig_qty),
        executed_qty=float(order.executed_qty),
        avg_price=0.0,  # not in the listing; a post-only limit order fills at its price
    )


class BybitOrderVenue:
    """Post-only (``PostOnly``) limit orders, client ids as ``orderLinkId``, one-way mode."""

    def __init__(self, adapter: wv.Bybit) -> None:
        self._adapter = adapter

    async def place(self, order: OrderRequest, on_sent: SentHook | None = None) -> OrderReport:
        note_sent(on_sent)
        payload = {
            "category": CATEGORY,
            "symbol": order.symbol,
            "side": "Buy" if order.side is Side.BUY else "Sell",
            "orderType": "Limit",
            "qty": order.qty,
            "price": order.price,
            "timeInForce": "PostOnly" if order.post_only else "GTC",
            "orderLinkId": order.client_id,
            "reduceOnly": order.reduce_only,
            "positionIdx": 0,
        }
        with translated(definite=True):
            await self._adapter.create_order(payload)
        return acknowledged(order)

    async def cancel(self, symbol: str, client_id: str) -> OrderReport:
        return await cancel_and_read_back(symbol, client_id, self._adapter.cancel_order, self.query)

    async def query(self, symbol: str, client_id: str) -> OrderReport:
        with translated(definite=True):
            found = await self._adapter.find_order(symbol, client_id)
        if found is None:
            raise UnknownOrder(0, f"Bybit knows no order {client_id} on {symbol}")
        return order_report(found)

    async def open_orders(self) -> list[OrderReport]:
        with translated(definite=False):
            return [order_report(o) for o in await self._adapter.open_orders()]

    async def account(self) -> AccountReport:
        with translated(definite=False):
            view = await self._adapter.account()
        return AccountReport.of(view)

    async def warm_up(self, connections: int) -> None:
        """Open keep-alive connections now and learn the venue's clock."""
        await warm_connections(connections, self._adapter.sync_time, self._adapter.sync_time)
