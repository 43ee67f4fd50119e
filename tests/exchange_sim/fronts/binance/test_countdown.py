"""The venue's dead man's switch: countdown cancel-all per (account, symbol)."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.exchange_sim.venue_client import VenueClient


async def _arm(venue: VenueClient, symbol: str, ms: int) -> None:
    reply = await venue.signed(
        "POST",
        "/fapi/v1/countdownCancelAll",
        venue.sim.watchdog_key,
        {"symbol": symbol, "countdownTime": ms},
    )
    assert reply.status == 200, reply.body
    assert reply.body == {"symbol": symbol, "countdownTime": str(ms)}


async def test_an_expired_countdown_cancels_that_symbols_orders(
    venue: VenueClient, session: aiohttp.ClientSession
) -> None:
    sim, trader = venue.sim, venue.sim.trader_key
    stream = await session.ws_connect(f"{sim.ws_url}/ws/{await venue.listen_key(sim.watchdog_key)}")
    btc = [(await venue.limit(trader, "BUY", p)).body["orderId"] for p in ("50000", "50001")]
    eth = await venue.limit(trader, "BUY", "2500", "0.1", symbol="ETHUSDT")
    for _ in range(3):  # drain the NEW events
        assert (await stream.receive_json(timeout=10))["o"]["x"] == "NEW"
    since = sim.admin.last_seq()
    armed_at = asyncio.get_running_loop().time()
    await _arm(venue, "BTCUSDT", 300)

    entry = sim.admin.wait_for_journal(lambda e: e["endpoint"] == "countdown_cancel_all", since)
    assert entry["account"] == "trader1"
    assert entry["mono"] - armed_at >= 0.29  # not before the countdown ran out
    cancelled = {(await stream.receive_json(timeout=10))["o"]["i"] for _ in btc}
    assert cancelled == set(btc)
    left = sim.admin.open_orders("trader1")
    assert [o["orderId"] for o in left] == [eth.body["orderId"]]
    await stream.close()


async def test_refreshing_or_disarming_the_countdown_keeps_orders(venue: VenueClient) -> None:
    sim = venue.sim
    await venue.limit(sim.trader_key, "BUY", "50000")
    for _ in range(8):  # refresh well inside the window for ~4 windows' worth of time
        await _arm(venue, "BTCUSDT", 400)
        await asyncio.sleep(0.2)
    await _arm(venue, "BTCUSDT", 0)
    await asyncio.sleep(0.6)
    assert len(sim.admin.open_orders("trader1")) == 1
    assert not any(e["endpoint"] == "countdown_cancel_all" for e in sim.admin.journal())


async def test_a_negative_countdown_is_refused(venue: VenueClient) -> None:
    reply = await venue.signed(
        "POST",
        "/fapi/v1/countdownCancelAll",
        venue.sim.watchdog_key,
        {"symbol": "BTCUSDT", "countdownTime": -5},
    )
    assert reply.status == 400


async def test_the_journal_says_which_countdown_was_accepted(venue: VenueClient) -> None:
    sim = venue.sim
    since = sim.admin.last_seq()
    await _arm(venue, "ETHUSDT", 7000)
    entry = sim.admin.wait_for_journal(
        lambda e: e["endpoint"] == "POST /fapi/v1/countdownCancelAll", since
    )
    assert (entry["status"], entry["detail"]) == (200, "ETHUSDT countdownTime=7000")
    await _arm(venue, "ETHUSDT", 0)
