"""The request journal: every request, its key, endpoint, result and monotonic arrival time."""

from __future__ import annotations

import socket
import time

from harness.sim import SimProcess
from tests.exchange_sim.venue_client import VenueClient


async def test_every_request_is_journaled_in_order(venue: VenueClient) -> None:
    sim = venue.sim
    since = sim.admin.last_seq()
    before = time.monotonic()
    await venue.limit(sim.trader_key, "BUY", "50000")
    await venue.limit(sim.trader_key, "BUY", "50000.05")  # -1111
    await venue.raw("GET", "/fapi/v1/openOrders", "x=1", api_key="Z" * 64)  # -2015
    after = time.monotonic()
    entries = [e for e in sim.admin.journal(since=since) if e["kind"] == "request"]
    assert [(e["endpoint"], e["status"], e["code"]) for e in entries] == [
        ("POST /fapi/v1/order", 200, None),
        ("POST /fapi/v1/order", 400, -1111),
        ("GET /fapi/v1/openOrders", 401, -2015),
    ]
    assert [e["api_key"] for e in entries] == [sim.trader_key.api_key] * 2 + ["Z" * 64]
    assert entries[0]["detail"].startswith("BTCUSDT orderId=")
    assert entries[0]["account"] == "trader1"
    assert entries[2]["account"] is None
    monos = [e["mono"] for e in entries]
    assert before <= monos[0] <= monos[1] <= monos[2] <= after
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs)
    assert seqs[0] > since


async def test_journal_pages_with_since_and_limit(venue: VenueClient) -> None:
    sim = venue.sim
    for _ in range(5):
        await venue.raw("GET", "/fapi/v1/ping")
    everything = sim.admin.journal(since=0)
    page = sim.admin.journal(since=everything[1]["seq"], limit=2)
    assert [e["seq"] for e in page] == [everything[2]["seq"], everything[3]["seq"]]
    assert sim.admin.journal(since=everything[-1]["seq"]) == []


def test_a_request_whose_client_leaves_during_latency_is_journaled(frozen_sim: SimProcess) -> None:
    sim = frozen_sim
    sim.admin.set_fault(rest_latency={"fixed_ms": 300})
    since = sim.admin.last_seq()
    body = b"symbol=BTCUSDT&timestamp=1"
    head = (
        "POST /fapi/v1/order HTTP/1.1\r\nHost: sim\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-MBX-APIKEY: {sim.trader_key.api_key}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(head.encode() + body)
    # The client is gone before the venue answers; the venue still received the request.
    entry = sim.admin.wait_for_journal(lambda e: e["kind"] == "request", since=since)
    assert (entry["endpoint"], entry["status"]) == ("POST /fapi/v1/order", 499)
    assert entry["api_key"] == sim.trader_key.api_key
    assert "Traceback" not in sim.child.log_tail(10_000)
