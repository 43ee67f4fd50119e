"""Order values in the core's own vocabulary (pure).

The core's words are: sides BUY / SELL, types LIMIT / MARKET, time in force GTC / IOC / FOK / GTX
(post-only), statuses NEW / PARTIALLY_FILLED / FILLED / CANCELED / EXPIRED. Each front parses its
venue's words into these and renders them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

SIDES = ("BUY", "SELL")
TYPES = ("LIMIT", "MARKET")
TIFS = ("GTC", "IOC", "FOK", "GTX")


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
    cum_fee: Decimal = Decimal(0)
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


def order_record(o: Order, with_time: bool = False) -> dict[str, object]:
    """An order as a JSON record. Its field names are Binance's order object, exactly: the
    Binance front answers with it and the admin API shows orders in it whichever front serves."""
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
