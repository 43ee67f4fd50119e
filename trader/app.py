"""The trader's imperative shell: feed in, strategy decides, orders out, watchdog informed.

``serve()`` reads as a straight line: startup (host, venue, orphan sweep, metrics, watchdog
link) -> main loop (feed, periodic reconciliation and telemetry) -> shutdown (cancel own
orders and verify, final telemetry). Signal handlers only set a flag.

What may be opened is one ``Posture`` computed on every decision from the watchdog's state
(fail-closed: silence reads as HALTED), the in-process risk state and the feed's freshness.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from killswitch_client import TradingState as WatchdogState

from risk import (
    AccountSnapshot,
    FeedStatus,
    Heartbeat,
    OrderEvent,
    OrderEventKind,
    PositionSnapshot,
    TradingState,
)
from risk import Side as RiskSide
from trader.book import Holding, apply_fill
from trader.config import StrategyConfig
from trader.feed import BookFeed, BookTicker, Clock, Transition
from trader.instrument import Instrument
from trader.metrics import TraderMetrics
from trader.orders import FastEntry, OrderManager, TrackedOrder
from trader.pretrade import Denial, PreTradeRisk
from trader.strategy import NOTHING, Plan, Posture, QuoteParams, Side, Top, decide
from trader.venue import AccountReport, OrderRequest, OrderVenue, PositionReport, VenueError
from watchdog.sdnotify import SdNotifier

log = logging.getLogger(__name__)


class WatchdogLink(Protocol):
    """What the trader needs of ``killswitch_client.AsyncClient`` (structurally)."""

    @property
    def state(self) -> WatchdogState: ...

    def report_order(
        self,
        kind: OrderEventKind | str,
        symbol: str,
        side: RiskSide | str,
        qty: float,
        price: float,
        *,
        reason: str = "",
        realized_pnl: float | None = None,
        ts: float | None = None,
        order_id: str = "",
    ) -> None: ...

    def report_account(
        self, equity: float, realized_pnl: float, unrealized_pnl: float, *, ts: float | None = None
    ) -> None: ...

    def report_position(
        self, symbol: str, qty: float, mark_price: float, *, ts: float | None = None
    ) -> None: ...

    def report_feed(
        self, symbol: str, last_event_ts: float, *, ts: float | None = None
    ) -> None: ...

    def report_open_orders(self, count: int, *, ts: float | None = None) -> None: ...

    def report_state(
        self, state: TradingState, reason: str = "", *, ts: float | None = None
    ) -> None: ...

    def flush(self, *, heartbeat: bool = True) -> None: ...

    def rehearse_report(self, symbol: str, order_id: str) -> None: ...


def posture_for(
    watchdog: TradingState, local: TradingState, feed_fresh: bool, stopping: bool
) -> Posture:
    """The most the strategy may do now; every doubt moves it towards FLAT."""
    if stopping or not feed_fresh:
        return Posture.FLAT
    worst = max(watchdog, local)
    if worst >= TradingState.HALTED:
        return Posture.FLAT
    if worst == TradingState.REDUCING:
        return Posture.REDUCE
    return Posture.QUOTE


@dataclass(frozen=True, slots=True)
class ShutdownResult:
    flat: bool  # the venue confirmed none of our orders rest
    detail: str


class Trader:
    def __init__(
        self,
        *,
        instruments: Mapping[str, Instrument],
        strategy: StrategyConfig,
        venue: OrderVenue,
        link: WatchdogLink,
        pretrade: PreTradeRisk,
        metrics: TraderMetrics,
        clock: Clock,
        notifier: SdNotifier,
        trader_id: str,
        session: str,
        request_timeout_s: float,
        reconcile_interval_s: float,
        fast: FastEntry | None = None,
        alphanumeric_ids: bool = False,
    ) -> None:
        self.instruments = instruments
        self._params = {
            s: QuoteParams(
                strategy.half_spread_bps,
                strategy.skew_bps,
                strategy.requote_ticks,
                i.quote_lots,
                i.max_lots,
            )
            for s, i in instruments.items()
        }
        self._venue = venue
        self.link = link
        self.pretrade = pretrade
        self.metrics = metrics
        self._clock = clock
        self._notifier = notifier
        self._interval = reconcile_interval_s
        self._tg: asyncio.TaskGroup | None = None
        self.orders = OrderManager(
            venue,
            instruments,
            self,
            clock,
            self._spawn,
            trader_id=trader_id,
            session=session,
            request_timeout_s=request_timeout_s,
            fast=fast,
            alphanumeric_ids=alphanumeric_ids,
        )
        self.feed: BookFeed | None = None
        self._tops: dict[str, Top | None] = dict.fromkeys(instruments)
        self._fresh: dict[str, bool] = dict.fromkeys(instruments, False)
        self._last_event: dict[str, float] = {}
        self._last_rx: dict[str, float] = {}
        self._lots: dict[str, int] = dict.fromkeys(instruments, 0)
        self._holdings: dict[str, Holding] = {s: Holding() for s in instruments}
        self._realized = 0.0
        self._mismatch: dict[str, float] = {}
        self._connects_seen = 0
        self._stopping = False
        self._ready = False
        self._watchdog_state = TradingState.HALTED
        self.last_account: AccountReport | None = None
        self.reconcile_errors = 0

    # -- wiring ----------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> object:
        if self._tg is None:
            coro.close()
            raise RuntimeError("the trader is not running: no task group to start requests in")
        return self._tg.create_task(coro)

    def attach(self, tg: asyncio.TaskGroup, feed: BookFeed | None) -> None:
        self._tg = tg
        self.feed = feed

    @property
    def ready(self) -> bool:
        return self._ready

    def position(self, symbol: str) -> float:
        return self.instruments[symbol].qty(self._lots[symbol])

    # -- posture ---------------------------------------------------------------------------

    def posture(self, symbol: str) -> Posture:
        return posture_for(
            self.watchdog_state, self.pretrade.state, self._fresh[symbol], self._stopping
        )

    @property
    def watchdog_state(self) -> TradingState:
        """The client's state (the wire's enum) as the risk engine's: same names, same order."""
        return TradingState(self.link.state)

    def requote_all(self) -> None:
        """Re-decide every symbol now (a state change must not wait for the next tick)."""
        for symbol in self.instruments:
            self._requote(symbol, None)

    def _requote(self, symbol: str, tick_ns: int | None) -> None:
        posture = self.posture(symbol)
        plan = decide(
            self._params[symbol],
            self._tops[symbol],
            self._lots[symbol],
            self.orders.resting(symbol),
            posture,
        )
        if plan is not NOTHING:
            self._execute(symbol, plan, tick_ns)

    def rehearse(self, symbol: str) -> list[OrderRequest]:
        """The requests a tick would send now: decided, checked by pre-trade risk and built as
        on a tick, never executed. Keeps the hot path warm between ticks (trader.heater).
        Changes nothing but dropping order-rate stamps that have already expired (which the
        next check would drop anyway)."""
        plan = decide(
            self._params[symbol],
            self._tops[symbol],
            self._lots[symbol],
            self.orders.resting(symbol),
            Posture.QUOTE,
        )
        instrument = self.instruments[symbol]
        position = self.position(symbol)
        now = self._clock.monotonic()
        requests = []
        for quote in plan.place:
            qty = instrument.qty(quote.qty)
            signed = qty if quote.side is Side.BUY else -qty
            price = instrument.price(quote.price)
            self.pretrade.check(symbol, signed, price, quote.reduce_only, position, now)
            requests.append(self.orders.rehearse(instrument, quote))
        return requests

    def _execute(self, symbol: str, plan: Plan, tick_ns: int | None) -> None:
        denials: list[Denial] = []
        if plan.place:
            plan = self._pretrade(symbol, plan, denials)
        self.orders.execute(symbol, plan, tick_ns)
        for denial in denials:  # counted and logged once the allowed orders are written
            self.metrics.rejects.labels(symbol, "pretrade").inc()
            log.info("pretrade_denial", extra={"rule": denial.rule, "reason": denial.reason})

    def _pretrade(self, symbol: str, plan: Plan, denials: list[Denial]) -> Plan:
        instrument = self.instruments[symbol]
        position = self.position(symbol)
        now = self._clock.monotonic()
        allowed = []
        for quote in plan.place:
            qty = instrument.qty(quote.qty)
            signed = qty if quote.side is Side.BUY else -qty
            denial = self.pretrade.check(
                symbol, signed, instrument.price(quote.price), quote.reduce_only, position, now
            )
            if denial is None:
                self.pretrade.record_submit(now)
                allowed.append(quote)
            else:
                denials.append(denial)
        if len(allowed) == len(plan.place):
            return plan
        return Plan(plan.cancel, tuple(allowed))

    # -- feed listener (the hot path) ------------------------------------------------------

    def on_ticker(self, ticker: BookTicker, received_ns: int) -> None:
        symbol = ticker.symbol
        instrument = self.instruments[symbol]
        self._tops[symbol] = Top(instrument.ticks(ticker.bid), instrument.ticks(ticker.ask))
        self._requote(symbol, received_ns)
        # For telemetry and the feed-age gauge only: after the orders are written.
        self._last_event[symbol] = ticker.event_ms / 1000.0
        self._last_rx[symbol] = self._clock.monotonic()

    def on_feed_state(self, transition: Transition) -> None:
        symbol = transition.symbol
        self._fresh[symbol] = transition.fresh
        self.metrics.feed_fresh.labels(symbol).set(1 if transition.fresh else 0)
        level = logging.INFO if transition.fresh else logging.WARNING
        log.log(
            level,
            "feed state",
            extra={"symbol": symbol, "fresh": transition.fresh, "reason": transition.reason},
        )
        if not transition.fresh:
            self.metrics.feed_stale.labels(symbol).inc()
            self._tops[symbol] = None
            self.orders.cancel_all("feed stale: " + transition.reason, symbol)
        self._requote(symbol, None)
        self._publish_posture()

    def on_watchdog_state(self, previous: TradingState, current: TradingState) -> None:
        self._watchdog_state = current
        self.metrics.watchdog_state.set(int(current))
        log.warning("watchdog_state_changed", extra={"from": previous.name, "to": current.name})
        if current >= TradingState.HALTED:
            self.orders.cancel_all(f"watchdog {current.name}")
        self.requote_all()
        self._publish_posture()

    # -- order listener --------------------------------------------------------------------

    def order_submitting(self, order: TrackedOrder) -> None:
        # Sent before the order goes out (the client sends a SUBMIT in the call): the watchdog
        # hears of every order before the venue can acknowledge it.
        self._tell_watchdog(self._event(OrderEventKind.SUBMIT, order, order.qty, order.price))

    def order_submitted(self, order: TrackedOrder) -> None:
        self.metrics.orders.labels(order.symbol, order.side.value).inc()
        self._apply_pretrade(self._event(OrderEventKind.SUBMIT, order, order.qty, order.price))

    def order_sent(self, order: TrackedOrder, tick_ns: int | None) -> None:
        if tick_ns is not None:
            self.metrics.tick_to_order.observe((order.written_ns - tick_ns) / 1e9)

    def order_acked(self, order: TrackedOrder, round_trip_s: float) -> None:
        self.metrics.order_round_trip.observe(round_trip_s)
        self._report(self._event(OrderEventKind.ACK, order, order.qty, order.price))

    def order_rejected(self, order: TrackedOrder, reason: str) -> None:
        self.metrics.rejects.labels(order.symbol, "venue").inc()
        self._report(self._event(OrderEventKind.REJECT, order, order.qty, order.price, reason))
        log.warning("order_rejected", extra={"client_id": order.client_id, "reason": reason})

    def order_cancelled(self, order: TrackedOrder, reason: str) -> None:
        self.metrics.cancels.labels(order.symbol).inc()
        remaining = max(order.qty - order.filled, 0.0)
        self._report(self._event(OrderEventKind.CANCEL, order, remaining, order.price, reason))
        self._requote(order.symbol, None)

    def order_filled(self, order: TrackedOrder, qty: float, price: float) -> None:
        symbol = order.symbol
        signed = qty if order.side is Side.BUY else -qty
        self._holdings[symbol], pnl = apply_fill(self._holdings[symbol], signed, price)
        self._realized += pnl
        self._lots[symbol] = self.instruments[symbol].lots(self._holdings[symbol].qty)
        self.metrics.fills.labels(symbol, order.side.value).inc()
        self.metrics.position.labels(symbol).set(self._holdings[symbol].qty)
        self._report(self._event(OrderEventKind.FILL, order, qty, price, realized_pnl=pnl))
        log.info("fill", extra={"client_id": order.client_id, "qty": qty, "price": price})
        self._requote(symbol, None)

    def _event(
        self,
        kind: OrderEventKind,
        order: TrackedOrder,
        qty: float,
        price: float,
        reason: str = "",
        *,
        realized_pnl: float | None = None,
    ) -> OrderEvent:
        """One step of ``order``'s life, as both the watchdog and pre-trade risk hear it."""
        side = RiskSide(order.side.value)
        return OrderEvent(
            self._clock.wall(), kind, order.symbol, side, qty, price, reason, realized_pnl,
            order_id=order.client_id,
        )  # fmt: skip

    def _report(self, event: OrderEvent) -> None:
        self._tell_watchdog(event)
        self._apply_pretrade(event)

    def _tell_watchdog(self, event: OrderEvent) -> None:
        self.link.report_order(
            event.kind, event.symbol, event.side, event.qty, event.price,
            reason=event.reason, realized_pnl=event.realized_pnl, order_id=event.order_id,
        )  # fmt: skip

    def _apply_pretrade(self, event: OrderEvent) -> None:
        self.pretrade.apply(event, event.ts)

    # -- periodic: reconcile with the venue, report, keep systemd informed ------------------

    async def housekeeping(self) -> None:
        while True:
            await self.housekeep_once()
            await asyncio.sleep(self._interval)

    async def housekeep_once(self) -> None:
        try:
            await self.orders.reconcile()
            account = await self._account()
        except (VenueError, TimeoutError) as exc:
            self.reconcile_errors += 1
            log.warning("reconciliation_failed", extra={"error": str(exc)})
            account = None
        self._report_snapshots(account)
        self._local_risk()
        self._update_metrics()
        self._update_ready()

    async def _account(self) -> AccountReport:
        async with asyncio.timeout(self._interval * 4 + 5):
            account = await self._venue.account()
        self.last_account = account
        return account

    def _report_snapshots(self, account: AccountReport | None) -> None:
        now = self._clock.wall()
        link = self.link
        if account is not None:
            link.report_account(account.equity, self._realized, account.unrealized_pnl)
            self.pretrade.apply(
                AccountSnapshot(now, account.equity, self._realized, account.unrealized_pnl), now
            )
            self.pretrade.set_equity(account.equity)
            self.metrics.equity.set(account.equity)
            for symbol, instrument in self.instruments.items():
                self._sync_position(symbol, instrument, account, now)
        for symbol, last in self._last_event.items():
            link.report_feed(symbol, last)
            self.pretrade.apply(FeedStatus(now, symbol, last), now)
        link.report_open_orders(len(self.orders.orders()))
        local = self.pretrade.state
        link.report_state(local, "in-process risk" if local else "")

    def _sync_position(
        self, symbol: str, instrument: Instrument, account: AccountReport, now: float
    ) -> None:
        """The venue is the truth for positions: adopt its quantity, keep our average price."""
        venue_position = account.find(symbol)
        qty = venue_position.qty if venue_position is not None else 0.0
        held = self._holdings[symbol]
        if abs(qty - held.qty) <= instrument.lot / 2:
            self._mismatch.pop(symbol, None)
        elif self._mismatch.get(symbol) != qty:
            # A fill can land between the order and account reads: act only on a gap that
            # is still the same one reconciliation later.
            self._mismatch[symbol] = qty
        else:
            log.warning(
                "position_corrected_from_venue",
                extra={"symbol": symbol, "local": held.qty, "venue": qty},
            )
            entry = venue_position.entry_price if venue_position is not None else 0.0
            self._holdings[symbol] = Holding(qty, entry if qty else 0.0, held.realized)
            self._lots[symbol] = instrument.lots(qty)
            self._mismatch.pop(symbol, None)
        self.metrics.position.labels(symbol).set(qty)
        mark = self._mark(symbol, instrument, venue_position)
        if qty and mark is None:
            log.warning("position_not_reported_no_mark_price", extra={"symbol": symbol})
            return
        self.link.report_position(symbol, qty, mark or 0.0)
        self.pretrade.apply(PositionSnapshot(now, symbol, qty, mark or 0.0), now)

    def _mark(
        self, symbol: str, instrument: Instrument, venue: PositionReport | None
    ) -> float | None:
        """Mid from the feed, else the venue's mark, else the entry price; None if none is > 0."""
        top = self._tops[symbol]
        candidates = (
            instrument.price(top.bid + top.ask) / 2 if top else 0.0,
            venue.mark_price if venue else 0.0,
            venue.entry_price if venue else 0.0,
        )
        return next((c for c in candidates if math.isfinite(c) and c > 0), None)

    def _local_risk(self) -> None:
        now = self._clock.wall()
        before = self.pretrade.state
        # We are alive by definition: without our own heartbeat the local engine would
        # escalate its heartbeat rule against us.
        self.pretrade.apply(Heartbeat(now), now)
        after = self.pretrade.evaluate(now).state
        if after != before:
            log.warning("local_risk_state_changed", extra={"from": before.name, "to": after.name})
            self.requote_all()

    def _update_metrics(self) -> None:
        now = self._clock.monotonic()
        if self.feed is not None and self.feed.connects > self._connects_seen:
            self.metrics.feed_connects.inc(self.feed.connects - self._connects_seen)
            self._connects_seen = self.feed.connects
        for symbol in self.instruments:
            last = self._last_rx.get(symbol)
            if last is not None:
                self.metrics.feed_age.labels(symbol).set(now - last)
        state = self.watchdog_state
        if state != self._watchdog_state:
            self.on_watchdog_state(self._watchdog_state, state)
        self.metrics.watchdog_state.set(int(state))
        self._publish_posture()

    def _publish_posture(self) -> None:
        worst = max(self.posture(s) for s in self.instruments)
        self.metrics.posture.set(int(worst))

    def _update_ready(self) -> None:
        # READY=1 only; WATCHDOG=1 comes from the runner's keepalive task, never from here:
        # this runs after venue calls that may outlast the unit's WatchdogSec.
        quoting = all(self.posture(s) is Posture.QUOTE for s in self.instruments)
        if quoting and not self._ready:
            self._ready = True
            self._notifier.ready("trading")
            log.info("trading_can_start")

    # -- shutdown ---------------------------------------------------------------------------

    async def shutdown(self, deadline_s: float) -> ShutdownResult:
        """Cancel our orders and verify at the venue that none rest; never beyond the deadline."""
        self._stopping = True
        self._notifier.stopping("cancelling own orders")
        self.orders.cancel_all("shutdown")
        try:
            async with asyncio.timeout(deadline_s):
                await self.orders.wait_no_orders()
                result = await self._verify_flat()
        except TimeoutError:
            result = ShutdownResult(False, f"orders still open after {deadline_s}s")
        self._final_telemetry(result)
        return result

    async def _verify_flat(self) -> ShutdownResult:
        """Re-list at the venue; cancel anything of ours still there (e.g. an in-flight send)."""
        while True:
            try:
                await self.orders.reconcile()
            except (VenueError, TimeoutError) as exc:
                log.warning("shutdown_reconciliation_failed", extra={"error": str(exc)})
                await asyncio.sleep(0.2)
                continue
            if not self.orders.orders():
                return ShutdownResult(True, "no own orders at the venue")
            self.orders.cancel_all("shutdown sweep")
            await self.orders.wait_no_orders()

    def _final_telemetry(self, result: ShutdownResult) -> None:
        link = self.link
        link.report_open_orders(0 if result.flat else len(self.orders.orders()))
        link.report_state(TradingState.HALTED, "shutdown: " + result.detail)
        if self.last_account is not None:
            link.report_account(
                self.last_account.equity, self._realized, self.last_account.unrealized_pnl
            )
        link.flush()
