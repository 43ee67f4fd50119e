"""What the watchdog and the trader need from a venue, as a Protocol and frozen values.

Quantities and prices are ``Decimal``: the venue sends exact decimal strings and order entry
must send them back exactly. Conversion to ``float`` happens where risk needs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from watchdog.venues.market_stream import MarketSink
    from watchdog.venues.user_stream import Sink


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
    order_id: str  # opaque: Binance's integers and Bybit's UUIDs alike
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
    order_id: str
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
class RealizedPnl:
    """The venue's own counter of a symbol's realized PnL (fees and funding included): what
    the wallet has been moved by. ``since_ms`` None: over the symbol's whole history (Bybit's
    ``cumRealisedPnl``); else over the position the venue opened then (OKX's ``realizedPnl``
    with its ``cTime``), a counter that starts again with each new position."""

    total: Decimal
    since_ms: int | None


@dataclass(frozen=True, slots=True)
class Position:
    """One symbol's position; ``qty`` is signed (negative = short)."""

    symbol: str
    qty: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal
    mark_price: Decimal | None  # the account endpoint does not carry it; positionRisk does
    realized: RealizedPnl | None = None  # on venues whose position rows carry the counter


@dataclass(frozen=True, slots=True)
class AccountView:
    """Equity is the margin balance: wallet balance plus unrealized PnL (marked equity)."""

    equity: Decimal
    wallet: Decimal
    unrealized: Decimal
    available: Decimal
    positions: tuple[Position, ...]  # non-zero positions only
    # Instruments with a position the adapter cannot value (not in equity nor in positions):
    # an unknown, which the daemon halts on by name. Empty on venues that value everything.
    unvalued: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CountdownAck:
    symbol: str
    countdown_ms: int


@dataclass(frozen=True, slots=True)
class RateState:
    """Binance's own counters from the last response's headers (None until seen)."""

    used_weight_1m: int | None
    order_count_10s: int | None
    order_count_1m: int | None


@dataclass(frozen=True, slots=True)
class CancelReport:
    """A verified cancel-everything: the venue listed no open order after ``rounds`` listings."""

    rounds: int
    answers: tuple[str, ...]  # the venue's answer to every cancel call, for the audit


class DmsMode(StrEnum):
    ARMED = "armed"  # the venue confirmed the switch with the window asked for
    OFF = "off"  # the venue confirmed it is off
    UNSUPPORTED = "unsupported"  # the venue (or this account) has no such switch: never armed


@dataclass(frozen=True, slots=True)
class DmsState:
    """The venue's dead man's switch as the venue itself last confirmed it."""

    mode: DmsMode
    window_ms: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class SubAccountRef:
    """What a venue needs to name the trader's key for its deletion: Binance the sub-account's
    e-mail and the key, Bybit the key (the sub-account's UID lets the master's self-check find
    the key in the sub-account's key list), OKX the sub-account's name and the key."""

    api_key: str
    email: str | None = None
    uid: str | None = None
    sub_account: str | None = None


class Follower(Protocol):
    """The account's private stream, followed until cancelled (reconnecting on its own)."""

    async def run(self) -> None: ...


class Venue(Protocol):
    """One API key on one trading account: reads, cancels, dead man's switch, private stream."""

    async def sync_time(self) -> float: ...

    @property
    def time_offset_ms(self) -> float:
        """The venue's clock minus the local wall clock, as the last ``sync_time`` learnt it."""
        ...

    async def open_orders(self, symbol: str | None = None) -> tuple[OpenOrder, ...]: ...

    async def cancel_all(self, symbol: str) -> str: ...

    async def cancel_everything(
        self, symbols: Sequence[str] = (), *, max_rounds: int = 3
    ) -> CancelReport:
        """Cancel every open order of the account and list until the venue shows none;
        ``symbols`` are the ones known to trade (cancelled first where the venue cancels per
        symbol). Raises ``OrdersRemain`` when orders are still listed after ``max_rounds``."""
        ...

    async def account(self) -> AccountView: ...

    async def position_risk(self, symbol: str | None = None) -> tuple[Position, ...]: ...

    async def arm_dms(self, window_ms: int, symbols: Sequence[str]) -> DmsState:
        """Arm (0: disarm) the venue's dead man's switch and return what the venue confirmed;
        ``DmsMode.UNSUPPORTED`` when it has none. ``symbols`` matter where it is per symbol."""
        ...

    async def dms_state(self) -> DmsState: ...

    def open_follower(self, ws_url: str, sink: Sink, *, hold_dms: bool = True) -> Follower:
        """The private stream; ``hold_dms``: where the venue's switch watches the stream
        (Bybit's DCP), hold it; False when the switch is off."""
        ...

    def open_market_follower(
        self, ws_url: str, symbols: Sequence[str], sink: MarketSink, *, silence_s: float
    ) -> Follower:
        """The public market stream's best bid and ask for ``symbols``; a socket that stays
        open without a message for ``silence_s`` is reconnected (and told to the sink)."""
        ...

    def rate_counters(self) -> Mapping[str, int]:
        """The venue's own rate counters from the last answer's headers, by name."""
        ...


class KeyAdmin(Protocol):
    """The master account's key management: delete a sub-account key and check it is refused."""

    async def delete_sub_account_key(self, ref: SubAccountRef) -> str: ...

    async def key_accepted(self, api_key: str) -> bool: ...

    async def confirm_manages(self, ref: SubAccountRef) -> str:
        """A harmless read proving this master key can still delete ``ref``'s key; raises
        ``VenueRejected`` when the venue shows it cannot."""
        ...


class VenueAdapter(Venue, KeyAdmin, Protocol):
    """What one adapter class offers: the daemon builds its account and master keys from it."""
