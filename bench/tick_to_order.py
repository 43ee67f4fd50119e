"""Benchmark: tick-to-order inside the trader, against exchange_sim on loopback.

A real exchange_sim process streams bookTicker at a high rate with enough volatility that
almost every tick moves the quotes; the trader (in this process, the production classes)
requotes on each one. Every tick starts at the VENUE's send stamp: the sim runs with
``[market] send_stamp``, so each message carries the CLOCK_MONOTONIC time read just before
its frame was written (one clock for both processes on this host). A tick that arrives while
the trader is still busy with the one before therefore counts its wait.

Every tick is sampled. Per mode the output has: each new order, venue send -> order bytes
written (right after ``transport.write()`` returns on the fast path, aiohttp's headers-sent
hook, immediately before its write, on the aiohttp path); ticks that produced an order and
ticks that did not, venue send -> the tick handler returned; delivery, venue send -> the
socket read that completed the message; and ``waited_ticks_count``, the ticks sent
before the handler had finished the previous tick. Percentiles come from ``bench._stats``.

The modes run in alternating rounds so drift on the shared machine hits all of them:

- path ``fast_path`` (``trader.fastpath``) or ``aiohttp_path`` (fast path off);
- ``without_telemetry``: a link that is always ACTIVE and reports nothing;
  ``with_telemetry``: the real ``AsyncClient`` talking to a real watchdog process;
- ``fast_path_warm``: fast path, telemetry, the hot-path cache heater on;
- ``fast_path_busy_poll`` / ``fast_path_busy_poll_warm``: the same with ``[feed] busy_poll``
  (the event loop never sleeps), without and with the heater;
- ``floor``: no trader at all, the stages' floor: the real feed into a handler that only writes
  prebuilt request bytes on a pre-connected socket to the venue (``handler_entered``,
  ``bare_write``, ``tick_to_bare_write``), and a websocket read with no library in between
  (``raw_socket_read``: venue send -> a plain socket read returned), and a plain socket between
  two processes with no venue at all (``loopback_read``: the kernel's and the wake-up's share;
  ``loopback_read_busy_poll``: the same with the event loop never sleeping).

``deployed_p50_us`` / ``deployed_p99_us`` are the mode the trader ships with by default
(its configuration's defaults: fast path, telemetry, heater), and ``side_by_side`` sets them
against the aiohttp path and the heater off from the same run.

``breakdown_fast_path_without_telemetry`` and ``breakdown_deployed`` split the fast path's first
order of each tick into
delivery (venue send to the socket read), decode (frame, bytes to ticker, staleness),
strategy (decide, pre-trade risk, order bookkeeping), sign+build (the request bytes) and write
(``transport.write()`` and arming the request timer).

The processes run in the layout the suite deploys (sysprep's ``latency`` profile): the trader
alone on the last CPU, the simulator and the watchdog on the others. Unpinned, the loopback
write wakes the simulator on the trader's own CPU and the measured write grows by the
simulator's whole request handling (about 0.5 ms here). ``layout`` in the output says what
was used; ``--unpinned`` measures without it.

Run: ``python -m bench.tick_to_order [--quick] [--unpinned] [--seconds S]``; prints one JSON
object.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import re
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from killswitch_client import AsyncClient
from killswitch_client import TradingState as WatchdogState
from prometheus_client import CollectorRegistry
from yarl import URL

import watchdog.venues as wv
from bench._stats import percentile
from harness.sim import SimConfig
from harness.trader_world import LIMITS, World
from risk import OrderEventKind, TradingState
from risk import Side as RiskSide
from trader.app import Trader
from trader.config import TraderConfig, load_config
from trader.fastpath import FastOrderEntry, FastPathConfig, OrderSigner
from trader.feed import (
    BookFeed,
    BookTicker,
    Transition,
    busy_poll,
    parse_book_ticker,
    stream_url,
)
from trader.heater import HotPathHeater
from trader.instrument import Instrument
from trader.metrics import TraderMetrics
from trader.orders import TrackedOrder
from trader.pretrade import PreTradeRisk, load_limits
from trader.runner import _client_config
from trader.venue import BinanceOrderVenue, OrderRequest, open_order_session
from watchdog.clock import SystemClock
from watchdog.sdnotify import SdNotifier

TICKS_PER_S = 40.0  # per symbol, as the sim streams them
GOAL_P50_US = 50.0
GOAL_P99_US = 200.0
STAGES = ("delivery", "decode", "strategy", "sign_build", "write")
# No order-rate cap in the way, and the watchdog tolerates the pauses between telemetry rounds.
BENCH_LIMITS = (
    LIMITS.replace("max_orders = 100 }", "max_orders = 100000 }")
    .replace("halt_after_s = 2.0", "halt_after_s = 3000.0")
    .replace("kill_after_s = 4.0", "kill_after_s = 3600.0")
    .replace("warn_after_s = 1.0", "warn_after_s = 2000.0")
    + "\n[bad_data]\nmax_past_s = 2000.0\n"  # at least warn_after_s: the watchdog checks it
)


@dataclass(frozen=True, slots=True)
class Mode:
    """One trader configuration the benchmark measures."""

    path: str  # result key: fast_path | aiohttp_path | fast_path_warm | fast_path_busy_poll...
    telemetry: bool
    heater: bool
    busy_poll: bool = False
    floor: bool = False  # no trader: an empty handler and a bare write (the stages' floor)

    @property
    def fast(self) -> bool:
        return self.path != "aiohttp_path"

    @property
    def key(self) -> str:
        return f"{self.path}.{'with' if self.telemetry else 'without'}_telemetry"


MODES = (
    Mode("fast_path", telemetry=False, heater=False),
    Mode("fast_path", telemetry=True, heater=False),
    Mode("aiohttp_path", telemetry=False, heater=False),
    Mode("aiohttp_path", telemetry=True, heater=False),
    Mode("fast_path_warm", telemetry=True, heater=True),
    Mode("fast_path_busy_poll", telemetry=True, heater=False, busy_poll=True),
    Mode("fast_path_busy_poll_warm", telemetry=True, heater=True, busy_poll=True),
    Mode("floor", telemetry=False, heater=False, floor=True),
)
FLOOR = MODES[-1]


def deployed_mode(config: TraderConfig) -> Mode:
    """The mode that matches what the trader runs with its configuration's defaults."""
    wanted = (
        config.venue.fast_connections > 0,
        config.strategy.warm_interval_ms > 0,
        config.feed.busy_poll,
    )
    for mode in MODES:
        if mode.telemetry and not mode.floor and (mode.fast, mode.heater, mode.busy_poll) == wanted:
            return mode
    raise RuntimeError(
        f"no benchmark mode matches the defaults (fast, heater, busy poll: {wanted})"
    )


