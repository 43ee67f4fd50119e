"""The trader's shell in process: a recording venue and a recording watchdog link."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from killswitch_client import TradingState as WatchdogState
from prometheus_client import CollectorRegistry

from risk import OrderEventKind, TradingState, parse_limits
from risk import Side as RiskSide
from tests.trader.helpers import RealClock, wait_until
from tests.trader.test_orders import BTC, FakeVenue, LoggedPlace, LoggingEntry, report
from trader.app import Trader
from trader.config import StrategyConfig, load_config
from trader.feed import BookTicker, Transition
from trader.metrics import TraderMetrics
from trader.pretrade import PreTradeRisk
from trader.runner import RunOptions, _main_loop
from trader.strategy import Side
from trader.venue import AccountReport, OrderReport, OrderRequest, PositionReport, SentHook
from watchdog.sdnotify import SdNotifier

EXAMPLE = Path(__file__).parents[2] / "examples" / "trader.toml"


class RecordingLink:
    """A watchdog link whose state the test sets and which records every report."""

    def __init__(self) -> None:
        self.state = WatchdogState.ACTIVE
        self.reports: list[tuple[str, tuple[object, ...]]] = []
        self.order_ids: list[tuple[str, str]] = []  # (kind, client order id) per order report
        self.flushes = 0
        self.rehearsed: list[tuple[str, str]] = []

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
    ) -> None:
        self.reports.append(("order", (kind, symbol, side, qty, reason)))
        self.order_ids.append((str(kind), order_id))

    def report_account(
        self, equity: float, realized_pnl: float, unrealized_pnl: float, *, ts: float | None = None
    ) -> None:
        self.reports.append(("account", (equity,)))

    def report_position(
        self, symbol: str, qty: float, mark_price: float, *, ts: float | None = None
    ) -> None:
        self.reports.append(("position", (symbol, qty, mark_price)))

    def report_feed(self, symbol: str, last_event_ts: float, *, ts: float | None = None) -> None:
        self.reports.append(("feed", (symbol,)))

    def report_open_orders(self, count: int, *, ts: float | None = None) -> None:
        self.reports.append(("open_orders", (count,)))

    def report_state(
        self, state: TradingState, reason: str = "", *, ts: float | None = None
    ) -> None:
        self.reports.append(("state", (state, reason)))

    def flush(self, *, heartbeat: bool = True) -> None:
        self.flushes += 1

    def rehearse_report(self, symbol: str, order_id: str) -> None:
        self.rehearsed.append((symbol, order_id))  # a heater's warm-up: no report

    def kinds(self, kind: str) -> list[tuple[object, ...]]:
        return [args for k, args in self.reports if k == kind]


class AccountVenue(FakeVenue):
    def __init__(self, position: float = 0.0) -> None:
        super().__init__()
        self.position = position

    async def account(self) -> AccountReport:
        positions = (PositionReport("BTCUSDT", self.position, 0.0, 0.0, 60_000.0),)
        return AccountReport(100_000.0, 0.0, positions if self.position else ())


def build(venue: FakeVenue, link: RecordingLink) -> Trader:
    limits = parse_limits('profile = "standard"\n', "t")
    clock = RealClock()
    return Trader(
        instruments={"BTCUSDT": BTC},
        strategy=StrategyConfig(half_spread_bps=1.0, skew_bps=1.0, requote_ticks=5),
        venue=venue,
        link=link,
        pretrade=PreTradeRisk(limits, now=clock.wall()),
        metrics=TraderMetrics(CollectorRegistry()),
        clock=clock,
        notifier=SdNotifier({}),
        trader_id="mm1",
        session="t",
        request_timeout_s=1.0,
        reconcile_interval_s=0.1,
    )


def tick(price: float = 60_000.0) -> BookTicker:
    return BookTicker("BTCUSDT", price, 1.0, price + 0.1, 1.0, int(time.time() * 1000), 1)


Running = tuple[Trader, AccountVenue, RecordingLink]


@contextlib.asynccontextmanager
async def quoting() -> AsyncIterator[Running]:
    """A trader quoting BTCUSDT (two resting quotes) on a fresh feed; shut down after."""
    venue, link = AccountVenue(), RecordingLink()
    trader = build(venue, link)
    async with asyncio.TaskGroup() as tg:
        trader.attach(tg, None)  # no feed: the test plays it
        await trader.housekeep_once()
        trader.on_feed_state(Transition("BTCUSDT", True, "fresh"))
        trader.on_ticker(tick(), time.perf_counter_ns())
        await wait_until(lambda: len(venue.resting) == 2, what="two quotes")
        yield trader, venue, link
        await trader.shutdown(5.0)


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    async with quoting() as quoted:
        yield quoted


async def test_it_quotes_both_sides_and_reports_each_order(running: Running) -> None:
    _, venue, link = running
    sides = {r.side for r in venue.resting.values()}
    assert sides == {Side.BUY, Side.SELL}
    await wait_until(lambda: len(link.kinds("order")) >= 4, what="submit and ack reports")
    kinds = [k for k, *_ in link.kinds("order")]
    assert kinds[0] == OrderEventKind.SUBMIT  # a submit always precedes its answer
    assert kinds.count(OrderEventKind.SUBMIT) == kinds.count(OrderEventKind.ACK) == 2


class WitnessVenue(AccountVenue):
    """Records, as each order reaches it, the SUBMITs the watchdog link had been given."""

    def __init__(self, link: RecordingLink) -> None:
        super().__init__()
        self.link = link
        self.announced_first: list[bool] = []

    async def place(self, order: OrderRequest, on_sent: SentHook | None = None) -> OrderReport:
        submitted = (str(OrderEventKind.SUBMIT), order.client_id) in self.link.order_ids
        self.announced_first.append(submitted)
        return await super().place(order, on_sent)


async def test_the_watchdog_hears_of_each_order_before_the_venue_gets_it() -> None:
    link = RecordingLink()
    venue = WitnessVenue(link)
    trader = build(venue, link)
    async with asyncio.TaskGroup() as tg:
        trader.attach(tg, None)
        await trader.housekeep_once()
        trader.on_feed_state(Transition("BTCUSDT", True, "fresh"))
        trader.on_ticker(tick(), time.perf_counter_ns())
        await wait_until(lambda: len(venue.resting) == 2, what="two quotes")
        await trader.shutdown(5.0)
    assert venue.announced_first == [True, True]


async def test_each_order_report_names_the_client_order_id_the_venue_knows(
    running: Running,
) -> None:
    _, venue, link = running
    await wait_until(lambda: len(link.order_ids) >= 4, what="submit and ack reports")
    acked = {oid for kind, oid in link.order_ids if kind == OrderEventKind.ACK}
    assert acked == set(venue.resting)  # the watchdog matches the venue's events by these


async def test_a_halted_watchdog_cancels_everything_and_opens_nothing(running: Running) -> None:
    trader, venue, link = running
    link.state = WatchdogState.HALTED
    trader.on_watchdog_state(TradingState.ACTIVE, TradingState.HALTED)
    await wait_until(lambda: not venue.resting, what="all cancelled")
    placed = venue.count("place")
    trader.on_ticker(tick(60_100.0), time.perf_counter_ns())
    await asyncio.sleep(0)  # let any (wrongly) started send run its first step
    assert venue.count("place") == placed


async def test_a_silent_watchdog_is_noticed_by_housekeeping_too(running: Running) -> None:
    trader, venue, link = running
    link.state = WatchdogState.HALTED  # the client's fail-closed read, without a callback
    await trader.housekeep_once()
    await wait_until(lambda: not venue.resting, what="all cancelled")
    assert trader.metrics.registry.get_sample_value("trader_watchdog_state") == 3


async def test_a_stale_feed_cancels_the_symbol_and_a_fresh_one_requotes(running: Running) -> None:
    trader, venue, _ = running
    trader.on_feed_state(Transition("BTCUSDT", False, "no message for 2s"))
    await wait_until(lambda: not venue.resting, what="cancelled on stale")
    trader.on_feed_state(Transition("BTCUSDT", True, "fresh"))
    trader.on_ticker(tick(), time.perf_counter_ns())
    await wait_until(lambda: len(venue.resting) == 2, what="requoted")


async def test_reducing_leaves_only_a_reduce_only_exit(running: Running) -> None:
    trader, venue, link = running
    venue.position = 0.004
    await trader.housekeep_once()
    await trader.housekeep_once()  # the same gap twice: adopted as the venue's truth
    assert trader.position("BTCUSDT") == pytest.approx(0.004)
    link.state = WatchdogState.REDUCING
    trader.on_watchdog_state(TradingState.ACTIVE, TradingState.REDUCING)
    await wait_until(
        lambda: (
            [o.side for o in trader.orders.orders() if not o.cancelling] == [Side.SELL]
            and all(o.reduce_only for o in trader.orders.orders() if not o.cancelling)
        ),
        what="one reduce-only ask",
    )


async def test_shutdown_cancels_verifies_and_sends_final_telemetry(running: Running) -> None:
    trader, venue, link = running
    result = await trader.shutdown(5.0)
    assert result.flat
    assert venue.resting == {}
    assert link.kinds("open_orders")[-1] == (0,)
    state, reason = link.kinds("state")[-1]
    assert state is TradingState.HALTED
    assert str(reason).startswith("shutdown")
    assert link.flushes >= 1


async def test_a_crash_still_cancels_own_orders_before_the_error_surfaces(tmp_path: Path) -> None:
    class BuggyVenue(AccountVenue):
        calls_to_open_orders = 0

        async def open_orders(self) -> list:  # type: ignore[type-arg]
            self.calls_to_open_orders += 1
            if self.calls_to_open_orders == 1:
                raise RuntimeError("a bug in the venue layer")
            return await super().open_orders()

    venue = BuggyVenue()
    venue.resting["mm1-old-1"] = report("mm1-old-1", "NEW")  # left by a previous run
    trader = build(venue, RecordingLink())
    config = load_config(EXAMPLE)
    with pytest.raises(ExceptionGroup) as failure:
        await _main_loop(config, RunOptions(), trader, 0, RealClock(), None, SdNotifier({}))
    assert failure.group_contains(RuntimeError, match="a bug in the venue layer")
    assert ("cancel", "mm1-old-1") in venue.calls
    assert venue.resting == {}


async def test_a_pre_trade_denial_is_counted_and_logged_after_the_allowed_order_is_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Long 0.006 BTC at 60,000 under a 400 USDT symbol limit: the bid (0.008 after) is denied,
    # the ask (0.004 after) is allowed.
    limits = parse_limits(
        'profile = "standard"\n[position]\nmax_symbol_notional = { quote = 400 }\n', "t"
    )
    venue, link = AccountVenue(position=0.006), RecordingLink()
    events: list[tuple[str, str, object]] = []
    registry = CollectorRegistry()
    denied = {"symbol": "BTCUSDT", "source": "pretrade"}

    class CountingEntry(LoggingEntry):
        """Notes, at each write, how many pre-trade denials were counted so far."""

        def try_place(self, order: OrderRequest) -> LoggedPlace:
            counted = registry.get_sample_value("trader_order_rejects_total", denied)
            self.log.append(("denials counted", "", counted))
            return super().try_place(order)

    entry = CountingEntry(events)
    clock = RealClock()
    trader = Trader(
        instruments={"BTCUSDT": BTC},
        strategy=StrategyConfig(half_spread_bps=1.0, skew_bps=1.0, requote_ticks=5),
        venue=venue, link=link, pretrade=PreTradeRisk(limits, now=clock.wall()),
        metrics=TraderMetrics(registry), clock=clock, notifier=SdNotifier({}),
        trader_id="mm1", session="t", request_timeout_s=1.0, reconcile_interval_s=0.1,
        fast=entry,
    )  # fmt: skip
    async with asyncio.TaskGroup() as tg:
        trader.attach(tg, None)
        for _ in range(2):  # the venue's position is adopted once two reconciliations agree
            await trader.housekeep_once()
        assert trader.position("BTCUSDT") == 0.006
        trader.on_feed_state(Transition("BTCUSDT", True, "fresh"))
        with caplog.at_level("INFO", logger="trader.app"):
            trader.on_ticker(tick(), time.perf_counter_ns())
        writes = [e for e in events if e[0] == "write"]
        assert len(writes) == 1  # the ask
        # At the write nothing had been counted yet; afterwards the denial is counted and logged.
        assert [e[2] for e in events if e[0] == "denials counted"] in ([None], [0.0])
        assert registry.get_sample_value("trader_order_rejects_total", denied) == 1.0
        assert "pretrade_denial" in caplog.text
        await trader.shutdown(5.0)
