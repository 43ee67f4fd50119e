"""Order manager: turns strategy plans into venue requests and tracks the trader's own orders.

``execute`` is synchronous: it registers the orders and starts their sends as tasks in the
trader's task group, so nothing awaits the network between the signal and the send. Every
request has an explicit timeout. A new order whose outcome is unknown (timeout, connection
error) is cancelled by client order id at once, because an order we cannot see is the most
dangerous kind. Cancels are never given up: they retry with capped backoff, honouring 429's
Retry-After, until the venue confirms the order is gone.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from trader.feed import Clock
from trader.instrument import Instrument
from trader.strategy import Plan, Quote, Resting, Side
from trader.venue import (
    OrderReport,
    OrderRequest,
    OrderVenue,
    PostOnlyWouldCross,
    UnknownOrder,
    VenueError,
    VenueRejected,
    VenueThrottled,
)
from watchdog.backoff import backoff_delay

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], object]

_CID_SAFE = re.compile(r"[^A-Za-z0-9_]")
_ALNUM = re.compile(r"[^A-Za-z0-9]")


@dataclass(frozen=True, slots=True)
class ClientIds:
    """How one run names its orders: ``owner`` marks the trader's orders across restarts (a new
    run adopts and cancels what an old one left), ``prefix`` this run's, then a count."""

    owner: str
    prefix: str

    @classmethod
    def dashed(cls, trader_id: str, session: str) -> ClientIds:
        """``<trader_id>-<session>-<n>``: Binance's charset ``[.A-Z:/a-z0-9_-]{1,36}``, Bybit's."""
        owner = _CID_SAFE.sub("", trader_id)[:12] + "-"
        return cls(owner, f"{owner}{_CID_SAFE.sub('', session)[:8]}-")

    @classmethod
    def alphanumeric(cls, trader_id: str, session: str) -> ClientIds:
        """``<len><trader_id><session><n>``, letters and digits only, at most 32 (OKX's
        ``clOrdId``). Without a separator, the trader id's length (two digits) goes first, so
        that no trader's owner is the start of another's (``mm1`` is not ``mm12``'s)."""
        tag = _ALNUM.sub("", trader_id)[:12]
        owner = f"{len(tag):02d}{tag}"
        return cls(owner, f"{owner}{_ALNUM.sub('', session)[:8]}")

    def nth(self, n: int) -> str:
        """The ``n``th order's id (0: the heater's, never sent)."""
        return f"{self.prefix}{n}"

    def is_own(self, client_id: str) -> bool:
        return client_id.startswith(self.owner)


_RETRY_INITIAL_S = 0.05  # first retry of a cancel or a query: 25-50 ms


@dataclass(slots=True, eq=False)
class TrackedOrder:
    """One of our orders from submit until the venue says it no longer rests (mutable on purpose:
    it is the manager's private record, never handed to pure code)."""

    client_id: str
    symbol: str
    side: Side
    price_ticks: int
    qty_lots: int
    price: float
    qty: float
    reduce_only: bool
    submitted_ns: int
    acked: bool = False
    unknown: bool = False
    cancelling: bool = False
    filled: float = 0.0
    announced: bool = False
    written_ns: int = 0  # perf_counter_ns right after its new-order bytes were written

    def resting(self) -> Resting:
        return Resting(
            self.client_id,
            self.side,
            self.price_ticks,
            self.qty_lots,
            self.reduce_only,
            self.cancelling,
        )


class OrderListener(Protocol):
    def order_submitting(self, order: TrackedOrder) -> None:
        """Just before the order's bytes go out: what must precede the order at the venue
        (the watchdog's SUBMIT report). Keep it short: it is on the hot path."""

    def order_submitted(self, order: TrackedOrder) -> None: ...

    def order_sent(self, order: TrackedOrder, tick_ns: int | None) -> None:
        """The request bytes were written at ``order.written_ns``; ``tick_ns`` is when the
        triggering tick arrived. Called once every order of the tick is written."""

    def order_acked(self, order: TrackedOrder, round_trip_s: float) -> None: ...

    def order_rejected(self, order: TrackedOrder, reason: str) -> None: ...

    def order_filled(self, order: TrackedOrder, qty: float, price: float) -> None: ...

    def order_cancelled(self, order: TrackedOrder, reason: str) -> None: ...


