"""The daemon's venue side, per trader with a ``[traders.venue]`` table.

Lifecycle (called by the server): ``open()`` at startup (one HTTP session, the keys loaded,
server time learnt) before the kill pipeline is built, so a kill resumed at startup can act;
``factories()`` for the pipeline; ``attach()`` the supervisors; ``run()`` inside the daemon's
task group (self-check first, then the scheduled jobs and the user-data streams);
``close()`` at shutdown (disarm the dead man's switch only when configured).

Venue-neutral: the adapters come from the kind's registry entry (``kinds.py``) and are used
through the ``Venue``/``KeyAdmin`` protocol only, so one daemon drives Binance, Bybit and OKX
traders side by side. Jobs (APScheduler, coalesced, one instance each): reconcile (default every
1 s), dead man's switch refresh (window / 3), self-check (default every 60 s). Each successful
reconciliation is a fresh venue view: the trader's engine HALTs it once the view is older than
``max_venue_blind_s`` (rule ``venue_blind``); the dead man's switch job runs regardless.
``status()`` reports the keys, the view and the switch as the daemon's status shows them.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry, Counter, Gauge

from risk.events import AccountSnapshot, RiskEvent
from watchdog.clock import Clock
from watchdog.daemon.kill import ActionFactory, KillAction, KillContext
from watchdog.daemon.venue.actions import (
    CancelAllOrders,
    FlattenPositions,
    PositionExit,
    RevokeTraderKey,
    SweepOpenOrders,
)
from watchdog.daemon.venue.dms import DeadMansSwitch, DmsStatus
from watchdog.daemon.venue.marking import MalformedUpdate, MarkedView
from watchdog.daemon.venue.reconcile import Reconciler, order_event
from watchdog.daemon.venue.selfcheck import CredentialSelfCheck, SelfCheckResult
from watchdog.daemon.venue.settings import VenueConfigError, VenueSettings
from watchdog.daemon.wallstep import follow_wall_steps
from watchdog.logs import bound, log_event
from watchdog.venues.base import Follower, VenueAdapter
from watchdog.venues.binance_futures import open_session
from watchdog.venues.errors import VenueError
from watchdog.venues.market_stream import FRAMES_LOGGER, MarketItem, Tick
from watchdog.venues.user_events import AccountUpdate, OrderUpdate
from watchdog.venues.user_stream import (
    StreamConnected,
    StreamDisconnected,
    StreamFault,
    StreamItem,
)

_log = logging.getLogger("watchdog.venue")
SELFCHECK_HOLD = "venue_selfcheck"
MARKET_HOLD = "venue_market"
UNVALUED_HOLD = "venue_unvalued"
STREAM_HOLD = "venue_user_stream"
RECONCILE_ALERT_AFTER = 5  # failed reconciliations in a row before an alert


class VenueListener(Protocol):
    """What the venue side needs from a trader's supervisor."""

    def on_venue(self, events: Sequence[RiskEvent]) -> None: ...

    def hold(self, key: str, reason: str) -> None: ...

    def release(self, key: str) -> None: ...

    def venue_stream_connected(self) -> None: ...


class Alerts(Protocol):
    def notify(self, kind: str, trader: str, **detail: object) -> None: ...


@dataclass
class VenueTrader:
    """One trader's venue side: the watchdog's two adapters and its jobs."""

    trader: str
    settings: VenueSettings
    account: VenueAdapter
    master: VenueAdapter
    reconciler: Reconciler
    dms: DeadMansSwitch | None
    selfcheck: CredentialSelfCheck
    follower: Follower | None
    marked: MarkedView
    market: Follower | None = None  # the public market stream; None: not followed
    listener: VenueListener | None = None
    pending: list[RiskEvent] = field(default_factory=list)  # before attach()
    stream_connected_before_attach: bool = False
    reconcile_failures: int = 0  # in a row
    view_at: float | None = None  # wall time of the last successful reconciliation's read
    unpriced: set[str] = field(default_factory=set)  # not priced since the stream's last fault
    unvalued: tuple[str, ...] = ()  # held on instruments the venue view cannot value
    stream_unknown_ms: float | None = None  # venue time the stream last lost an update
    reading: bool = False  # a reconciliation is in flight
    read_again: bool = False  # a read was asked for at once while it was