class SilentLink:
    """No watchdog: always ACTIVE, reports go nowhere (the baseline for the telemetry cost)."""

    state = WatchdogState.ACTIVE

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

    def rehearse_report(self, symbol: str, order_id: str) -> None:
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


class Tap:
    """The feed's decoder, keeping the raw message so the venue's send stamp can be read after
    the run (off the measured path: only a reference is kept here)."""

    last: bytes = b""

    def __call__(self, raw: bytes) -> BookTicker:
        self.last = raw
        return parse_book_ticker(raw)


@dataclass(frozen=True, slots=True)
class Tick:
    """One tick's times (CLOCK_MONOTONIC ns): sent by the venue, read by the trader, handler
    entered and returned."""

    sent_ns: int
    received_ns: int
    entered_ns: int
    exited_ns: int


@dataclass
class Samples:
    ticks: list[tuple[bytes, int, int, int]] = field(default_factory=list)
    orders: list[tuple[int, int]] = field(default_factory=list)  # (tick received_ns, written)
    stages: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in STAGES})
    stage_ticks: list[int] = field(default_factory=list)  # received_ns of the staged ticks
    fallbacks: int = 0
    raw_reads: list[int] = field(default_factory=list)  # floor: venue send -> raw socket read
    loopback_reads: list[int] = field(default_factory=list)  # floor: plain send -> plain read
    loopback_busy_reads: list[int] = field(default_factory=list)  # the same, busy polling


