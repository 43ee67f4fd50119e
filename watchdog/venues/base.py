"""What the watchdog and the trader need from a venue, as a Protocol and frozen values.

Quantities and prices are ``Decimal``: the venue sends exact decimal strings and order entry
must send them back exactly. Conversion to ``float`` happens where risk needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"  # post-only


@dataclass(frozen=True, slots=True)
class OpenOrder:
    symbol: str
    order_id: int
    client_order_id: str
    side: Side
    order_type: str
    status: str
    price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    reduce_only: bool
    time_ms: int


@dataclass(frozen=True, slots=True)
class OrderAck:
    """The venue's view of one order after new/cancel/query."""

    symbol: str
    order_id: int
    client_order_id: str
    side: Side
    order_type: str
    status: str
    price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    avg_price: Decimal | None
    reduce_only: bool | None
    update_time_ms: int | None


@dataclass(frozen=True, slots=True)
class Position:
    """One symbol's position; ``qty`` is signed (negative = short)."""

    symbol: str
    qty: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal
    mark_price: Decimal | None  # the account endpoint does not carry it; positionRisk does


@dataclass(frozen=True, slots=True)
class AccountView:
    """Equity is the margin balance: wallet balance plus unrealized PnL (marked equity)."""

    equity: Decimal
    wallet: Decimal
    unrealized: Decimal
    available: Decimal
    positions: tuple[Position, ...]  # non-zero positions only


@dataclass(frozen=True, slots=True)
class CountdownAck:
    symbol: str
    countdown_ms: int


@dataclass(frozen=True, slots=True)
class RateState:
    """The venue's own counters from the last response's headers (None until seen)."""

    used_weight_1m: int | None
    order_count_10s: int | None
    order_count_1m: int | None


class Venue(Protocol):
    """One API key on one trading account: reads, cancels, dead man's switch, user stream."""

    async def open_orders(self, symbol: str | None = None) -> tuple[OpenOrder, ...]: ...

    async def cancel_all(self, symbol: str) -> str: ...

    async def account(self) -> AccountView: ...

    async def position_risk(self, symbol: str | None = None) -> tuple[Position, ...]: ...

    async def countdown_cancel_all(self, symbol: str, countdown_ms: int) -> CountdownAck: ...

    async def create_listen_key(self) -> str: ...

    async def keepalive_listen_key(self) -> None: ...

    async def close_listen_key(self) -> None: ...

    async def sync_time(self) -> float: ...


class KeyAdmin(Protocol):
    """The master account's key management: delete a sub-account key and check it is refused."""

    async def delete_sub_account_key(self, email: str, api_key: str) -> str: ...

    async def key_accepted(self, api_key: str) -> bool: ...