class PendingPlace(Protocol):
    def report(self) -> Awaitable[OrderReport]:
        """Wait for the venue's answer to a new order whose bytes are already written."""


class FastEntry(Protocol):
    """The order-entry fast path (``trader.fastpath.FastOrderEntry``)."""

    def try_place(self, order: OrderRequest) -> PendingPlace | None:
        """Write the new order now, synchronously; None when no connection is ready."""


_Written = tuple[TrackedOrder, OrderRequest, PendingPlace | None]


class OrderManager:
    def __init__(
        self,
        venue: OrderVenue,
        instruments: Mapping[str, Instrument],
        listener: OrderListener,
        clock: Clock,
        spawn: Spawn,
        *,
        trader_id: str,
        session: str,
        request_timeout_s: float,
        max_backoff_s: float = 2.0,
        fast: FastEntry | None = None,
        rng: random.Random | None = None,
        alphanumeric_ids: bool = False,
    ) -> None:
        self._venue = venue
        self._fast = fast
        self._instruments = instruments
        self._listener = listener
        self._clock = clock
        self._spawn = spawn
        self._timeout = request_timeout_s
        self._max_backoff = max_backoff_s
        self._rng = rng or random.Random()
        ids = ClientIds.alphanumeric if alphanumeric_ids else ClientIds.dashed
        self._ids = ids(trader_id, session)
        self._seq = itertools.count(1)
        self._orders: dict[str, TrackedOrder] = {}
        self._empty = asyncio.Event()
        self._empty.set()
        self._throttled_until = 0.0
        self._throttle_strikes = 0
        self.submitted = 0

    # -- queries ---------------------------------------------------------------------------

    def resting(self, symbol: str) -> list[Resting]:
        return [o.resting() for o in self._orders.values() if o.symbol == symbol]

    def orders(self) -> list[TrackedOrder]:
        return list(self._orders.values())

    def is_own(self, client_id: str) -> bool:
        return self._ids.is_own(client_id)

    def throttled(self) -> bool:
        return self._clock.monotonic() < self._throttled_until

    async def wait_no_orders(self) -> None:
        """Return once the venue has confirmed every tracked order gone."""
        await self._empty.wait()

    # -- the hot path ----------------------------------------------------------------------

    def execute(self, symbol: str, plan: Plan, tick_ns: int | None) -> None:
        # New orders start first: their tasks run first, so no cancel request is built ahead
        # of them. The strategy sized them as if every order being replaced still filled.
        if plan.place and not self.throttled():
            instrument = self._instruments[symbol]
            written: list[_Written] = []
            try:
                # Every order's bytes go out before any order's follow-up (the sent hook and
                # its metric, the answer task, the submit report): the second order of a tick
                # never waits for the first one's bookkeeping.
                for quote in plan.place:
                    written.append(self._write(instrument, quote))
            finally:
                for order, request, pending in written:
                    self._follow(order, request, pending, tick_ns)
        for client_id in plan.cancel:
            self.cancel(client_id, "requote")

    def cancel(self, client_id: str, reason: str) -> None:
        order = self._orders.get(client_id)
        if order is None or order.cancelling:
            return
        order.cancelling = True
        self._spawn(self._cancel(order, reason))

    def cancel_all(self, reason: str, symbol: str | None = None) -> int:
        """Start a cancel for every own order (of ``symbol``); returns how many were started."""
        started = 0
        for order in list(self._orders.values()):
            if (symbol is None or order.symbol == symbol) and not order.cancelling:
                self.cancel(order.client_id, reason)
                started += 1
        return started

    def rehearse(self, instrument: Instrument, quote: Quote) -> OrderRequest:
        """The request a quote would go out as, built exactly as on a tick and thrown away:
        keeps the hot path warm (trader.heater). Tracks nothing, uses no client id."""
        return self._build(instrument, quote, self._ids.nth(0))[1]

    def _build(
        self, instrument: Instrument, quote: Quote, client_id: str
    ) -> tuple[TrackedOrder, OrderRequest]:
        order = TrackedOrder(
            client_id=client_id,
            symbol=instrument.symbol,
            side=quote.side,
            price_ticks=quote.price,
            qty_lots=quote.qty,
            price=instrument.price(quote.price),
            qty=instrument.qty(quote.qty),
            reduce_only=quote.reduce_only,
            submitted_ns=time.perf_counter_ns(),
        )
        request = OrderRequest(
            symbol=instrument.symbol,
            side=quote.side,
            price=instrument.price_str(quote.price),
            qty=instrument.qty_str(quote.qty),
            client_id=client_id,
            reduce_only=quote.reduce_only,
        )
        return order, request

    def _write(self, instrument: Instrument, quote: Quote) -> _Written:
        """Track the order and, on the fast path, write its bytes now (None: aiohttp later)."""
        order, request = self._build(instrument, quote, self._ids.nth(next(self._seq)))
        self._track(order)
        self.submitted += 1
        # Announced to the watchdog before the bytes: its SUBMIT must not trail the venue's ACK.
        self._listener.order_submitting(order)
        pending = self._fast.try_place(request) if self._fast is not None else None
        if pending is not None:
            # The bytes are written: this is the end of tick-to-order on the fast path.
            order.written_ns = time.perf_counter_ns()
        return order, request, pending

    def _follow(
        self,
        order: TrackedOrder,
        request: OrderRequest,
        pending: PendingPlace | None,
        tick_ns: int | None,
    ) -> None:
        if pending is not None:
            self._listener.order_sent(order, tick_ns)
            self._spawn(self._await_answer(order, pending.report()))
        else:
            self._spawn(self._send(order, request, tick_ns))
        # Bookkeeping (metrics, in-process risk) runs after the request is written (the fast
        # path above, or the send task's first step): never between the signal and the bytes.
        asyncio.get_running_loop().call_soon(self._announce, order)

    def _announce(self, order: TrackedOrder) -> None:
        """Report the submit once, and always before any answer about the order."""
        if not order.announced:
            order.announced = True
            self._listener.order_submitted(order)

    # -- request tasks ---------------------------------------------------------------------

    async def _send(self, order: TrackedOrder, request: OrderRequest, tick_ns: int | None) -> None:
        def on_sent() -> None:
            order.written_ns = time.perf_counter_ns()
            self._listener.order_sent(order, tick_ns)

        await self._await_answer(order, self._venue.place(request, on_sent))

    async def _await_answer(self, order: TrackedOrder, answer: Awaitable[OrderReport]) -> None:
        """The same handling for both paths: ack, definite refusal, or unknown outcome."""
        started = time.perf_counter_ns()
        try:
            async with asyncio.timeout(self._timeout):
                report = await answer
        except (VenueError, TimeoutError) as exc:
            self._announce(order)
            self._send_failed(order, exc)
        else:
            self._announce(order)
            self._throttle_strikes = 0
            order.acked = True
            self._listener.order_acked(order, (time.perf_counter_ns() - started) / 1e9)
            self._apply(order, report)

    def _send_failed(self, order: TrackedOrder, exc: VenueError | TimeoutError) -> None:
        if isinstance(exc, VenueThrottled):
            self._throttle(exc.retry_after_s)
            self._forget(order)
            self._listener.order_rejected(order, "throttled (429)")
        elif isinstance(exc, PostOnlyWouldCross):
            # The book moved between the tick and the venue: nothing went wrong, the quote
            # just expired. Counting it as a reject would feed the reject-ratio limits noise.
            self._forget(order)
            self._listener.order_cancelled(order, "post-only: would have crossed")
        elif isinstance(exc, VenueRejected):
            self._forget(order)
            self._listener.order_rejected(order, f"{exc.code} {exc.reason}")
        else:
            # No answer, or one we cannot read: the order may rest. Cancel it by client id.
            log.warning(
                "order_outcome_unknown_cancelling",
                extra={"client_id": order.client_id, "error": str(exc)},
            )
            order.unknown = True
            self.cancel(order.client_id, "outcome unknown")

    async def _cancel(self, order: TrackedOrder, reason: str) -> None:
        failures = 0
        while order.client_id in self._orders:
            try:
                async with asyncio.timeout(self._timeout):
                    report = await self._venue.cancel(order.symbol, order.client_id)
            except UnknownOrder:
                await self._resolve(order, reason)
                return
            except VenueThrottled as exc:
                self._throttle(exc.retry_after_s)
                delay = self._retry_delay(failures)
                await asyncio.sleep(max(exc.retry_after_s or delay, delay))
            except (VenueError, TimeoutError) as exc:
                log.warning(
                    "cancel_failed_retrying",
                    extra={"client_id": order.client_id, "error": str(exc)},
                )
                await asyncio.sleep(self._retry_delay(failures))
            else:
                self._apply(order, report, cancel_reason=reason)
                return
            failures += 1

    async def _resolve(self, order: TrackedOrder, reason: str) -> None:
        """The venue no longer knows the order as open: learn how it ended (fills included)."""
        failures = 0
        while order.client_id in self._orders:
            try:
                async with asyncio.timeout(self._timeout):
                    report = await self._venue.query(order.symbol, order.client_id)
            except UnknownOrder:
                # Never reached the venue (an unknown-outcome send that did not land).
                self._forget(order)
                self._listener.order_cancelled(order, f"{reason}: never reached the venue")
                return
            except (VenueError, TimeoutError) as exc:
                log.warning(
                    "order_query_failed_retrying",
                    extra={"client_id": order.client_id, "error": str(exc)},
                )
                await asyncio.sleep(self._retry_delay(failures))
                failures += 1
            else:
                if not report.final:
                    # Still open after all (a cancel raced the ack): cancel it properly.
                    order.cancelling = False
                    self.cancel(order.client_id, reason)
                    return
                self._apply(order, report, cancel_reason=reason)

    def _retry_delay(self, failures: int) -> float:
        return backoff_delay(
            failures, initial_s=_RETRY_INITIAL_S, max_s=self._max_backoff, draw=self._rng.random
        )

    # -- reconciliation with the venue -----------------------------------------------------

    async def reconcile(self) -> None:
        """Compare tracked orders with the venue's open orders: fills, vanished orders, orphans."""
        async with asyncio.timeout(self._timeout):
            reports = await self._venue.open_orders()
        at_venue = {r.client_id: r for r in reports}
        for order in list(self._orders.values()):
            report = at_venue.get(order.client_id)
            if report is not None:
                order.acked = True
                self._apply(order, report)
            elif order.acked and not order.cancelling:
                # Gone without our cancel: filled, or cancelled by the watchdog or the venue.
                order.cancelling = True
                self._spawn(self._resolve(order, "gone from the venue"))
        for report in reports:
            if self.is_own(report.client_id) and report.client_id not in self._orders:
                self._adopt(report)

    def _adopt(self, report: OrderReport) -> None:
        """An own order we do not track (a previous run, a lost answer): track it and cancel it."""
        instrument = self._instruments.get(report.symbol)
        order = TrackedOrder(
            client_id=report.client_id,
            symbol=report.symbol,
            side=report.side,
            price_ticks=instrument.ticks(report.price) if instrument else 0,
            qty_lots=instrument.lots(report.orig_qty) if instrument else 0,
            price=report.price,
            qty=report.orig_qty,
            reduce_only=False,
            submitted_ns=time.perf_counter_ns(),
            acked=True,
            filled=report.executed_qty,
        )
        log.warning("cancelling_untracked_own_order", extra={"client_id": report.client_id})
        self._track(order)
        self.cancel(order.client_id, "untracked own order")

    # -- bookkeeping -----------------------------------------------------------------------

    def _apply(self, order: TrackedOrder, report: OrderReport, cancel_reason: str = "") -> None:
        if report.executed_qty > order.filled + 1e-12:
            qty = report.executed_qty - order.filled
            order.filled = report.executed_qty
            self._listener.order_filled(order, qty, report.avg_price or order.price)
        if not report.final:
            return
        self._forget(order)
        if report.status == "REJECTED" and not order.cancelling:
            self._listener.order_rejected(order, f"venue status {report.status}")
        elif report.status != "FILLED":
            self._listener.order_cancelled(order, cancel_reason or f"venue status {report.status}")

    def _track(self, order: TrackedOrder) -> None:
        self._orders[order.client_id] = order
        self._empty.clear()

    def _forget(self, order: TrackedOrder) -> None:
        self._orders.pop(order.client_id, None)
        if not self._orders:
            self._empty.set()

    def _throttle(self, retry_after_s: float | None) -> None:
        self._throttle_strikes += 1
        backoff = min(0.1 * 2 ** (self._throttle_strikes - 1), 30.0)
        wait = max(retry_after_s or 0.0, backoff)
        self._throttled_until = max(self._throttled_until, self._clock.monotonic() + wait)
        log.warning("venue_throttled_pausing_new_orders", extra={"pause_s": wait})
