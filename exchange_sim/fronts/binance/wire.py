"""Binance's words for orders: the parsing of a new-order request and the user-data events."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from exchange_sim.config import SymbolConfig
from exchange_sim.core.events import PositionEvent, UserEvent
from exchange_sim.core.orders import SIDES, TIFS, TYPES, NewOrder, Order, fmt
from exchange_sim.fronts.binance import codes

CLIENT_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
_NUMBER = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")


def _decimal(values: dict[str, str], name: str) -> Decimal:
    raw = values.get(name, "")
    if not _NUMBER.fullmatch(raw):
        raise codes.mandatory(name)
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise codes.mandatory(name) from None


def _on_grid(value: Decimal, step: Decimal) -> None:
    """Off the tick/step grid is the venue's precision error (-1111)."""
    if value % step != 0:
        raise codes.precision()


def parse_new_order(values: dict[str, str], sym: SymbolConfig) -> NewOrder:
    """Validate a new-order request against the symbol's filters; raise the venue's error."""
    side = values.get("side", "")
    if side not in SIDES:
        raise codes.invalid_side() if side else codes.mandatory("side")
    order_type = values.get("type", "")
    if order_type not in TYPES:
        raise codes.invalid_order_type() if order_type else codes.mandatory("type")
    qty = _decimal(values, "quantity")
    if qty <= 0:
        raise codes.quantity_invalid()
    _on_grid(qty, sym.step_size)
    if qty < sym.min_qty:
        raise codes.quantity_below_min()
    if qty > sym.max_qty:
        raise codes.quantity_above_max()
    tif = values.get("timeInForce", "GTC")
    price = Decimal(0)
    if order_type == "LIMIT":
        if not values.get("timeInForce"):
            raise codes.mandatory("timeInForce")
        if tif not in TIFS:
            raise codes.invalid_tif()
        price = _decimal(values, "price")
        if price <= 0:
            raise codes.price_invalid()
        _on_grid(price, sym.tick_size)
    elif "price" in values:
        raise codes.not_required("price")
    reduce_raw = values.get("reduceOnly", "false").lower()
    if reduce_raw not in ("true", "false"):
        raise codes.bad_param("reduceOnly")
    client_id = values.get("newClientOrderId")
    if client_id is not None and not CLIENT_ID.fullmatch(client_id):
        raise codes.client_order_id_invalid()
    # Validated as the venue does; the answer is the full order either way (RESULT's shape).
    if values.get("newOrderRespType", "ACK") not in ("ACK", "RESULT"):
        raise codes.bad_param("newOrderRespType")
    return NewOrder(
        symbol=sym.symbol,
        side=side,
        type=order_type,
        tif=tif,
        qty=qty,
        price=price,
        reduce_only=reduce_raw == "true",
        client_order_id=client_id,
    )


def user_event(event: UserEvent) -> dict[str, Any]:
    """A core event as the user-data stream's ORDER_TRADE_UPDATE or ACCOUNT_UPDATE."""
    if isinstance(event, PositionEvent):
        return _account_update(event)
    body = _order_update(event.order, event.exec_type, event.now_ms)
    trade = event.trade
    if trade is not None:
        body["o"].update(
            l=fmt(trade.qty),
            L=fmt(trade.price),
            N="USDT",
            n=fmt(trade.fee),
            t=trade.trade_id,
            m=trade.maker,
            rp=fmt(trade.realized),
        )
    return body


def _account_update(e: PositionEvent) -> dict[str, Any]:
    return {
        "e": "ACCOUNT_UPDATE",
        "E": e.now_ms,
        "T": e.now_ms,
        "a": {
            "m": "ORDER",
            "B": [{"a": "USDT", "wb": fmt(e.wallet), "cw": fmt(e.wallet), "bc": "0"}],
            "P": [
                {
                    "s": e.symbol,
                    "pa": fmt(e.qty),
                    "ep": fmt(e.entry),
                    "bep": fmt(e.entry),
                    "cr": "0",
                    "up": fmt(e.unrealized),
                    "mt": "cross",
                    "iw": "0",
                    "ps": "BOTH",
                }
            ],
        },
    }


def _order_update(order: Order, exec_type: str, now_ms: int) -> dict[str, Any]:
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "o": {
            "s": order.symbol,
            "c": order.client_order_id,
            "S": order.side,
            "o": order.type,
            "f": order.tif,
            "q": fmt(order.orig_qty),
            "p": fmt(order.price),
            "ap": fmt(order.avg_price),
            "sp": "0",
            "x": exec_type,
            "X": order.status,
            "i": order.order_id,
            "l": "0",
            "z": fmt(order.executed_qty),
            "L": "0",
            "N": "USDT",
            "n": "0",
            "T": now_ms,
            "t": 0,
            "b": "0",
            "a": "0",
            "m": False,
            "R": order.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": order.type,
            "ps": "BOTH",
            "cp": False,
            "rp": "0",
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "NONE",
            "pm": "NONE",
            "gtd": 0,
        },
    }