class SamplingTrader(Trader):
    """The production trader, recording every tick and every order it writes."""

    out: Samples
    tap: Tap
    signer: TimedSigner | None
    _entered = 0
    _first = True

    def on_ticker(self, ticker: BookTicker, received_ns: int) -> None:
        self._entered = entered = time.perf_counter_ns()
        self._first = True
        if self.signer is not None:
            self.signer.marks.clear()
        super().on_ticker(ticker, received_ns)
        self.out.ticks.append((self.tap.last, received_ns, entered, time.perf_counter_ns()))

    def order_sent(self, order: TrackedOrder, tick_ns: int | None) -> None:
        now = order.written_ns
        if tick_ns is not None:
            self.out.orders.append((tick_ns, now))
            marks = self.signer.marks if self.signer is not None else []
            if self._first and len(marks) == 2:
                stages = self.out.stages
                stages["decode"].append(self._entered - tick_ns)
                stages["strategy"].append(marks[0] - self._entered)
                stages["sign_build"].append(marks[1] - marks[0])
                stages["write"].append(now - marks[1])
                self.out.stage_ticks.append(tick_ns)
            self._first = False
        super().order_sent(order, tick_ns)


def sent_stamp(raw: bytes) -> int:
    """The venue's send stamp of one market message (``[market] send_stamp`` in the sim)."""
    stamp = orjson.loads(raw).get("sentNs")
    if not isinstance(stamp, int):
        raise RuntimeError(f"a market message without the venue's send stamp: {raw[:200]!r}")
    return stamp


def ticks_of(samples: Samples) -> list[Tick]:
    ticks = [
        Tick(sent_stamp(raw), rx, entered, exited) for raw, rx, entered, exited in samples.ticks
    ]
    for tick in ticks:
        if tick.sent_ns > tick.received_ns:
            # Both stamps are this host's CLOCK_MONOTONIC: a tick read before it was sent means
            # the clocks are not the same one, and every figure would be wrong.
            raise RuntimeError(f"a tick received {tick.sent_ns - tick.received_ns} ns before sent")
    return ticks


def summary(samples_ns: Sequence[int]) -> dict[str, float]:
    """``samples_count``, ``p50_us``, ``p99_us``, ``max_us`` (nearest rank, bench._stats)."""
    if not samples_ns:
        return {"samples_count": 0}
    ordered = sorted(samples_ns)

    def us(q: float) -> float:
        return round(percentile(ordered, q) / 1000.0, 1)

    return {
        "samples_count": len(ordered),
        "p50_us": us(0.50),
        "p99_us": us(0.99),
        "max_us": us(1.0),
    }


def analyse(ticks: Sequence[Tick], orders: Sequence[tuple[int, int]]) -> dict[str, object]:
    """Every tick and every order of one mode, from the venue's send stamp (pure).

    ``orders`` are (received_ns of the tick that caused it, bytes written). A tick waited when
    the venue sent it before the handler had returned from the previous tick.
    """
    sent = {t.received_ns: t.sent_ns for t in ticks}
    with_order = {rx for rx, _ in orders}
    waited = sum(1 for a, b in itertools.pairwise(ticks) if b.sent_ns < a.exited_ns)
    return {
        **summary([written - sent[rx] for rx, written in orders if rx in sent]),
        "from_receive": summary([written - rx for rx, written in orders]),
        "ticks_count": len(ticks),
        "waited_ticks_count": waited,
        "order_ticks_handled": summary(
            [t.exited_ns - t.sent_ns for t in ticks if t.received_ns in with_order]
        ),
        "no_order_ticks_handled": summary(
            [t.exited_ns - t.sent_ns for t in ticks if t.received_ns not in with_order]
        ),
        "delivery": summary([t.received_ns - t.sent_ns for t in ticks]),
    }


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
        FastPathConfig(connections=config.venue.fast_connections, request_timeout_s=2.0),
    )
    return entry, signer


