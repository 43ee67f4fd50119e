"""Sub-account key deletion: the deleted key is refused at once, its stream closes, others live."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.exchange_sim.venue_client import VenueClient


async def _delete(venue: VenueClient, api_key: str, email: str = "trader1@sub.sim") -> int | None:
    reply = await venue.signed(
        "DELETE",
        "/sapi/v1/sub-account/subAccountApi",
        venue.sim.master_key,
        {"email": email, "subAccountApiKey": api_key},
    )
    assert reply.status in (200, 400), reply.body
    return reply.code


async def test_a_deleted_key_is_refused_at_once_and_its_stream_closes(
    venue: VenueClient, session: aiohttp.ClientSession
) -> None:
    sim = venue.sim
    trader, watchdog = sim.trader_key, sim.watchdog_key
    placed = await venue.limit(trader, "BUY", "50000")
    assert placed.status == 200
    trader_stream = await session.ws_connect(f"{sim.ws_url}/ws/{await venue.listen_key(trader)}")
    watchdog_stream = await session.ws_connect(
        f"{sim.ws_url}/ws/{await venue.listen_key(watchdog)}"
    )

    assert await _delete(venue, trader.api_key) is None

    refused = await venue.open_orders(trader)
    assert (refused.status, refused.code) == (401, -2015)
    listen = await venue.raw("POST", "/fapi/v1/listenKey", api_key=trader.api_key)
    assert listen.code == -2015
    msg = await trader_stream.receive(timeout=10)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert sim.admin.key_status(trader.api_key)["status"] == "deleted"

    # The watchdog's key on the same account still works, and its stream stays open.
    still = await venue.open_orders(watchdog)
    assert still.status == 200
    assert len(still.body) == 1
    cancel = await venue.signed("DELETE", "/fapi/v1/allOpenOrders", watchdog, {"symbol": "BTCUSDT"})
    assert cancel.status == 200
    event = await watchdog_stream.receive_json(timeout=10)
    assert event["e"] == "ORDER_TRADE_UPDATE"
    assert event["o"]["X"] == "CANCELED"
    assert sim.admin.key_status(watchdog.api_key)["status"] == "active"
    await watchdog_stream.close()


async def test_deleting_twice_or_a_foreign_key_is_an_error(venue: VenueClient) -> None:
    sim = venue.sim
    assert await _delete(venue, sim.trader_key.api_key) is None
    assert await _delete(venue, sim.trader_key.api_key) is not None
    assert await _delete(venue, sim.master_key.api_key, "master@sim") is not None
    assert await _delete(venue, sim.watchdog_key.api_key, "nobody@sub.sim") is not None
    assert sim.admin.key_status(sim.watchdog_key.api_key)["status"] == "active"


async def test_the_deletion_is_journaled_with_its_arrival_time(venue: VenueClient) -> None:
    sim = venue.sim
    before = asyncio.get_running_loop().time()
    assert await _delete(venue, sim.trader_key.api_key) is None
    entry = sim.admin.wait_for_journal(lambda e: e["endpoint"] == "key_deleted")
    assert entry["api_key"] == sim.trader_key.api_key
    assert entry["account"] == "trader1"
    request = next(
        e
        for e in sim.admin.journal()
        if e["endpoint"] == "DELETE /sapi/v1/sub-account/subAccountApi"
    )
    assert request["status"] == 200
    assert request["api_key"] == sim.master_key.api_key
    # CLOCK_MONOTONIC is system-wide: the sim's arrival time sits on this process's clock.
    assert before <= request["mono"] <= asyncio.get_running_loop().time()


async def test_the_broker_flavour_deletes_by_sub_account_id(venue: VenueClient) -> None:
    sim = venue.sim
    reply = await venue.signed(
        "DELETE",
        "/sapi/v1/broker/subAccountApi",
        sim.master_key,
        {"subAccountId": "trader1", "subAccountApiKey": sim.watchdog_key.api_key},
    )
    assert reply.status == 200, reply.body
    assert (await venue.open_orders(sim.watchdog_key)).code == -2015
    assert (await venue.open_orders(sim.trader_key)).status == 200
