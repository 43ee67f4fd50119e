"""Benchmark: tick-to-order inside the trader, against exchange_sim on loopback.

A real exchange_sim process streams bookTicker at a high rate with enough volatility that
almost every tick moves the quotes; the trader (in this process, the production classes)
requotes on each one. A sample is one new order: from the feed message received (the websocket
read returned the bytes to the trader) to the order bytes written: right after
``transport.write()`` returns on the fast path, aiohttp's headers-sent hook (immediately before
its write) on the aiohttp path. Every mode runs in alternating rounds so drift on the shared
machine hits all of them:

- path ``fast_path`` (``trader.fastpath``) or ``aiohttp_path`` (fast path off);
- ``without_telemetry``: a link that is always ACTIVE and reports nothing;
  ``with_telemetry``: the real ``WatchdogClient`` talking to a real watchdog process.

``breakdown_fast_path`` splits the fast path's first order of each tick into decode (websocket
bytes to ticker, staleness), strategy (decide, pre-trade risk, order bookkeeping), sign+build
(the request bytes) and write (``transport.write()`` and arming the request timer).

The processes run in the layout the suite deploys (sysprep's ``latency`` profile): the trader
alone on the last CPU, the simulator and the watchdog on the others. Unpinned, the loopback
write wakes the simulator on the trader's own CPU and the measured write grows by the
simulator's whole request handling (about 0.5 ms here). ``layout`` in the output says what
was used; ``--unpinned`` measures without it.

Run: ``python -m bench.tick_to_order [--quick] [--unpinned]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry

import watchdog.venues as wv
from risk import OrderEventKind, TradingState
from risk import Side as RiskSide
from tests.support.sim import SimConfig
from tests.trader.world import LIMITS, World, trader_toml
from trader.app import Trader
from trader.config import TraderConfig, load_config
from trader.fastpath import FastOrderEntry, FastPathConfig, OrderSigner
from trader.feed import BookFeed, BookTicker, stream_url
from trader.heater import HotPathHeater
from trader.instrument import Instrument
from trader.metrics import TraderMetrics
from trader.orders import TrackedOrder
from trader.pretrade import PreTradeRisk, load_limits
from trader.runner import _client_config
from trader.sdnotify import SdNotifier
from trader.venue import BinanceOrderVenue, OrderRequest, open_order_session
from watchdog.client import WatchdogClient
from watchdog.clock import SystemClock

WARM_INTERVAL_S = 0.001  # the trader's default `[strategy] warm_interval_ms`
GOAL_P50_US = 50.0
GOAL_P99_US = 200.0
STAGES = ("decode", "strategy", "sign_build", "write")
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
        order_id: str = "",
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


class TimedSigner(OrderSigner):
    """The production signer, noting when the first request of a tick starts and ends."""

    marks: list[int]

    def new_order(self, order: OrderRequest, timestamp_ms: int) -> bytes:
        start = time.perf_counter_ns()
        data = super().new_order(order, timestamp_ms)
        if not self.marks:
            self.marks += (start, time.perf_counter_ns())
        return data


class SamplingTrader(Trader):
    """The production trader, keeping every tick-to-order sample rather than a histogram."""

    samples: list[int]
    decisions: list[int]
    stages: dict[str, list[int]]
    signer: TimedSigner | None
    _entered = 0
    _first = True

    def on_ticker(self, ticker: BookTicker, received_ns: int) -> None:
        self._entered = time.perf_counter_ns()
        self._first = True
        if self.signer is not None:
            self.signer.marks.clear()
        before = self.orders.submitted
        super().on_ticker(ticker, received_ns)
        if self.orders.submitted != before:
            # The trader's own share up to the send: decode, decide, pre-trade risk, and (fast
            # path) the request written; (aiohttp path) the send task created.
            self.decisions.append(time.perf_counter_ns() - received_ns)

    def order_sent(self, order: TrackedOrder, tick_ns: int | None) -> None:
        now = time.perf_counter_ns()
        if tick_ns is not None:
            self.samples.append(now - tick_ns)
            marks = self.signer.marks if self.signer is not None else []
            if self._first and len(marks) == 2:
                self.stages["decode"].append(self._entered - tick_ns)
                self.stages["strategy"].append(marks[0] - self._entered)
                self.stages["sign_build"].append(marks[1] - marks[0])
                self.stages["write"].append(now - marks[1])
            self._first = False
        super().order_sent(order, tick_ns)


def _fast_entry(
    config: TraderConfig,
    adapter: wv.BinanceFutures,
    credentials: wv.Credentials,
    clock: SystemClock,
) -> tuple[FastOrderEntry, TimedSigner]:
    signer = TimedSigner(config.venue.base_url, credentials, config.venue.recv_window_ms)
    signer.marks = []

    def timestamp_ms() -> int:
        return int(clock.wall() * 1000.0 + adapter.time_offset_ms)

    entry = FastOrderEntry(
        config.venue.base_url,
        signer,
        timestamp_ms,
        adapter.sync_time,
        FastPathConfig(connections=4, request_timeout_s=2.0),
    )
    return entry, signer


@dataclass
class Samples:
    sent: list[int] = field(default_factory=list)
    decided: list[int] = field(default_factory=list)
    stages: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in STAGES})
    fallbacks: int = 0


async def _wait_active(client: WatchdogClient) -> None:
    deadline = time.monotonic() + 30
    while client.state is not TradingState.ACTIVE:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the watchdog never acked ACTIVE: {client.last_ack}")
        await asyncio.sleep(0.02)


async def run_mode(
    config: TraderConfig, telemetry: bool, fast: bool, seconds: float, warm: bool = False
) -> Samples:
    clock = SystemClock()
    credentials = wv.load_credentials(config.venue.credentials_file)
    session = open_order_session()
    client = WatchdogClient(_client_config(config), clock=clock) if telemetry else None
    try:
        endpoint = wv.VenueEndpoint(config.venue.base_url, request_timeout_s=2.0)
        adapter = wv.BinanceFutures(session, endpoint, credentials, clock=clock)
        venue = BinanceOrderVenue(adapter)
        await venue.warm_up(4)
        entry, signer = _fast_entry(config, adapter, credentials, clock) if fast else (None, None)
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
            fast=entry,
        )
        out = Samples()
        trader.samples, trader.decisions, trader.stages = out.sent, out.decided, out.stages
        trader.signer = signer
        symbols = [s.symbol for s in config.symbols]
        async with asyncio.TaskGroup() as tg:
            feed = BookFeed(
                stream_url(config.venue.ws_url, symbols), symbols, config.feed, trader, clock
            )
            trader.attach(tg, feed)
            entry_task = tg.create_task(entry.run()) if entry is not None else None
            if entry is not None:
                async with asyncio.timeout(30):
                    await entry.wait_ready(4)
            await trader.housekeep_once()
            if client is not None:
                await _wait_active(client)  # the watchdog halts until it has seen equity
            feed_task = tg.create_task(feed.run())
            housekeeping = tg.create_task(trader.housekeeping())
            # The heater rehearses a plain production signer: the timed one's marks are samples.
            plain = OrderSigner(config.venue.base_url, credentials, config.venue.recv_window_ms)
            heater = HotPathHeater(trader, symbols, plain, WARM_INTERVAL_S) if warm else None
            warming = tg.create_task(heater.run()) if heater is not None else None
            await asyncio.sleep(seconds)  # the measured stretch itself, not a wait for a condition
            feed_task.cancel()
            housekeeping.cancel()
            if warming is not None:
                warming.cancel()
            result = await trader.shutdown(10.0)
            if entry_task is not None:
                entry_task.cancel()
            if not result.flat:
                raise RuntimeError(f"bench run did not end flat: {result.detail}")
        out.fallbacks = entry.fallbacks if entry is not None else 0
        return out
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


def _pin(world: World) -> dict[str, object]:
    """Trader (this process) alone on the last CPU; simulator and watchdog on the rest."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return {"pinned": False, "why": "one CPU: nothing to separate"}
    trader_cpu, others = cpus[-1], set(cpus[:-1])
    for child in (world.sim.child, world.watchdog):
        if child is not None:
            os.sched_setaffinity(child.pid, others)
    os.sched_setaffinity(0, {trader_cpu})
    return {"pinned": True, "trader_cpu": trader_cpu, "others_cpus": sorted(others)}