async def _wait_active(client: AsyncClient) -> None:
    deadline = time.monotonic() + 30
    while client.state is not WatchdogState.ACTIVE:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the watchdog never acked ACTIVE: {client.last_ack}")
        await asyncio.sleep(0.02)


async def run_mode(config: TraderConfig, seconds: float, *, mode: Mode) -> Samples:
    clock = SystemClock()
    credentials = wv.load_credentials(config.venue.credentials_file)
    session = open_order_session()
    client = AsyncClient(_client_config(config), clock=clock) if mode.telemetry else None
    try:
        endpoint = wv.VenueEndpoint(config.venue.base_url, request_timeout_s=2.0)
        adapter = wv.BinanceFutures(session, endpoint, credentials, clock=clock)
        venue = BinanceOrderVenue(adapter)
        await venue.warm_up(4)
        fast = mode.fast and config.venue.fast_connections > 0
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
        trader.out, trader.tap, trader.signer = out, Tap(), signer
        symbols = [s.symbol for s in config.symbols]
        async with asyncio.TaskGroup() as tg:
            feed = BookFeed(
                stream_url(config.venue.ws_url, symbols),
                symbols,
                config.feed,
                trader,
                clock,
                decode=trader.tap,
            )
            trader.attach(tg, feed)
            entry_task = tg.create_task(entry.run()) if entry is not None else None
            if entry is not None:
                async with asyncio.timeout(30):
                    await entry.wait_ready(config.venue.fast_connections)
            await trader.housekeep_once()
            if client is not None:
                await _wait_active(client)  # the watchdog halts until it has seen equity
            feed_task = tg.create_task(feed.run())
            housekeeping = tg.create_task(trader.housekeeping())
            # The heater rehearses a plain production signer: the timed one's marks are samples.
            plain = OrderSigner(config.venue.base_url, credentials, config.venue.recv_window_ms)
            interval_s = config.strategy.warm_interval_ms / 1000.0
            heater = HotPathHeater(trader, symbols, plain, interval_s) if mode.heater else None
            warming = tg.create_task(heater.run()) if heater is not None else None
            polling = tg.create_task(busy_poll()) if mode.busy_poll else None
            await asyncio.sleep(seconds)  # the measured stretch itself, not a wait for a condition
            feed_task.cancel()
            housekeeping.cancel()
            for optional in (warming, polling):
                if optional is not None:
                    optional.cancel()
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


class FloorListener:
    """The floor of the tick path: the real feed (websocket, decode, staleness) into a handler
    that does nothing but write prebuilt request bytes on a pre-connected keep-alive socket to
    the venue, as the fast path does, with no decision, no signing and no bookkeeping."""

    def __init__(self, tap: Tap, transport: asyncio.Transport, request: bytes, out: Samples):
        self._tap, self._transport, self._request, self._out = tap, transport, request, out

    def on_ticker(self, ticker: BookTicker, received_ns: int) -> None:
        entered = time.perf_counter_ns()
        self._transport.write(self._request)
        written = time.perf_counter_ns()
        self._out.ticks.append((self._tap.last, received_ns, entered, written))
        self._out.orders.append((received_ns, written))

    def on_feed_state(self, transition: Transition) -> None:
        return None


class Discard(asyncio.Protocol):
    """Reads and drops the venue's answers to the floor's requests."""

    def data_received(self, data: bytes) -> None:
        return None


_STAMP = re.compile(rb'"sentNs":(\d+)')


class RawStream(asyncio.Protocol):
    """The socket floor: a websocket read with no library at all. After a minimal upgrade it
    stamps each read and takes the venue's send stamps straight out of the bytes (a stamp cut
    across two reads is lost, which a floor can afford)."""

    def __init__(self, request: bytes, out: list[tuple[int, int]]) -> None:
        self._request, self._out, self._upgraded = request, out, False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        if not self._upgraded:
            head, sep, data = data.partition(b"\r\n\r\n")
            if not sep or not head.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"websocket upgrade refused: {head[:200]!r}")
            self._upgraded = True
        self._out.extend((int(m.group(1)), now) for m in _STAMP.finditer(data))


