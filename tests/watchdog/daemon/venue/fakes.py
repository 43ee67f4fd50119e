"""Recording fakes of the venue seams, scripted per call (no network)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from watchdog.venues.base import (
    AccountView,
    CancelReport,
    DmsMode,
    DmsState,
    OpenOrder,
    OrderAck,
    OrderType,
    Position,
    Side,
    SubAccountRef,
    TimeInForce,
)
from watchdog.venues.cancelling import cancel_per_symbol
from watchdog.venues.errors import VenueError


class FakeClock:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.now = 1_700_000_000.0

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        self.mono += seconds
        self.now += seconds


def order(symbol: str, order_id: int = 1) -> OpenOrder:
    return OpenOrder(symbol, str(order_id), f"c{order_id}", Side.BUY, "LIMIT", "NEW", Decimal(100),
                     Decimal(1), Decimal(0), False, 0)  # fmt: skip


@dataclass
class FakeBook:
    """Open orders per symbol; scripted failures pop from `failures` before each call."""

    orders: dict[str, list[OpenOrder]] = field(default_factory=dict)
    failures: deque[VenueError] = field(default_factory=deque)
    calls: list[str] = field(default_factory=list)
    arrive_on_list: deque[OpenOrder] = field(default_factory=deque)  # in-flight orders
    positions: list[Position] = field(default_factory=list)
    equity: Decimal = Decimal(1000)
    dms_confirms: DmsState | None = None  # None: confirm what was asked
    list_failures: deque[VenueError] = field(default_factory=deque)  # listing only

    def _fail(self) -> None:
        if self.failures:
            raise self.failures.popleft()

    async def open_orders(self, symbol: str | None = None) -> tuple[OpenOrder, ...]:
        self.calls.append(f"list {symbol or '*'}")
        self._fail()
        if self.list_failures:
            raise self.list_failures.popleft()
        if self.arrive_on_list:
            late = self.arrive_on_list.popleft()
            self.orders.setdefault(late.symbol, []).append(late)
        rows = [o for s, os in self.orders.items() if symbol in (None, s) for o in os]
        return tuple(rows)

    async def cancel_all(self, symbol: str) -> str:
        self.calls.append(f"cancel {symbol}")
        self._fail()
        self.orders.pop(symbol, None)
        return "200 done"

    async def cancel_everything(
        self, symbols: Sequence[str] = (), *, max_rounds: int = 3
    ) -> CancelReport:
        """The adapters' own loop, over this book's per-symbol cancel and list."""
        return await cancel_per_symbol(
            symbols, self.open_orders, self.cancel_all, max_rounds=max_rounds
        )

    async def account(self) -> AccountView:
        self.calls.append("account")
        self._fail()
        nonzero = tuple(p for p in self.positions if p.qty != 0)
        return AccountView(self.equity, self.equity, Decimal(0), self.equity, nonzero)

    async def position_risk(self, symbol: str | None = None) -> tuple[Position, ...]:
        self.calls.append("positions")
        self._fail()
        return tuple(self.positions)

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
    ) -> OrderAck:
        self.calls.append(f"order {symbol} {side} {order_type} {quantity} ro={reduce_only}")
        self._fail()
        self.positions = [p for p in self.positions if p.symbol != symbol]
        return OrderAck(symbol, "9", "x", side, order_type.value, "FILLED", Decimal(0), quantity,
                        quantity, None, reduce_only, None)  # fmt: skip

    async def arm_dms(self, window_ms: int, symbols: Sequence[str]) -> DmsState:
        self.calls.append(f"arm {window_ms} {','.join(symbols)}")
        self._fail()
        if self.dms_confirms is not None:
            return self.dms_confirms
        return DmsState(DmsMode.ARMED if window_ms else DmsMode.OFF, window_ms or None, "ok")


@dataclass
class FakeKeys:
    """The master's key deletion and the key probe over one set of live keys."""

    live: set[str]
    delete_failures: deque[VenueError] = field(default_factory=deque)
    probe_failures: deque[VenueError] = field(default_factory=deque)
    calls: list[str] = field(default_factory=list)

    async def delete_sub_account_key(self, ref: SubAccountRef) -> str:
        self.calls.append(f"delete {ref.email} {ref.api_key}")
        if self.delete_failures:
            raise self.delete_failures.popleft()
        self.live.discard(ref.api_key)
        return "{}"

    async def key_accepted(self, api_key: str) -> bool:
        self.calls.append(f"probe {api_key}")
        if self.probe_failures:
            raise self.probe_failures.popleft()
        return api_key in self.live
