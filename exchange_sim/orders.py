"""Order values and the parsing of a new-order request (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from exchange_sim import codes
from exchange_sim.config import SymbolConfig

SIDES = ("BUY", "SELL")
TYPES = ("LIMIT", "MARKET")
TIFS = ("GTC", "IOC", "FOK", "GTX")
CLIENT_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
_NUMBER = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")


@dataclass(frozen=True, slots=True)
class NewOrder:
    symbol: str
    side: str
    type: str
    tif: str
    qty: Decimal
    price: Decimal  # 0 for MARKET
    reduce_only: bool
    client_order_id: str | None
    resp_type: str  # ACK or RESULT


@dataclass(slots=True)
class Order:
    """An order's mutable lifecycle state; owned by the engine, rendered by ``to_wire``."""

    order_id: int
    account: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    tif: str
    price: Decimal
    orig_qty: Decimal
    reduce_only: bool
    time_ms: int
    update_ms: int
    executed_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    status: str = "NEW"

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed_qty if self.executed_qty else Decimal(0)

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


def fmt(value: Decimal, places: int = 8) -> str:
    """The venue's plain decimal strings: no exponent, trailing zeros trimmed, at least one."""
    text = format(value, "f")
    point = text.find(".")
    if point < 0:
        return "0" if text == "-0" else text
    if len(text) - point - 1 > places:
        text = format(value.quantize(Decimal(1).scaleb(-places)), "f")
    text = text.rstrip("0")
    if text.endswith("."):
        text += "0"
    return "0" if text in ("-0.0", "0.0") else text


def to_wire(o: Order, with_time: bool = False) -> dict[str, object]:
    """The order object exactly as the venue's REST API names its fields."""
    body: dict[str, object] = {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status,
        "clientOrderId": o.client_order_id,
        "price": fmt(o.price),
        "avgPrice": fmt(o.avg_price),
        "origQty": fmt(o.orig_qty),
        "executedQty": fmt(o.executed_qty),
        "cumQty": fmt(o.executed_qty),
        "cumQuote": fmt(o.cum_quote),
        "timeInForce": o.tif,
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": o.side,
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": o.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
        "updateTime": o.update_ms,
    }
    if with_time:
        body["time"] = o.time_ms
    return body


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
    resp_type = values.get("newOrderRespType", "ACK")
    if resp_type not in ("ACK", "RESULT"):
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
        resp_type=resp_type,
    )