async def raw_reads(config: TraderConfig, seconds: float) -> list[int]:
    """Venue send -> the raw socket read returned, for every stamp seen in ``seconds``."""
    url = URL(stream_url(config.venue.ws_url, [s.symbol for s in config.symbols]))
    if url.host is None or url.port is None:
        raise RuntimeError(f"venue ws_url without host and port: {url}")
    request = (
        f"GET {url.raw_path_qs} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ).encode()
    out: list[tuple[int, int]] = []
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(lambda: RawStream(request, out), url.host, url.port)
    try:
        await asyncio.sleep(seconds)  # the measured stretch itself, not a wait for a condition
    finally:
        transport.close()
    return [read - sent for sent, read in out]


# A sender with no venue at all: a plain blocking socket writing one stamp per tick interval.
_SENDER = """
import socket, sys, time
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
time.sleep(0.1)  # pinned by the parent meanwhile
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    sock.sendall(b'"sentNs":%d\\n' % time.monotonic_ns())
    time.sleep(float(sys.argv[3]))
"""


class StampReader(asyncio.Protocol):
    """Stamps each read and takes the sender's stamps out of the bytes."""

    def __init__(self, out: list[tuple[int, int]]) -> None:
        self._out = out

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self._out.extend((int(m.group(1)), now) for m in _STAMP.finditer(data))


async def loopback_reads(seconds: float, interval_s: float) -> list[int]:
    """Plain send -> plain socket read between two processes on this host's CPUs as laid out
    (the sender where the venue runs): the kernel's and the wake-up's share, with no venue."""
    out: list[tuple[int, int]] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: StampReader(out), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mine = os.sched_getaffinity(0)
    others = set(range(os.cpu_count() or 1)) - mine or mine
    sender = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SENDER, str(port), str(seconds), str(interval_s)
    )
    try:
        os.sched_setaffinity(sender.pid, others)
        async with asyncio.timeout(seconds + 30):
            await sender.wait()
    finally:
        if sender.returncode is None:
            sender.kill()
            await sender.wait()
        server.close()
    return [read - sent for sent, read in out]


async def run_floor(config: TraderConfig, seconds: float) -> Samples:
    credentials = wv.load_credentials(config.venue.credentials_file)
    url = URL(config.venue.base_url)
    if url.host is None or url.port is None:
        raise RuntimeError(f"venue base_url without host and port: {url}")
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(Discard, url.host, url.port)
    try:
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = OrderSigner(
            config.venue.base_url, credentials, config.venue.recv_window_ms
        ).ping()
        out, tap = Samples(), Tap()
        symbols = [s.symbol for s in config.symbols]
        listener = FloorListener(tap, transport, request, out)
        url_ = stream_url(config.venue.ws_url, symbols)
        feed = BookFeed(url_, symbols, config.feed, listener, SystemClock(), decode=tap)
        async with asyncio.TaskGroup() as tg:
            feed_task = tg.create_task(feed.run())
            await asyncio.sleep(seconds / 3)  # the measured stretch, not a wait for a condition
            feed_task.cancel()
        out.raw_reads = await raw_reads(config, seconds / 3)
        interval_s = 1.0 / TICKS_PER_S
        out.loopback_reads = await loopback_reads(seconds / 6, interval_s)
        async with asyncio.TaskGroup() as tg:  # the same, with the loop never sleeping
            polling = tg.create_task(busy_poll())
            out.loopback_busy_reads = await loopback_reads(seconds / 6, interval_s)
            polling.cancel()
        return out
    finally:
        transport.close()


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
    return {
        "pinned": True,
        "trader_cpus": str(trader_cpu),
        "others_cpus": ",".join(str(c) for c in sorted(others)),
    }