async def bench(root: Path, seconds: float, rounds: int, pinned: bool = True) -> dict[str, object]:
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
        layout = _pin(world) if pinned else {"pinned": False, "why": "--unpinned"}
        config_path = root / "trader.toml"
        config_path.write_text(
            trader_toml(world.sim, root, half_spread_bps="2.0", requote_ticks="0")
        )
        config = load_config(config_path)
        # (fast path, telemetry, cache heater); the heater is the trader's default, measured
        # side by side with the cold hot path on the fast path with telemetry.
        modes = [(fast, telemetry, False) for fast in (True, False) for telemetry in (False, True)]
        modes.append((True, True, True))
        runs: dict[tuple[bool, bool, bool], list[Samples]] = {m: [] for m in modes}
        for _ in range(rounds):
            for fast, telemetry, warm in modes:
                runs[fast, telemetry, warm].append(
                    await run_mode(config, telemetry, fast, seconds / rounds, warm)
                )
    finally:
        world.stop()
    result: dict[str, object] = {"bench": "tick_to_order", "layout": layout}
    for fast in (True, False):
        path = "fast_path" if fast else "aiohttp_path"
        merged = {t: _merge(runs[fast, t, False]) for t in (False, True)}
        without, with_ = summary(merged[False].sent), summary(merged[True].sent)
        result[path] = {
            "without_telemetry": without,
            "with_telemetry": with_,
            "telemetry_cost_p50_us": round(with_.get("p50_us", 0) - without.get("p50_us", 0), 1),
            # Tick received -> the trader's hot path returns (fast path: bytes written;
            # aiohttp path: send task created, the request is built and written later).
            "decide_without_telemetry": summary(merged[False].decided),
            "decide_with_telemetry": summary(merged[True].decided),
            "fallbacks": merged[False].fallbacks + merged[True].fallbacks,
        }
    heated = _merge(runs[True, True, True])
    result["fast_path_warm"] = {
        "with_telemetry": summary(heated.sent),
        "decide_with_telemetry": summary(heated.decided),
        "fallbacks": heated.fallbacks,
    }
    stages = _merge(runs[True, False, False]).stages
    result["breakdown_fast_path_without_telemetry"] = {s: summary(stages[s]) for s in STAGES}
    fast_p50 = _p50(result["fast_path"])
    result.update(
        {
            "speedup_p50_ratio": round(_p50(result["aiohttp_path"]) / fast_p50, 1)
            if fast_p50
            else 0.0,
            "goal_p50_us": GOAL_P50_US,
            "goal_p99_us": GOAL_P99_US,
            "seconds_per_mode": seconds,
            "python": sys.version.split()[0],
        }
    )
    return result


def _merge(runs: list[Samples]) -> Samples:
    out = Samples()
    for run in runs:
        out.sent += run.sent
        out.decided += run.decided
        out.fallbacks += run.fallbacks
        for stage in STAGES:
            out.stages[stage] += run.stages[stage]
    return out


def _p50(path: object) -> float:
    assert isinstance(path, dict)
    return float(path["without_telemetry"].get("p50_us", 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (smoke test)")
    parser.add_argument("--unpinned", action="store_true", help="leave every process on every CPU")
    args = parser.parse_args()
    seconds, rounds = (4.0, 2) if args.quick else (30.0, 6)
    with tempfile.TemporaryDirectory(prefix="tick-to-order-") as tmp:
        result = asyncio.run(bench(Path(tmp), seconds, rounds, pinned=not args.unpinned))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
