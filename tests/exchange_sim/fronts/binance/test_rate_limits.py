"""Rate limits: weight and order-count headers, 429 with Retry-After, then a 418 ban."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from harness.sim import SimConfig, SimProcess
from tests.exchange_sim.venue_client import VenueClient


async def _start_of_window(seconds: int, margin: float) -> None:
    """The venue counts in fixed windows: start a test early in one so it cannot roll over."""
    left = seconds - time.time() % seconds
    if left < margin:
        await asyncio.sleep(left + 0.05)


async def test_weight_headers_then_429_then_418(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    sim = SimProcess.start(
        tmp_path, SimConfig(book_ticker_hz=0, weight_per_minute=10, ban_after_429s=3)
    )
    try:
        venue = VenueClient(sim, session)
        await _start_of_window(60, 20)
        used = []
        for _ in range(10):
            reply = await venue.raw("GET", "/fapi/v1/time")
            assert reply.status == 200
            used.append(int(reply.headers["X-MBX-USED-WEIGHT-1M"]))
        assert used == list(range(1, 11))
        limited = await venue.raw("GET", "/fapi/v1/time")
        assert (limited.status, limited.code) == (429, -1003)
        assert int(limited.headers["Retry-After"]) >= 1
        statuses = [(await venue.raw("GET", "/fapi/v1/time")).status for _ in range(3)]
        assert statuses[-1] == 418  # repeated abuse after 429s: banned
        banned = await venue.raw("GET", "/fapi/v1/time")
        assert (banned.status, banned.code) == (418, -1003)
        assert "Retry-After" in banned.headers
    finally:
        sim.stop()


async def test_order_count_headers_and_limit(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    sim = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=0, orders_per_10s=3))
    try:
        venue = VenueClient(sim, session)
        await _start_of_window(10, 4)
        for n in range(1, 4):
            reply = await venue.limit(sim.trader_key, "BUY", "50000")
            assert reply.status == 200, reply.body
            assert int(reply.headers["X-MBX-ORDER-COUNT-10S"]) == n
            assert int(reply.headers["X-MBX-ORDER-COUNT-1M"]) == n
        limited = await venue.limit(sim.trader_key, "BUY", "50000")
        assert (limited.status, limited.code) == (429, -1015)
        # Cancels are not orders: the kill path is never throttled by the order count.
        cancel = await venue.signed(
            "DELETE", "/fapi/v1/allOpenOrders", sim.watchdog_key, {"symbol": "BTCUSDT"}
        )
        assert cancel.status == 200
    finally:
        sim.stop()