async def bench(root: Path, seconds: float, rounds: int, pinned: bool = True) -> dict[str, object]:
    sim = SimConfig(
        book_ticker_hz=TICKS_PER_S,
        volatility_bps=3.0,
        orders_per_10s=100_000,
        orders_per_minute=1_000_000,
        weight_per_minute=10_000_000,
        send_stamp=True,
    )
    world = World(root, sim)
    try:
        (root / "limits.toml").write_text(BENCH_LIMITS)
        world.start_watchdog()
        layout = _pin(world) if pinned else {"pinned": False, "why": "--unpinned"}
        config_path = root / "trader.toml"
        config_path.write_text(
            world.trader_config().with_(half_spread_bps=2.0, requote_ticks=0).to_toml()
        )
        config = load_config(config_path)
        runs: dict[Mode, list[Samples]] = {m: [] for m in MODES}
        for _ in range(rounds):
            for mode in MODES:
                run = run_floor if mode.floor else functools.partial(run_mode, mode=mode)
                runs[mode].append(await run(config, seconds / rounds))
    finally:
        world.stop()
    return report(runs, config, layout, seconds)


def report(
    runs: dict[Mode, list[Samples]], config: TraderConfig, layout: dict[str, object], seconds: float
) -> dict[str, object]:
    merged = {mode: _merge(samples) for mode, samples in runs.items()}
    modes = {mode: analyse(ticks_of(s), s.orders) for mode, s in merged.items()}
    result: dict[str, object] = {"bench": "tick_to_order", "layout": layout}
    for path in ("fast_path", "aiohttp_path"):
        without, with_ = modes[Mode(path, False, False)], modes[Mode(path, True, False)]
        result[path] = {
            "without_telemetry": without,
            "with_telemetry": with_,
            "telemetry_cost_p50_us": _diff(with_, without),
            # Tick read -> the trader's handler returns, for ticks that produced an order (fast
            # path: bytes written; aiohttp path: send task created, the request is written later).
            "decide_without_telemetry": _decided(merged[Mode(path, False, False)]),
            "decide_with_telemetry": _decided(merged[Mode(path, True, False)]),
            "fallbacks_count": sum(merged[Mode(path, t, False)].fallbacks for t in (False, True)),
        }
    for mode in MODES:
        if mode.path not in ("fast_path", "aiohttp_path", FLOOR.path):
            result[mode.path] = {
                "with_telemetry": modes[mode],
                "decide_with_telemetry": _decided(merged[mode]),
                "fallbacks_count": merged[mode].fallbacks,
            }
    floor = ticks_of(merged[FLOOR])
    result["floor"] = {
        # Venue send -> an empty handler entered: the websocket, decode and staleness alone.
        "handler_entered": summary([t.entered_ns - t.sent_ns for t in floor]),
        # One transport.write() of prebuilt request bytes to the venue on loopback.
        "bare_write": summary([t.exited_ns - t.entered_ns for t in floor]),
        # Venue send -> those bytes written: what no decision, signing or bookkeeping costs.
        "tick_to_bare_write": summary([t.exited_ns - t.sent_ns for t in floor]),
        "delivery": summary([t.received_ns - t.sent_ns for t in floor]),
        # Venue send -> a plain socket read returns, with no websocket library in between.
        "raw_socket_read": summary(merged[FLOOR].raw_reads),
        # A plain send from the venue's CPUs -> a plain read here, no venue: kernel + wake-up.
        "loopback_read": summary(merged[FLOOR].loopback_reads),
        # The same while the event loop never sleeps: what waking the vCPU and process costs.
        "loopback_read_busy_poll": summary(merged[FLOOR].loopback_busy_reads),
        "ticks_count": len(floor),
    }
    stages = _stages(merged[Mode("fast_path", False, False)])
    result["breakdown_fast_path_without_telemetry"] = {s: summary(stages[s]) for s in STAGES}
    deployed = deployed_mode(config)
    stages = _stages(merged[deployed])
    result["breakdown_deployed"] = {s: summary(stages[s]) for s in STAGES}
    top, aiohttp, cold = (
        modes[deployed],
        modes[Mode("aiohttp_path", True, False)],
        modes[Mode("fast_path", True, False)],
    )
    fast_p50 = _p50(modes[Mode("fast_path", False, False)])
    result.update(
        {
            "deployed_p50_us": top.get("p50_us", 0.0),
            "deployed_p99_us": top.get("p99_us", 0.0),
            "deployed": {
                "mode": deployed.key,
                "fast_path": deployed.fast,
                "fast_connections_count": config.venue.fast_connections,
                "heater_interval_ms": config.strategy.warm_interval_ms if deployed.heater else 0,
                "telemetry": deployed.telemetry,
                "delivery_p50_us": _p50(top["delivery"]),
                "ticks_count": top["ticks_count"],
                "waited_ticks_count": top["waited_ticks_count"],
            },
            "side_by_side": {
                "deployed_p50_us": top.get("p50_us", 0.0),
                "deployed_p99_us": top.get("p99_us", 0.0),
                "aiohttp_path_p50_us": aiohttp.get("p50_us", 0.0),
                "aiohttp_path_p99_us": aiohttp.get("p99_us", 0.0),
                "heater_off_p50_us": cold.get("p50_us", 0.0),
                "heater_off_p99_us": cold.get("p99_us", 0.0),
                "aiohttp_over_deployed_p50_ratio": _ratio(aiohttp, top),
                "heater_off_over_deployed_p50_ratio": _ratio(cold, top),
            },
            "speedup_p50_ratio": round(
                _p50(modes[Mode("aiohttp_path", False, False)]) / fast_p50, 1
            )
            if fast_p50
            else 0.0,
            "goal_p50_us": GOAL_P50_US,
            "goal_p99_us": GOAL_P99_US,
            "measured_per_mode_s": seconds,
            "python": sys.version.split()[0],
        }
    )
    return result


