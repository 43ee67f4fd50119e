"""The order-entry seam between the trader and a venue adapter.

The order manager only knows this Protocol and these value types. The production
implementation adapts ``watchdog.venues`` (one aiohttp session for the process life); tests
and benchmarks can plug in anything that keeps the same promises.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Protocol

import aiohttp

import watchdog.venues as wv
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


class PostOnlyWouldCross(VenueRejected):
    """A post-only order the venue refused because it would have taken liquidity: the book
    moved between the tick and the venue. Nothing went wrong; the quote just expired."""


# Binance's code for it, and Bybit's: a generic parameter error (10001) whose message names
# PostOnly, the only words that tell it apart. OKX's, read on OKX's paths only: its own code
# (51019), or its generic parameter error (51000) naming post_only, as the simulator answers.
_BINANCE_POST_ONLY = -5022
_BYBIT_PARAMS = 10001
_OKX_POST_ONLY = 51019
_OKX_PARAMS = 51000


def _would_cross(exc: wv.VenueAnswerError) -> bool:
    if exc.code == _BINANCE_POST_ONLY:
        return True
    if "/api/v5/" in exc.endpoint:
        return exc.code == _OKX_POST_ONLY or (exc.code == _OKX_PARAMS and "post_only" in exc.msg)
    return exc.code == _BYBIT_PARAMS and "PostOnly" in exc.msg


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
    mark_price: float  # 0.0 when the venue's answer carries none
    unrealized_pnl: float
    entry_price: float = 0.0


@dataclass(frozen=True, slots=True)
class AccountReport:
    equity: float
    unrealized_pnl: float
    positions: tuple[PositionReport, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, view: wv.AccountView) -> AccountReport:
        """The order manager's floats from an adapter's exact account view."""
        positions = tuple(
            PositionReport(
                p.symbol,
                float(p.qty),
                _float(p.mark_price),
                float(p.unrealized_pnl),
                float(p.entry_price),
            )
            for p in view.positions
        )
        return cls(float(view.equity), float(view.unrealized), positions)

    def position(self, symbol: str) -> float:
        found = self.find(symbol)
        return found.qty if found is not None else 0.0

    def find(self, symbol: str) -> PositionReport | None:
        for p in self.positions:
            if p.symbol == symbol:
                return p
        return None


SentHook = Callable[[], None]


class OrderVenue(Protocol):
    async def place(self, order: OrderRequest, on_sent: SentHook | None = None) -> OrderReport:
        """Send a new order; ``on_sent`` is called once the request bytes are written."""

    async def cancel(self, symbol: str, client_id: str) -> OrderReport: ...

    async def query(self, symbol: str, client_id: str) -> OrderReport: ...

    async def open_orders(self) -> list[OrderReport]: ...

    async def account(self) -> AccountReport: ...


# -- the production implementation over watchdog.venues ---------------------------------------

# The send hook of the request being made in the current task: a contextvar, because the trace
# callback runs inside aiohttp, in the task that called ``place``, and tasks never share it.
_SENT_HOOK: contextvars.ContextVar[SentHook | None] = contextvars.ContextVar(
    "trader_sent_hook", default=None
)


async def _on_headers_sent(
    _session: aiohttp.ClientSession,
    _ctx: SimpleNamespace,
    _params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    # aiohttp writes a body-less request synchronously right after this hook returns, so this
    # is the last point before the bytes reach the socket that a client can observe (a request
    # with a JSON body, Bybit's, has its body written right after its headers).
    hook = _SENT_HOOK.get()
    if hook is not None:
        _SENT_HOOK.set(None)
        hook()


def note_sent(on_sent: SentHook | None) -> None:
    """Call ``on_sent`` when this task's next request on the order session is sent."""
    _SENT_HOOK.set(on_sent)


def _nodelay_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    sock = socket.socket(addr_info[0], addr_info[1], addr_info[2])
    # Order requests are small: Nagle would hold one behind an unacknowledged segment.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def open_order_session(max_connections: int = 16) -> aiohttp.ClientSession:
    """The process's one HTTP session: pooled keep-alive, TCP_NODELAY, the send-time trace."""
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_on_headers_sent)
    connector = aiohttp.TCPConnector(
        limit=max_connections, keepalive_timeout=60.0, socket_factory=_nodelay_socket
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=10.0, sock_connect=3.0),
        trace_configs=[trace],
        raise_for_status=False,
        # Less work per request on the hot path: the venue sets no cookies worth keeping, and
        # order entry never goes through a proxy taken from the environment.
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


def _float(value: Decimal | None) -> float:
    return float(value) if value is not None else 0.0