class _VenueMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.dms_refreshed = Gauge(
            "killswitch_venue_dms_refreshed_timestamp_seconds",
            "Wall time of the last confirmed countdownCancelAll refresh", ["trader"], registry=r,
        )  # fmt: skip
        self.selfcheck_ok = Gauge(
            "killswitch_venue_selfcheck_ok", "1 while the watchdog's own venue keys work",
            ["trader"], registry=r,
        )  # fmt: skip
        self.reconcile_ok = Gauge(
            "killswitch_venue_reconcile_timestamp_seconds",
            "Wall time of the last successful venue reconciliation", ["trader"], registry=r,
        )  # fmt: skip
        self.stream_connected = Gauge(
            "killswitch_venue_stream_connected", "1 while the user-data stream is connected",
            ["trader"], registry=r,
        )  # fmt: skip
        self.stream_events = Counter(
            "killswitch_venue_stream_events", "User-data stream items by kind",
            ["trader", "kind"], registry=r,
        )  # fmt: skip
        self.used_weight = Gauge(
            "killswitch_venue_used_weight_1m", "The venue's X-MBX-USED-WEIGHT-1M, last seen",
            ["trader"], registry=r,
        )  # fmt: skip
        self.rate = Gauge(
            "killswitch_venue_rate_counter",
            "The venue's own rate-limit counters from its last answer, by name",
            ["trader", "counter"], registry=r,
        )  # fmt: skip
        self.market_events = Counter(
            "killswitch_venue_market_events", "Market stream items by kind",
            ["trader", "kind"], registry=r,
        )  # fmt: skip
        self.dms_supported = Gauge(
            "killswitch_venue_dms_supported",
            "0 when the venue said its dead man's switch is unsupported for this account",
            ["trader"], registry=r,
        )  # fmt: skip