def _decided(samples: Samples) -> dict[str, float]:
    with_order = {rx for rx, _ in samples.orders}
    return summary([exited - rx for _, rx, _, exited in samples.ticks if rx in with_order])


def _stages(samples: Samples) -> dict[str, list[int]]:
    sent = {rx: sent_stamp(raw) for raw, rx, _, _ in samples.ticks}
    stages = {s: list(v) for s, v in samples.stages.items()}
    stages["delivery"] = [rx - sent[rx] for rx in samples.stage_ticks if rx in sent]
    return stages


def _merge(runs: list[Samples]) -> Samples:
    out = Samples()
    for run in runs:
        out.ticks += run.ticks
        out.orders += run.orders
        out.stage_ticks += run.stage_ticks
        out.fallbacks += run.fallbacks
        out.raw_reads += run.raw_reads
        out.loopback_reads += run.loopback_reads
        out.loopback_busy_reads += run.loopback_busy_reads
        for stage in STAGES:
            out.stages[stage] += run.stages[stage]
    return out


def _p50(figures: object) -> float:
    assert isinstance(figures, dict)
    return float(figures.get("p50_us", 0.0))


def _diff(a: dict[str, object], b: dict[str, object]) -> float:
    return round(_p50(a) - _p50(b), 1)


def _ratio(a: dict[str, object], b: dict[str, object]) -> float:
    return round(_p50(a) / _p50(b), 2) if _p50(b) else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (smoke test)")
    parser.add_argument("--unpinned", action="store_true", help="leave every process on every CPU")
    parser.add_argument(
        "--seconds", type=float, help="measured seconds per mode (default 30, quick 4)"
    )
    args = parser.parse_args()
    seconds, rounds = (4.0, 2) if args.quick else (30.0, 6)
    if args.seconds is not None:
        if args.seconds <= 0:
            parser.error("--seconds must be positive")
        seconds = args.seconds
    with tempfile.TemporaryDirectory(prefix="tick-to-order-") as tmp:
        result = asyncio.run(bench(Path(tmp), seconds, rounds, pinned=not args.unpinned))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
