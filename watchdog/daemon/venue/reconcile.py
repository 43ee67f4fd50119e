"""The independent view: what the venue itself says, turned into risk events (source VENUE).

Equity from the venue drives daily-loss and drawdown even when the trader's telemetry is
silent or lies; open-order counts and positions feed the divergence rule; user-data stream
order events are counted independently for the order-rate and reject rules.

Weight budget: the all-symbol open-orders list costs 40 per call on the venue, so every run
reads the traded symbols one by one (weight 1 each) and only every ``full_list_every``-th run
lists all symbols, to catch orders on symbols nobody configured.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from risk.events import (
    AccountSnapshot,
    EventSource,
    OpenOrdersSnapshot,
    OrderEvent,
    OrderEventKind,
    PositionSnapshot,
    RiskEvent,
)
from risk.events import Side as RiskSide
from watchdog.clock import Clock
from watchdog.venues.base import AccountView, OpenOrder, Position
from watchdog.venues.errors import VenueError
from watchdog.venues.user_events import OrderUpdate

log = logging.getLogger(__name__)

_KIND_BY_EXECUTION = {
    "NEW": OrderEventKind.ACK,
    "TRADE": OrderEventKind.FILL,
    "CALCULATED": OrderEventKind.FILL,  # a liquidation fill is a fill all the same
    "CANCELED": OrderEventKind.CANCEL,
    "EXPIRED": OrderEventKind.CANCEL,
    "REJECTED": OrderEventKind.REJECT,
}


class AccountReader(Protocol):
    async def account(self) -> AccountView: ...

    async def open_orders(self, symbol: str | None = None) -> tuple[OpenOrder, ...]: ...


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    ok: bool
    detail: str
    events: tuple[RiskEvent, ...]
    account: AccountView | None = None  # the read behind the events: the marking's basis


def snapshot_events(
    now: float, account: AccountView, open_orders: int, symbols: Sequence[str]
) -> tuple[RiskEvent, ...]:
    """Pure: one venue read as risk events. Every traded symbol gets a position, flat or not."""
    by_symbol = {p.symbol: p for p in account.positions}
    positions = [
        PositionSnapshot(now, s, float(p.qty), read_mark(p), EventSource.VENUE)
        if p is not None
        else PositionSnapshot(now, s, 0.0, 0.0, EventSource.VENUE)
        for s in dict.fromkeys([*symbols, *by_symbol])
        for p in (by_symbol.get(s),)
    ]
    account_event = AccountSnapshot(
        now, float(account.equity), 0.0, float(account.unrealized), EventSource.VENUE
    )
    return (account_event, OpenOrdersSnapshot(now, open_orders, EventSource.VENUE), *positions)


def read_mark(position: Position) -> float:
    """USDⓈ-M contracts are linear: unrealized = (mark - entry) * qty, so mark follows."""
    if position.mark_price is not None:
        return float(position.mark_price)
    if position.qty == 0:
        return float(position.entry_price)
    return float(position.entry_price + position.unrealized_pnl / position.qty)


def order_event(update: OrderUpdate, now: float) -> OrderEvent | None:
    """Pure: a user-stream order update as the venue's own order event, or None if not one."""
    kind = _KIND_BY_EXECUTION.get(update.execution_type)
    if kind is None:
        return None
    is_fill = kind is OrderEventKind.FILL
    return OrderEvent(
        ts=now,
        kind=kind,
        symbol=update.symbol,
        side=RiskSide(update.side.value),
        qty=float(update.last_qty if is_fill else update.orig_qty),
        price=float(update.last_price if is_fill else update.price),
        reason=f"{update.execution_type}/{update.status}",
        realized_pnl=float(update.realized_pnl or Decimal(0)) if is_fill else None,
        source=EventSource.VENUE,
        order_id=update.client_order_id,
    )


class Reconciler:
    def __init__(
        self,
        venue: AccountReader,
        symbols: Sequence[str],
        *,
        clock: Clock,
        sink: Callable[[Sequence[RiskEvent]], None],
        full_list_every: int = 10,
    ) -> None:
        if full_list_every < 1:
            raise ValueError("full_list_every must be >= 1")
        self._venue = venue
        self._symbols = tuple(dict.fromkeys(symbols))
        self._clock = clock
        self._sink = sink
        self._full_every = full_list_every
        self._runs = 0
        self._elsewhere = 0  # open orders on unconfigured symbols, from the last full list

    async def run_once(self) -> ReconcileResult:
        """One read of the venue; the events go to the sink only if every read succeeded."""
        full = self._runs % self._full_every == 0 or not self._symbols
        self._runs += 1
        try:
            account, count = await asyncio.gather(self._venue.account(), self._count(full))
        except VenueError as exc:
            detail = f"{type(exc).__name__}: {exc}"
            log.warning("venue_reconcile_failed", extra={"detail": detail})
            return ReconcileResult(False, detail, ())
        events = snapshot_events(self._clock.wall(), account, count, self._symbols)
        self._sink(events)
        return ReconcileResult(True, f"equity {account.equity}, {count} open", events, account)

    async def _count(self, full: bool) -> int:
        if full:
            orders = await self._venue.open_orders()
            self._elsewhere = sum(1 for o in orders if o.symbol not in self._symbols)
            return len(orders)
        lists = await asyncio.gather(*(self._venue.open_orders(s) for s in self._symbols))
        return sum(len(orders) for orders in lists) + self._elsewhere
