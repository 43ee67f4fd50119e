"""The order-entry seam between the trader and a venue adapter.

The order manager only knows this Protocol and these value types. The production
implementation adapts ``watchdog.venues`` (one aiohttp session for the process life); tests
and benchmarks can plug in anything that keeps the same promises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from trader.errors import TraderError
from trader.strategy import Side

# Venue order statuses that mean the order no longer rests.
FINAL_STATUSES = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})


class VenueError(TraderError):
    """The venue answered an order request with an error, or could not be reached."""


class VenueRejected(VenueError, ValueError):
    """A definite refusal: the request had no effect at the venue."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"venue rejected the request: {code} {message}")
        self.code = code
        self.reason = message


class UnknownOrder(VenueRejected):
    """The venue does not know the order (-2011 / -2013): it was filled or cancelled already."""


class VenueThrottled(VenueError):
    """HTTP 429 / 418: back off for ``retry_after_s`` before the next request."""

    def __init__(self, retry_after_s: float | None) -> None:
        super().__init__(f"venue throttled the request (retry after {retry_after_s}s)")
        self.retry_after_s = retry_after_s


class VenueUnavailable(VenueError, ConnectionError):
    """No answer (timeout, connection error, 5xx): the request's effect is unknown."""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    symbol: str
    side: Side
    price: str
    qty: str
    client_id: str
    reduce_only: bool
    post_only: bool = True


@dataclass(frozen=True, slots=True)
class OrderReport:
    """What the venue says about one order."""

    symbol: str
    client_id: str
    side: Side
    status: str
    price: float
    orig_qty: float
    executed_qty: float
    avg_price: float

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True, slots=True)
class PositionReport:
    symbol: str
    qty: float
    mark_price: float
    unrealized_pnl: float


@dataclass(frozen=True, slots=True)
class AccountReport:
    equity: float
    unrealized_pnl: float
    positions: tuple[PositionReport, ...] = field(default_factory=tuple)

    def position(self, symbol: str) -> float:
        for p in self.positions:
            if p.symbol == symbol:
                return p.qty
        return 0.0


SentHook = Callable[[], None]


class OrderVenue(Protocol):
    async def place(self, order: OrderRequest, on_sent: SentHook | None = None) -> OrderReport:
        """Send a new order; ``on_sent`` is called once the request bytes are written."""

    async def cancel(self, symbol: str, client_id: str) -> OrderReport: ...

    async def query(self, symbol: str, client_id: str) -> OrderReport: ...

    async def open_orders(self) -> list[OrderReport]: ...

    async def account(self) -> AccountReport: ...