def order_report(ack: wv.OrderAck | wv.OpenOrder) -> OrderReport:
    avg = ack.avg_price if isinstance(ack, wv.OrderAck) else None
    return OrderReport(
        symbol=ack.symbol,
        client_id=ack.client_order_id,
        side=Side(ack.side.value),
        status=ack.status,
        price=float(ack.price),
        orig_qty=float(ack.orig_qty),
        executed_qty=float(ack.executed_qty),
        avg_price=_float(avg),
    )


@contextlib.contextmanager
def translated(definite: bool) -> Iterator[None]:
    """Venue errors as the order manager's: ``definite`` when a refusal proves no effect."""
    try:
        yield
    except wv.UnknownOrder as exc:
        raise UnknownOrder(exc.code or 0, exc.msg) from exc
    except wv.RateLimited as exc:
        raise VenueThrottled(exc.retry_after) from exc
    except (wv.VenueRejected, wv.TimestampOutOfWindow) as exc:
        if not definite:
            raise VenueUnavailable(str(exc)) from exc
        kind = PostOnlyWouldCross if _would_cross(exc) else VenueRejected
        raise kind(exc.code or 0, exc.msg) from exc
    except (wv.VenueUnavailable, wv.VenueProtocolError, wv.VenueAnswerError) as exc:
        raise VenueUnavailable(str(exc)) from exc


def acknowledged(order: OrderRequest) -> OrderReport:
    """A new order as a venue that acknowledges it with the ids alone (Bybit, OKX) has said:
    resting (``NEW``), nothing filled. Reconciliation reads how it ended."""
    return OrderReport(
        order.symbol,
        order.client_id,
        order.side,
        "NEW",
        float(order.price),
        float(order.qty),
        0.0,
        0.0,
    )


async def cancel_and_read_back(
    symbol: str,
    client_id: str,
    cancel: Callable[[str, str], Awaitable[object]],
    query: Callable[[str, str], Awaitable[OrderReport]],
) -> OrderReport:
    """Cancel on a venue that acknowledges a cancel with the ids alone (Bybit, OKX), then read
    the order back, so fills that landed before the cancel are counted. An order still listed
    as resting is an unknown outcome (the order manager retries), never taken as cancelled."""
    with translated(definite=True):
        await cancel(symbol, client_id)
    report = await query(symbol, client_id)
    if not report.final:
        raise VenueUnavailable(f"cancel of {client_id} accepted, yet the venue lists it open")
    return report


class BinanceOrderVenue:
    """``OrderVenue`` over ``watchdog.venues.BinanceFutures`` (post-only GTX limit orders)."""

    def __init__(self, adapter: wv.BinanceFutures) -> None:
        self._adapter = adapter

    async def place(self, order: OrderRequest, on_sent: SentHook | None = None) -> OrderReport:
        note_sent(on_sent)
        with translated(definite=True):
            ack = await self._adapter.new_order(
                order.symbol,
                wv.Side(order.side.value),
                wv.OrderType.LIMIT,
                Decimal(order.qty),
                price=Decimal(order.price),
                time_in_force=wv.TimeInForce.GTX if order.post_only else wv.TimeInForce.GTC,
                reduce_only=order.reduce_only,
                client_order_id=order.client_id,
            )
        return order_report(ack)

    async def cancel(self, symbol: str, client_id: str) -> OrderReport:
        with translated(definite=True):
            return order_report(await self._adapter.cancel_order(symbol, client_order_id=client_id))

    async def query(self, symbol: str, client_id: str) -> OrderReport:
        with translated(definite=True):
            return order_report(await self._adapter.query_order(symbol, client_order_id=client_id))

    async def open_orders(self) -> list[OrderReport]:
        with translated(definite=False):
            return [order_report(o) for o in await self._adapter.open_orders()]

    async def account(self) -> AccountReport:
        with translated(definite=False):
            return AccountReport.of(await self._adapter.account())

    async def warm_up(self, connections: int) -> None:
        """Open keep-alive connections now, so the first orders do not pay for a handshake."""
        await warm_connections(connections, self._adapter.ping, self._adapter.sync_time)


async def warm_connections(
    connections: int,
    touch: Callable[[], Coroutine[Any, Any, object]],
    sync_time: Callable[[], Awaitable[float]],
) -> None:
    """``connections`` concurrent cheap calls open as many keep-alive connections; then the
    venue's clock is learnt. A failure is one venue error, never an exception group: the
    caller treats an unreachable venue at start as a warning."""
    with translated(definite=False):
        touched = await asyncio.gather(
            *(touch() for _ in range(connections)), return_exceptions=True
        )
        for outcome in touched:
            if isinstance(outcome, BaseException):
                raise outcome
        await sync_time()
