"""User-data stream events, decoded strictly into frozen values (pure: no sockets).

Field names follow the venue's documented ``ORDER_TRADE_UPDATE`` / ``ACCOUNT_UPDATE`` payloads.
Events the watchdog does not follow (``TRADE_LITE``, ``MARGIN_CALL``, ...) decode to ``None``;
a followed event with a missing or ill-typed field raises ``VenueProtocolError`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import orjson

from watchdog.venues import _fields as f
from watchdog.venues.base import RealizedPnl, Side
from watchdog.venues.errors import VenueProtocolError


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    event_time_ms: int
    trade_time_ms: int
    symbol: str
    client_order_id: str
    side: Side
    order_type: str
    execution_type: str  # NEW, CANCELED, CALCULATED, EXPIRED, TRADE, AMENDMENT
    status: str  # NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, EXPIRED_IN_MATCH
    order_id: str  # opaque: Binance's integer as text, Bybit's UUID
    orig_qty: Decimal
    price: Decimal
    last_qty: Decimal
    last_price: Decimal
    cum_qty: Decimal
    reduce_only: bool | None
    realized_pnl: Decimal | None


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    asset: str
    wallet: Decimal
    cross_wallet: Decimal
    change: Decimal | None


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    symbol: str
    qty: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal
    # Bybit's and OKX's position pushes carry the wallet's move as this counter; Binance's
    # ACCOUNT_UPDATE carries the wallet itself instead (None).
    realized: RealizedPnl | None = None


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    event_time_ms: int
    reason: str
    balances: tuple[BalanceUpdate, ...]
    positions: tuple[PositionUpdate, ...]


@dataclass(frozen=True, slots=True)
class ListenKeyExpired:
    event_time_ms: int


UserEvent = OrderUpdate | AccountUpdate | ListenKeyExpired


def decode_user_event(raw: str | bytes) -> UserEvent | None:
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise VenueProtocolError(f"user stream: not JSON ({raw[:80]!r})") from None
    o = f.obj(message, "event")
    kind = f.text(o, "e", "event")
    if kind == "ORDER_TRADE_UPDATE":
        return _order_update(o)
    if kind == "ACCOUNT_UPDATE":
        return _account_update(o)
    if kind == "listenKeyExpired":
        return ListenKeyExpired(event_time_ms=f.integer(o, "E", "listenKeyExpired"))
    return None


def _order_update(message: dict[str, object]) -> OrderUpdate:
    w = "ORDER_TRADE_UPDATE.o"
    o = f.obj(f.field(message, "o", "ORDER_TRADE_UPDATE"), w)
    side = f.text(o, "S", w)
    if side not in Side.__members__:
        raise VenueProtocolError(f"{w}.S: expected BUY or SELL, got {side!r}")
    return OrderUpdate(
        event_time_ms=f.integer(message, "E", "ORDER_TRADE_UPDATE"),
        trade_time_ms=f.integer(o, "T", w),
        symbol=f.text(o, "s", w),
        client_order_id=f.text(o, "c", w),
        side=Side(side),
        order_type=f.text(o, "o", w),
        execution_type=f.text(o, "x", w),
        status=f.text(o, "X", w),
        order_id=str(f.integer(o, "i", w)),
        orig_qty=f.decimal(o, "q", w),
        price=f.decimal(o, "p", w),
        last_qty=f.decimal(o, "l", w),
        last_price=f.decimal(o, "L", w),
        cum_qty=f.decimal(o, "z", w),
        reduce_only=f.optional_boolean(o, "R", w),
        realized_pnl=f.optional_decimal(o, "rp", w),
    )


def _account_update(message: dict[str, object]) -> AccountUpdate:
    w = "ACCOUNT_UPDATE.a"
    a = f.obj(f.field(message, "a", "ACCOUNT_UPDATE"), w)
    balances = f.array(f.field(a, "B", w), f"{w}.B")
    positions = f.array(f.field(a, "P", w), f"{w}.P")
    return AccountUpdate(
        event_time_ms=f.integer(message, "E", "ACCOUNT_UPDATE"),
        reason=f.text(a, "m", w),
        balances=tuple(
            _balance(f.obj(b, f"{w}.B[{i}]"), f"{w}.B[{i}]") for i, b in enumerate(balances)
        ),
        positions=tuple(
            _position(f.obj(p, f"{w}.P[{i}]"), f"{w}.P[{i}]") for i, p in enumerate(positions)
        ),
    )


def _balance(o: dict[str, object], where: str) -> BalanceUpdate:
    return BalanceUpdate(
        asset=f.text(o, "a", where),
        wallet=f.decimal(o, "wb", where),
        cross_wallet=f.decimal(o, "cw", where),
        change=f.optional_decimal(o, "bc", where),
    )


def _position(o: dict[str, object], where: str) -> PositionUpdate:
    return PositionUpdate(
        symbol=f.text(o, "s", where),
        qty=f.decimal(o, "pa", where),
        entry_price=f.decimal(o, "ep", where),
        unrealized_pnl=f.decimal(o, "up", where),
    )
