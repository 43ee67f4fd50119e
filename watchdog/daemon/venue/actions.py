"""Kill actions on the venue, each a ``KillAction`` (attempt / verify) of the kill pipeline.

Every action uses the watchdog's own credentials and checks its effect at the venue itself.
Every venue failure becomes a ``KillStepError`` carrying the venue's answer: the pipeline
records it, backs off, escalates past its deadline, and keeps trying.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Protocol, TypeVar, runtime_checkable

from watchdog.clock import Clock
from watchdog.daemon.errors import KillStepError
from watchdog.daemon.venue.retrying import Sleep, VenueCallFailed, call_venue
from watchdog.venues.base import (
    CancelReport,
    OpenOrder,
    OrderAck,
    OrderType,
    Position,
    Side,
    SubAccountRef,
    TimeInForce,
)
from watchdog.venues.credentials import redact_key
from watchdog.venues.errors import VenueRejected

T = TypeVar("T")

# Sweeps after the kill began: orders in flight when the cancel ran land within these.
DEFAULT_SWEEPS_S = (0.1, 1.0, 5.0)


class OrderBook(Protocol):
    async def open_orders(self, symbol: str | None = None) -> tuple[OpenOrder, ...]: ...

    async def cancel_all(self, symbol: str) -> str: ...

    async def cancel_everything(
        self, symbols: Sequence[str] = (), *, max_rounds: int = 3
    ) -> CancelReport: ...


class KeyDeleter(Protocol):
    async def delete_sub_account_key(self, ref: SubAccountRef) -> str: ...


class KeyProbe(Protocol):
    async def key_accepted(self, api_key: str) -> bool: ...


@runtime_checkable
class PositionExit(Protocol):
    async def position_risk(self, symbol: str | None = None) -> tuple[Position, ...]: ...

    async def new_order(
        self,
        symbol: str,
        side: Side,
        order_type: OrderType,
        quantity: Decimal,
        *,
        price: Decimal | None = None,
        time_in_force: TimeInForce | None = None,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> OrderAck: ...


class _VenueStep:
    """Shared plumbing: every venue call gets the inner retry and becomes a KillStepError."""

    def __init__(self, clock: Clock, budget_s: float, sleep: Sleep) -> None:
        self._clock = clock
        self._budget_s = budget_s
        self._sleep = sleep

    async def _call(self, what: str, op: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call_venue(
                what, op, clock=self._clock, budget_s=self._budget_s, sleep=self._sleep
            )
        except VenueCallFailed as exc:
            raise KillStepError(str(exc)) from exc

    async def _cancel_symbols(self, book: OrderBook, symbols: Sequence[str]) -> list[str]:
        answers = await asyncio.gather(*(self._cancel_one(book, s) for s in symbols))
        return [f"{s}: {a}" for s, a in zip(symbols, answers, strict=True)]

    async def _cancel_one(self, book: OrderBook, symbol: str) -> str:
        return await self._call(f"cancel-all {symbol}", lambda: book.cancel_all(symbol))


class CancelAllOrders(_VenueStep):
    """Cancel all open orders on every symbol, re-listing until the venue shows none."""

    name = "venue_cancel_all"

    def __init__(
        self,
        book: OrderBook,
        symbols: Sequence[str],
        *,
        clock: Clock,
        budget_s: float = 2.0,
        max_rounds: int = 5,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(clock, budget_s, sleep)
        self._book = book
        self._symbols = tuple(dict.fromkeys(symbols))
        self._max_rounds = max_rounds

    async def attempt(self) -> str:
        # The venue cancels and lists its own way (per symbol, per settle coin); a transient
        # failure reruns the whole verb, which is idempotent.
        report = await self._call(
            "cancel everything",
            lambda: self._book.cancel_everything(self._symbols, max_rounds=self._max_rounds),
        )
        rounds = f"venue shows no open orders (after {report.rounds} listing(s))"
        return "; ".join([*report.answers, rounds])

    async def verify(self) -> bool:
        return not await self._list()

    async def _list(self) -> tuple[OpenOrder, ...]:
        return await self._call("open orders", self._book.open_orders)


class SweepOpenOrders(_VenueStep):
    """Look again shortly after the kill, for orders that were in flight when it cancelled."""

    name = "venue_sweep"

    def __init__(
        self,
        book: OrderBook,
        *,
        clock: Clock,
        offsets_s: Sequence[float] = DEFAULT_SWEEPS_S,
        budget_s: float = 2.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(clock, budget_s, sleep)
        self._book = book
        self._offsets = tuple(sorted(offsets_s))
        self._start = clock.monotonic()
        self._done = 0
        self._notes: list[str] = []

    async def attempt(self) -> str:
        while self._done < len(self._offsets):
            offset = self._offsets[self._done]
            wait = self._start + offset - self._clock.monotonic()
            if wait > 0:
                await self._sleep(wait)
            found = await self._call("open orders", self._book.open_orders)
            symbols = sorted({o.symbol for o in found})
            answers = await self._cancel_symbols(self._book, symbols) if symbols else []
            note = f"+{offset:g}s: {len(found)} open"
            self._notes.append(f"{note} {answers}" if found else note)
            self._done += 1
        return "; ".join(self._notes)

    async def verify(self) -> bool:
        if self._done < len(self._offsets):
            return False
        return not await self._call("open orders", self._book.open_orders)


class RevokeTraderKey(_VenueStep):
    """Delete the trader's key with the master key; verified when the venue refuses the key."""

    name = "venue_revoke_key"

    def __init__(
        self,
        deleter: KeyDeleter,
        probe: KeyProbe,
        *,
        trader: SubAccountRef,
        clock: Clock,
        budget_s: float = 2.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(clock, budget_s, sleep)
        self._deleter = deleter
        self._probe = probe
        self._trader = trader
        self._key = trader.api_key

    async def attempt(self) -> str:
        what = f"delete key {redact_key(self._key)}"
        try:
            return await call_venue(
                what, lambda: self._deleter.delete_sub_account_key(self._trader),
                clock=self._clock, budget_s=self._budget_s, sleep=self._sleep,
            )  # fmt: skip
        except VenueCallFailed as exc:
            # Idempotent: a key the venue already refuses counts as deleted, whatever the
            # delete call said about it (deleted earlier, by a previous run, or by a person).
            if isinstance(exc.last, VenueRejected) and not await self._accepted():
                return f"already refused; delete answered: {exc.last}"
            raise KillStepError(str(exc)) from exc

    async def verify(self) -> bool:
        return not await self._accepted()

    async def _accepted(self) -> bool:
        return await self._call("probe trader key", lambda: self._probe.key_accepted(self._key))


class FlattenPositions(_VenueStep):
    """Close every open position with reduce-only market orders (off by default)."""

    name = "venue_flatten"

    def __init__(
        self,
        venue: PositionExit,
        *,
        clock: Clock,
        budget_s: float = 2.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(clock, budget_s, sleep)
        self._venue = venue

    async def attempt(self) -> str:
        open_positions = await self._positions()
        if not open_positions:
            return "no open positions"
        acks = await asyncio.gather(*(self._close(p) for p in open_positions))
        return "; ".join(f"{a.symbol} {a.side} {a.orig_qty} reduce-only: {a.status}" for a in acks)

    async def verify(self) -> bool:
        return not await self._positions()

    async def _positions(self) -> list[Position]:
        positions = await self._call("positions", self._venue.position_risk)
        return [p for p in positions if p.qty != 0]

    async def _close(self, position: Position) -> OrderAck:
        side = Side.SELL if position.qty > 0 else Side.BUY
        return await self._call(
            f"reduce-only {position.symbol}",
            lambda: self._venue.new_order(
                position.symbol, side, OrderType.MARKET, abs(position.qty), reduce_only=True
            ),
        )
