"""Benchmark: tick-to-order inside the trader, against exchange_sim on loopback.

A real exchange_sim process streams bookTicker at a high rate with enough volatility that
almost every tick moves the quotes; the trader (in this process, the production classes)
requotes on each one. A sample is one new order: from the feed message received (after the
websocket read) to aiohttp's headers-sent hook, immediately before the request is written to
the socket. Each mode runs in alternating rounds so drift on the shared machine hits both:

- ``without_telemetry``: a link that is always ACTIVE and reports nothing;
- ``with_telemetry``: the real ``WatchdogClient`` talking to a real watchdog process.

Run: ``python -m bench.tick_to_order [--quick]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

import watchdog.venues as wv
from risk import OrderEventKind, TradingState
from risk import Side as RiskSide
from tests.support.sim import SimConfig
from tests.trader.world import LIMITS, World, trader_toml
from trader.app import Trader
from trader.config import TraderConfig, load_config
from trader.feed import BookFeed, BookTicker, stream_url
from trader.instrument import Instrument
from trader.metrics import TraderMetrics
from trader.orders import TrackedOrder
from trader.pretrade import PreTradeRisk, load_limits
from trader.runner import _client_config
from trader.sdnotify import SdNotifier
from trader.venue import BinanceOrderVenue, open_order_session
from watchdog.client import WatchdogClient
from watchdog.clock import SystemClock

GOAL_P50_US = 50.0
GOAL_P99_US = 200.0
# No order-rate cap in the way, and the watchdog tolerates the pauses between telemetry rounds.
BENCH_LIMITS = (
    LIMITS.replace("max_orders = 100 }", "max_orders = 100000 }")
    .replace("halt_after_s = 2.0", "halt_after_s = 3000.0")
    .replace("kill_after_s = 4.0", "kill_after_s = 3600.0")
    .replace("warn_after_s = 1.0", "warn_after_s = 2000.0")
)


class SilentLink:
    """No watchdog: always ACTIVE, reports go nowhere (the baseline for the telemetry cost)."""

    state = TradingState.ACTIVE

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
    ) -> None:
        return None

    def report_account(
        self, equity: float, realized_pnl: float, unrealized_pnl: float, *, ts: float | None = None
    ) -> None:
        return None

    def report_position(
        self, symbol: str, qty: float, mark_price: float, *, ts: float | None = None
    ) -> None:
        return None

    def report_feed(self, symbol: str, last_event_ts: float, *, ts: float | None = None) -> None:
        return None

    def report_open_orders(self, count: int, *, ts: float | None = None) -> None:
        return None

    def report_state(
        self, state: TradingState, reason: str = "", *, ts: float | None = None
    ) -> None:
        return None

    def flush(self, *, heartbeat: bool = True) -> None:
        return None


class SamplingTrader(Trader):
    """The production trader, keeping every tick-to-order sample rather than a histogram."""

    samples: list[int]
    decisions: list[int]

    def on_ticker(self, ticker: BookTicker, received_ns: int) -> None:
        before = self.orders.submitted
        super().on_ticker(ticker, received_ns)
        if self.orders.submitted != before:
            # The trader's own share: decode done, decide, pre-trade risk, request started.
            self.decisions.append(time.perf_counter_ns() - received_ns)

    def order_sent(self, order: TrackedOrder, tick_ns: int | None) -> None:
        if tick_ns is not None:
            self.samples.append(time.perf_counter_ns() - tick_ns)
        super().order_sent(order, tick_ns)


async def _wait_active(client: WatchdogClient) -> None:
    deadline = time.monotonic() + 30
    while client.state is not TradingState.ACTIVE:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the watchdog never acked ACTIVE: {client.last_ack}")
        await asyncio.sleep(0.02)


async def run_mode(
    config: TraderConfig, telemetry: bool, seconds: float
) -> tuple[list[int], list[int]]:
    clock = SystemClock()
    credentials = wv.load_credentials(config.venue.credentials_file)
    session = open_order_session()
    client = WatchdogClient(_client_config(config), clock=clock) if telemetry else None
    try:
        endpoint = wv.VenueEndpoint(config.venue.base_url, request_timeout_s=2.0)
        venue = BinanceOrderVenue(wv.BinanceFutures(session, endpoint, credentials, clock=clock))
        await venue.warm_up(4)
        if client is not None:
            await client.start()
        trader = SamplingTrader(
            instruments={s.symbol: Instrument.from_config(s) for s in config.symbols},
            strategy=config.strategy,
            venue=venue,
            link=client if client is not None else SilentLink(),
            pretrade=PreTradeRisk(load_limits(config.risk.limits_file), now=clock.wall()),
            metrics=TraderMetrics(CollectorRegistry()),
            clock=clock,
            notifier=SdNotifier({}),
            trader_id=config.watchdog.trader_id,
            session=secrets.token_hex(4),
            request_timeout_s=2.0,
            reconcile_interval_s=0.5,
        )
        trader.samples = []
        trader.decisions = []
        symbols = [s.symbol for s in config.symbols]
        async with asyncio.TaskGroup() as tg:
            feed = BookFeed(
                stream_url(config.venue.ws_url, symbols), symbols, config.feed, trader, clock
            )
            trader.attach(tg, feed)
            await trader.housekeep_once()
            if client is not None:
                await _wait_active(client)  # the watchdog halts until it has seen equity
            feed_task = tg.create_task(feed.run())
            housekeeping = tg.create_task(trader.housekeeping())
            await asyncio.sleep(seconds)  # the measured stretch itself, not a wait for a condition
            feed_task.cancel()
            housekeeping.cancel()
            result = await trader.shutdown(10.0)
            if not result.flat:
                raise RuntimeError(f"bench run did not end flat: {result.detail}")
        return trader.samples, trader.decisions
    finally:
        if client is not None:
            await client.close()
        await session.close()


def summary(samples_ns: list[int]) -> dict[str, float]:
    if not samples_ns:
        return {"samples": 0}
    ordered = sorted(samples_ns)
    n = len(ordered)

    def pct(q: float) -> float:
        return round(ordered[min(n - 1, int(q * (n - 1)))] / 1000.0, 1)

    return {"samples": n, "p50_us": pct(0.50), "p99_us": pct(0.99), "max_us": pct(1.0)}


async def bench(root: Path, seconds: float, rounds: int) -> dict[str, object]:
    sim = SimConfig(
        book_ticker_hz=40.0,
        volatility_bps=3.0,
        orders_per_10s=100_000,
        orders_per_minute=1_000_000,
        weight_per_minute=10_000_000,
    )
    world = World(root, sim)
    try:
        (root / "limits.toml").write_text(BENCH_LIMITS)
        world.start_watchdog()
        config_path = root / "trader.toml"
        config_path.write_text(
            trader_toml(world.sim, root, half_spread_bps="2.0", requote_ticks="0")
        )
        config = load_config(config_path)
        samples: dict[bool, list[int]] = {False: [], True: []}
        decisions: dict[bool, list[int]] = {False: [], True: []}
        for _ in range(rounds):
            for telemetry in (False, True):
                sent, decided = await run_mode(config, telemetry, seconds / rounds)
                samples[telemetry] += sent
                decisions[telemetry] += decided
    finally:
        world.stop()
    without, with_ = summary(samples[False]), summary(samples[True])
    return {
        "bench": "tick_to_order",
        "without_telemetry": without,
        "with_telemetry": with_,
        "telemetry_cost_p50_us": round(with_.get("p50_us", 0) - without.get("p50_us", 0), 1),
        # Tick received -> order request started (task created), the trader's own code only;
        # the rest of tick-to-order is the HTTP client building and writing the request.
        "decide_without_telemetry": summary(decisions[False]),
        "decide_with_telemetry": summary(decisions[True]),
        "goal_p50_us": GOAL_P50_US,
        "goal_p99_us": GOAL_P99_US,
        "seconds_per_mode": seconds,
        "python": sys.version.split()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (smoke test)")
    args = parser.parse_args()
    seconds, rounds = (4.0, 2) if args.quick else (30.0, 6)
    with tempfile.TemporaryDirectory(prefix="tick-to-order-") as tmp:
        result = asyncio.run(bench(Path(tmp), seconds, rounds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
