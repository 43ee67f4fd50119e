"""The feed against exchange_sim's own stream faults (a real venue process on loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from harness.sim import VENUES, AsyncSimAdmin, SimConfig, SimProcess
from tests.trader.helpers import RealClock, RecordingFeedListener, wait_until
from trader.config import FeedConfig
from trader.feed import BookFeed
from trader.metrics import MetricsServer, TraderMetrics
from trader.venue_kind import market_feed

FAST = FeedConfig(
    stale_after_s=0.5,
    max_event_age_s=5.0,
    reconnect_initial_s=0.05,
    reconnect_max_s=0.3,
    open_timeout_s=5.0,
)


@pytest.fixture(params=VENUES)
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SimProcess]:
    process = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=20.0), venue=request.param)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def feed(sim: SimProcess) -> AsyncIterator[tuple[BookFeed, RecordingFeedListener]]:
    listener = RecordingFeedListener()
    symbols = ["BTCUSDT", "ETHUSDT"]
    book_feed = market_feed(sim.venue, sim.ws_url, symbols, FAST, listener, RealClock())
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(book_feed.run())
        yield book_feed, listener
        task.cancel()


def fresh(listener: RecordingFeedListener, symbol: str) -> int:
    return sum(1 for t in listener.transitions if t.fresh and t.symbol == symbol)


@pytest.mark.parametrize("fault", ["close", "reset", "stall"])
async def test_each_sim_stream_fault_goes_stale_and_recovers(
    sim: SimProcess, feed: tuple[BookFeed, RecordingFeedListener], fault: str
) -> None:
    book_feed, listener = feed
    await wait_until(lambda: fresh(listener, "BTCUSDT") > 0 and fresh(listener, "ETHUSDT") > 0)
    async with AsyncSimAdmin(sim.admin_url) as admin:
        await admin.streams(fault, "market")
        await wait_until(lambda: len(listener.stale_reasons()) >= 2, what=f"stale on {fault}")
        if fault == "stall":
            await wait_until(lambda: book_feed.connects >= 2, what="the stalled socket dropped")
            assert fresh(listener, "BTCUSDT") == 1  # nothing fresh while the venue is silent
            await admin.streams("resume", "market")
    await wait_until(lambda: fresh(listener, "BTCUSDT") >= 2 and fresh(listener, "ETHUSDT") >= 2)
    assert {t.symbol for t in listener.tickers} == {"BTCUSDT", "ETHUSDT"}


async def test_metrics_are_served_over_http_from_the_explicit_registry() -> None:
    metrics = TraderMetrics(CollectorRegistry())
    metrics.tick_to_order.observe(40e-6)
    server = MetricsServer(metrics.registry, "127.0.0.1", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.port}/metrics"
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                body = await resp.text()
    finally:
        await server.close()
    assert 'trader_tick_to_order_seconds_bucket{le="5e-05"} 1.0' in body
    assert "python_gc" not in body  # the explicit registry, not the global one