class VenueService:
    def __init__(
        self,
        traders: Mapping[str, VenueSettings],
        *,
        clock: Clock,
        alerts: Alerts,
        registry: CollectorRegistry,
    ) -> None:
        self._settings = dict(traders)
        self._clock = clock
        self._alerts = alerts
        self._metrics = _VenueMetrics(registry)
        self._session: aiohttp.ClientSession | None = None
        self._traders: dict[str, VenueTrader] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._dms_unsupported: set[str] = set()  # traders whose venue said "no such switch"

    @property
    def traders(self) -> Mapping[str, VenueTrader]:
        return self._traders

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """One HTTP session for every venue call; learn each key's server-time offset."""
        if not self._settings:
            return
        self._session = open_session()
        for trader, settings in self._settings.items():
            self._traders[trader] = self._build(trader, settings, self._session)
        await asyncio.gather(*(self._sync_time(v) for v in self._traders.values()))

    def attach(self, listeners: Mapping[str, VenueListener]) -> None:
        for trader, venue in self._traders.items():
            venue.listener = listeners[trader]
            if venue.stream_connected_before_attach:
                venue.listener.venue_stream_connected()
            if venue.pending:
                venue.listener.on_venue(venue.pending)
                venue.pending.clear()

    async def run(self) -> None:
        """Self-check at start, then jobs and streams until cancelled."""
        if not self._traders:
            return
        await asyncio.gather(*(self._selfcheck(v) for v in self._traders.values()))
        # Jobs run several times a second: their "running job" lines would drown the journal.
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        # Market frames arrive many times a second per symbol: a debug line each would too.
        logging.getLogger(FRAMES_LOGGER).setLevel(logging.INFO)
        self._scheduler = AsyncIOScheduler(timezone=datetime.UTC)
        for venue in self._traders.values():
            self._schedule(venue)
        self._scheduler.start()
        try:
            async with asyncio.TaskGroup() as group:
                for venue in self._traders.values():
                    for follower in (venue.follower, venue.market):
                        if follower is not None:
                            with bound(trader=venue.trader):  # the task copies the context
                                group.create_task(follower.run())
                group.create_task(follow_wall_steps(self._clock, self._on_wall_step))
                await asyncio.Event().wait()  # until the daemon cancels us
        finally:
            self._scheduler.shutdown(wait=False)

    def _on_wall_step(self, step_s: float) -> None:
        """APScheduler keeps wall-time run dates: after a step, every job runs now."""
        log_event(_log, logging.WARNING, "wall_clock_step", step_s=round(step_s, 3))
        assert self._scheduler is not None
        now = datetime.datetime.fromtimestamp(self._clock.wall(), tz=datetime.UTC)
        for job in self._scheduler.get_jobs():
            job.modify(next_run_time=now)

    async def close(self) -> None:
        for venue in self._traders.values():
            if venue.dms is not None and venue.dms.settings.disarm_on_shutdown:
                await venue.dms.disarm()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def status(self, trader: str) -> dict[str, Any]:
        """What the status shows of a trader's venue side: its keys, its view, its dead man's
        switch (each None when the trader has no venue side, or no switch)."""
        venue = self._traders.get(trader)
        if venue is None:
            return {"venue_keys": None, "venue_view": None, "dms": None}
        check = venue.selfcheck.last
        keys = {
            "ok": check is not None and check.ok,
            "checked_at": None if check is None else check.checked_wall,
            "detail": "" if check is None else check.detail,
        }
        now = self._clock.wall()
        at = venue.view_at
        view = {
            "at": at,
            "age_s": None if at is None else round(now - at, 3),
            "max_blind_s": venue.settings.max_venue_blind_s,
        }
        return {"venue_keys": keys, "venue_view": view, "dms": _dms_status(venue.dms)}

    # -- kill actions --------------------------------------------------------------------

    def factories(self) -> tuple[ActionFactory, ...]:
        return (self._cancel_factory, self._sweep_factory, self._revoke_factory,
                self._flatten_factory)  # fmt: skip

    def _cancel_factory(self, ctx: KillContext) -> KillAction | None:
        venue = self._traders.get(ctx.trader.id)
        if venue is None:
            return None
        return CancelAllOrders(venue.account, venue.settings.symbols, clock=ctx.clock)

    def _sweep_factory(self, ctx: KillContext) -> KillAction | None:
        venue = self._traders.get(ctx.trader.id)
        return None if venue is None else SweepOpenOrders(venue.account, clock=ctx.clock)

    def _revoke_factory(self, ctx: KillContext) -> KillAction | None:
        venue = self._traders.get(ctx.trader.id)
        if venue is None:
            return None
        return RevokeTraderKey(
            venue.master, venue.account, trader=venue.settings.trader, clock=ctx.clock
        )

    def _flatten_factory(self, ctx: KillContext) -> KillAction | None:
        venue = self._traders.get(ctx.trader.id)
        if venue is None or not venue.settings.flatten:
            return None
        assert isinstance(venue.account, PositionExit)  # checked when the adapter was built
        return FlattenPositions(venue.account, clock=ctx.clock)

    # -- pieces --------------------------------------------------------------------------

    def _build(
        self, trader: str, settings: VenueSettings, session: aiohttp.ClientSession
    ) -> VenueTrader:
        account = settings.connect(session, settings.account, self._clock)
        master = settings.connect(session, settings.master, self._clock)
        if settings.flatten and not isinstance(account, PositionExit):
            raise VenueConfigError(
                f"traders {trader}: flatten: the watchdog has no exits on {settings.kind} yet"
            )
        holder: list[VenueTrader] = []
        reconciler = Reconciler(
            account, settings.symbols, clock=self._clock,
            sink=lambda events: self._deliver(holder[0], events),
        )  # fmt: skip
        dms = None
        if settings.dms is not None:
            dms = DeadMansSwitch(
                account, settings.symbols, settings.dms, clock=self._clock,
                on_status=lambda status: self._on_dms(trader, status),
            )  # fmt: skip
        selfcheck = CredentialSelfCheck(
            _account_check(account), _master_check(master, settings),
            clock=self._clock,
            on_result=lambda result: self._on_selfcheck(holder[0], result),
        )  # fmt: skip
        follower = None
        if settings.ws_url is not None:
            follower = account.open_follower(
                settings.ws_url,
                lambda item: self._on_stream(holder[0], item),
                hold_dms=settings.dms is not None,
            )
        venue = VenueTrader(
            trader, settings, account, master, reconciler, dms, selfcheck, follower,
            MarkedView(settings.max_venue_blind_s),
        )  # fmt: skip
        if settings.market_ws_url is not None:
            venue.market = account.open_market_follower(
                settings.market_ws_url, settings.symbols,
                lambda item: self._on_market(venue, item),
                silence_s=settings.max_market_silence_s,
            )  # fmt: skip
        holder.append(venue)
        return venue

    async def _sync_time(self, venue: VenueTrader) -> None:
        for adapter in (venue.account, venue.master):
            try:
                await adapter.sync_time()
            except VenueError as exc:
                # Not fatal here: the self-check right after decides (and fails closed).
                log_event(_log, logging.WARNING, "venue_time_sync_failed",
                          trader=venue.trader, error=str(exc))  # fmt: skip

    def _schedule(self, venue: VenueTrader) -> None:
        assert self._scheduler is not None
        s = venue.settings
        self._every(f"venue-reconcile-{venue.trader}", s.reconcile_period_s,
                    lambda: self._reconcile(venue), trader=venue.trader)  # fmt: skip
        # The start-up self-check has just run: the next one is a period away.
        self._every(f"venue-selfcheck-{venue.trader}", s.selfcheck_period_s,
                    lambda: self._selfcheck(venue), trader=venue.trader,
                    first_in_s=s.selfcheck_period_s)  # fmt: skip
        if venue.dms is not None:
            dms = venue.dms
            self._every(f"venue-dms-{venue.trader}", dms.settings.refresh_interval_s, dms.refresh,
                        trader=venue.trader)  # fmt: skip

    def _every(
        self,
        job_id: str,
        seconds: float,
        job: Callable[[], Awaitable[object]],
        *,
        trader: str,
        first_in_s: float = 0.0,
    ) -> None:
        assert self._scheduler is not None

        async def run() -> None:
            # Every line a job logs (a failed reconcile, a failed refresh) names its trader.
            with bound(trader=trader):
                await job()

        first = datetime.datetime.fromtimestamp(self._clock.wall() + first_in_s, tz=datetime.UTC)
        self._scheduler.add_job(
            run, "interval", seconds=seconds, id=job_id, max_instances=1, coalesce=True,
            misfire_grace_time=max(1, int(seconds)), next_run_time=first,
        )  # fmt: skip

    async def _reconcile(self, venue: VenueTrader) -> None:
        """One read, then one more while a read was asked for at once during the last: the read
        in flight may have begun before what asked (many requests, one more read)."""
        venue.reading = True
        try:
            venue.read_again = False
            await self._read(venue)
            while venue.read_again:
                venue.read_again = False
                await self._read(venue)
        finally:
            venue.reading = False

    async def _read(self, venue: VenueTrader) -> None:
        began_ms = self._clock.wall() * 1000.0 + venue.account.time_offset_ms
        result = await venue.reconciler.run_once()
        for name, value in venue.account.rate_counters().items():
            self._metrics.rate.labels(venue.trader, name).set(value)
            if name == "used_weight_1m":
                self._metrics.used_weight.labels(venue.trader).set(value)
        if result.ok:
            venue.view_at = next(
                (e.ts for e in result.events if isinstance(e, AccountSnapshot)), venue.view_at
            )
            if result.account is not None:
                self._judge_unvalued(venue, result.account.unvalued)
                if venue.view_at is not None:
                    # The read may lack stream updates that came while it was in flight: the
                    # view applies them again, and what they move is judged after the read's own.
                    replayed = venue.marked.on_read(result.account, venue.view_at, began_ms)
                    if replayed:
                        self._deliver(venue, replayed)
                    self._release_stream_hold(venue, began_ms)
                    self._wait_for_read(venue, venue.marked.left_to_a_read())
            self._metrics.reconcile_ok.labels(venue.trader).set(self._clock.wall())
            venue.reconcile_failures = 0
            return
        venue.reconcile_failures += 1
        if venue.reconcile_failures == RECONCILE_ALERT_AFTER:
            # Once per outage: the venue view is blind, risk runs on telemetry alone meanwhile.
            failures = venue.reconcile_failures
            self._alerts.notify(
                "venue_reconcile_failing", venue.trader, failures=failures, detail=result.detail
            )

    def _judge_unvalued(self, venue: VenueTrader, unvalued: tuple[str, ...]) -> None:
        """A position the view cannot value is an unknown: HALTED by name, alerted once per
        change, released when the venue shows none."""
        if venue.listener is None or unvalued == venue.unvalued:
            return
        venue.unvalued = unvalued
        if not unvalued:
            venue.listener.release(UNVALUED_HOLD)
            return
        names = ", ".join(unvalued)
        reason = f"venue view: positions the watchdog cannot value: {names}"
        self._alerts.notify("venue_unvalued_positions", venue.trader, detail=reason)
        venue.listener.hold(UNVALUED_HOLD, reason)

    def _release_stream_hold(self, venue: VenueTrader, began_ms: float) -> None:
        """A read asked for after the stream lost an update holds everything it missed."""
        if venue.stream_unknown_ms is None or began_ms <= venue.stream_unknown_ms:
            return
        venue.stream_unknown_ms = None
        if venue.listener is not None:
            venue.listener.release(STREAM_HOLD)

    def _stream_unknown(self, venue: VenueTrader, reason: str) -> None:
        """An update the stream carried but the view could not take: HALTED, by name, until
        the next read fills the gap."""
        venue.stream_unknown_ms = self._clock.wall() * 1000.0 + venue.account.time_offset_ms
        log_event(_log, logging.WARNING, "venue_stream_fault", trader=venue.trader, reason=reason)
        self._alerts.notify("venue_stream_fault", venue.trader, detail=reason)
        if venue.listener is not None:
            venue.listener.hold(STREAM_HOLD, f"venue user stream: {reason}")
        self._read_now(venue)  # not at the next period: the gap is open

    def _read_now(self, venue: VenueTrader) -> None:
        if venue.reading:
            # The scheduler would skip the job (one instance) and wait a whole period: the read
            # in flight runs one more itself when it ends.
            venue.read_again = True
            return
        if self._scheduler is not None:
            job = self._scheduler.get_job(f"venue-reconcile-{venue.trader}")
            if job is not None:
                now = datetime.datetime.fromtimestamp(self._clock.wall(), tz=datetime.UTC)
                job.modify(next_run_time=now)

    async def _selfcheck(self, venue: VenueTrader) -> SelfCheckResult:
        return await venue.selfcheck.run_once()

    def _deliver(self, venue: VenueTrader, events: Sequence[RiskEvent]) -> None:
        if venue.listener is None:
            venue.pending.extend(events)
        else:
            venue.listener.on_venue(events)

    def _on_dms(self, trader: str, status: DmsStatus) -> None:
        self._metrics.dms_supported.labels(trader).set(1 if status.supported else 0)
        was_supported = trader not in self._dms_unsupported
        if status.supported:
            self._dms_unsupported.discard(trader)
        else:
            self._dms_unsupported.add(trader)
        if status.ok and status.refreshed_wall is not None:
            self._metrics.dms_refreshed.labels(trader).set(status.refreshed_wall)
        elif not status.supported:
            # Loudly, once per change: the venue will not cancel if the watchdog dies, and the
            # trader stays unarmed until the switch works or the operator turns it off.
            if was_supported:
                self._alerts.notify("venue_dms_unsupported", trader, detail=status.detail)
        else:
            self._alerts.notify("venue_dms_refresh_failed", trader, detail=status.detail)

    def _on_selfcheck(self, venue: VenueTrader, result: SelfCheckResult) -> None:
        self._metrics.selfcheck_ok.labels(venue.trader).set(1 if result.ok else 0)
        if venue.listener is None:
            return
        if result.ok:
            venue.listener.release(SELFCHECK_HOLD)
            return
        # Fail closed: without working keys the watchdog cannot kill on the venue.
        self._alerts.notify("venue_selfcheck_failed", venue.trader, detail=result.detail)
        venue.listener.hold(SELFCHECK_HOLD, f"venue credentials self-check: {result.detail}")

    def _on_stream(self, venue: VenueTrader, item: StreamItem) -> None:
        kind = type(item).__name__
        self._metrics.stream_events.labels(venue.trader, kind).inc()
        if isinstance(item, OrderUpdate):
            event = order_event(item, self._clock.wall())
            if event is not None:
                self._deliver(venue, (event,))
        elif isinstance(item, StreamConnected):
            self._metrics.stream_connected.labels(venue.trader).set(1)
            # Orders acknowledged while the stream was away are missing from the venue's count.
            if venue.listener is None:
                venue.stream_connected_before_attach = True
            else:
                venue.listener.venue_stream_connected()
        elif isinstance(item, StreamDisconnected):
            self._metrics.stream_connected.labels(venue.trader).set(0)
        elif isinstance(item, StreamFault) and item.lost_update:
            self._stream_unknown(venue, item.reason)
        elif isinstance(item, StreamFault):
            log_event(_log, logging.WARNING, "venue_stream_fault", trader=venue.trader,
                      reason=item.reason)  # fmt: skip
        elif isinstance(item, AccountUpdate):
            self._on_account_update(venue, item)

    def _on_account_update(self, venue: VenueTrader, update: AccountUpdate) -> None:
        """Move the marking's basis at once: the fill is judged now, and marked at each price.
        A position the update could not move (its wallet change unknown) is read at once."""
        waiting = venue.marked.waiting_for_read()
        try:
            events = venue.marked.on_update(update, self._clock.wall())
        except MalformedUpdate as exc:
            self._stream_unknown(venue, str(exc))
            return
        if events:
            self._deliver(venue, events)
        self._wait_for_read(venue, venue.marked.waiting_for_read() - waiting)

    def _wait_for_read(self, venue: VenueTrader, symbols: frozenset[str]) -> None:
        """Symbols only a read can move (a push the counter cannot follow, an update the view
        could not keep): read at once, not at the next period."""
        if symbols:
            log_event(_log, logging.INFO, "venue_view_waits_for_read", trader=venue.trader,
                      symbols=sorted(symbols))  # fmt: skip
            self._read_now(venue)

    def _on_market(self, venue: VenueTrader, item: MarketItem) -> None:
        """Mark the account at every price; a fault, a silence or a reconnect holds the trader
        HALTED until every followed symbol is priced again (a gap is never a quiet market)."""
        self._metrics.market_events.labels(venue.trader, type(item).__name__).inc()
        if isinstance(item, Tick):
            self._deliver(venue, venue.marked.on_price(item.symbol, item.bid, item.ask,
                                                       self._clock.wall()))  # fmt: skip
            if item.bid > 0.0 and item.ask > 0.0:
                venue.unpriced.discard(item.symbol)
            if not venue.unpriced and venue.listener is not None:
                venue.listener.release(MARKET_HOLD)
            return
        if isinstance(item, StreamConnected):
            venue.unpriced = set(venue.settings.symbols)  # the gap's prices are unknown
            return
        reason = item.reason
        venue.unpriced = set(venue.settings.symbols)
        log_event(_log, logging.WARNING, "venue_market_fault", trader=venue.trader, reason=reason)
        if venue.listener is not None:
            venue.listener.hold(MARKET_HOLD, f"venue market stream: {reason}")


def _dms_status(dms: DeadMansSwitch | None) -> dict[str, Any] | None:
    if dms is None:
        return None
    last = dms.last
    return {
        "ok": last is not None and last.ok,
        "supported": last is None or last.supported,
        "detail": "never refreshed" if last is None else last.detail,
        "countdown_ms": dms.settings.countdown_ms,
        "refresh_s": dms.settings.refresh_interval_s,
        "refreshed_at": dms.refreshed_wall,
        "expires_at": dms.expires_at,
    }


def _account_check(account: VenueAdapter) -> Callable[[], Awaitable[str]]:
    async def check() -> str:
        view = await account.account()
        return f"account read, equity {view.equity}"

    return check


def _master_check(master: VenueAdapter, settings: VenueSettings) -> Callable[[], Awaitable[str]]:
    async def check() -> str:
        # The key works and still reaches the trader's key: otherwise it could not delete it.
        return await master.confirm_manages(settings.trader)

    return check
