"""A blind watchdog halts: real processes (exchange_sim, the watchdog, a trader bot).

The venue answers 503 to every signed read the watchdog's view is built from, while the
trader's telemetry keeps saying all is well. Within `max_venue_blind_s` (the default, 5 s)
plus a generous margin the trader is HALTED `venue_blind`; the venue's dead man's switch stays
armed and refreshed meanwhile; when the venue answers again the trader is ACTIVE again.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from harness.wait import wait_until
from tests.watchdog.daemon.venue.world import VenueWorld, venue_world
from watchdog.daemon.venue.settings import DEFAULT_MAX_VENUE_BLIND_S

SIGNED_READS = ("GET /fapi/v2/account", "GET /fapi/v1/openOrders")
COUNTDOWN = "POST /fapi/v1/countdownCancelAll"
MARGIN_S = 10.0  # a loaded 2-core machine; the precise instant is the risk tests' business


def _blind(world: VenueWorld) -> dict[str, Any] | None:
    trader = world.space.trader()
    if trader["state"] != "HALTED":
        return None
    return next((d for d in trader["decisions"] if d["rule"] == "venue_blind"), None)


def _alerts(world: VenueWorld, kind: str) -> list[dict[str, Any]]:
    lines = (
        json.loads(line) for line in world.space.log("watchdog").splitlines() if line[:1] == "{"
    )
    return [e for e in lines if e.get("event") == "alert" and e.get("kind") == kind]


def _countdowns_sent(world: VenueWorld, since: int) -> list[dict[str, Any]]:
    return [
        e
        for e in world.sim.admin.journal(since=since)
        if e["endpoint"] == COUNTDOWN and e["status"] == 200
    ]


def test_a_watchdog_that_cannot_read_the_venue_halts_keeps_the_dms_and_recovers() -> None:
    with venue_world() as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)  # heartbeats all along: "all is well"
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")

        outage_seq = world.sim.admin.last_seq()
        outage = time.monotonic()
        for endpoint in SIGNED_READS:
            world.sim.admin.set_fault(fail_next={"count": 1_000_000, "endpoint": endpoint})
        blind = wait_until(
            lambda: _blind(world),
            within=DEFAULT_MAX_VENUE_BLIND_S + MARGIN_S,
            what="HALTED venue_blind",
        )
        halted_after = time.monotonic() - outage
        assert halted_after >= DEFAULT_MAX_VENUE_BLIND_S - 0.5  # not before the view aged
        assert blind["limit"] == DEFAULT_MAX_VENUE_BLIND_S
        assert blind["value"] >= DEFAULT_MAX_VENUE_BLIND_S
        trader = world.space.trader()
        assert trader["heartbeat_age_s"] < 1.0  # the telemetry never stopped
        assert any(d["rule"] == "daily_loss" and "unknown" in d["reason"]
                   for d in trader["decisions"])  # fmt: skip
        wait_until(lambda: _alerts(world, "venue_blind"), what="venue_blind alert")
        decisions = world.space.audit("decision")
        assert any(d["rule"] == "venue_blind" for d in decisions[-1]["detail"]["decisions"])

        # The dead man's switch stays armed and refreshed while blind: fresh confirmations
        # for every symbol after the HALT, and the venue holds a running countdown for each.
        blind_seq = world.sim.admin.last_seq()
        wait_until(
            lambda: (
                {e["detail"].split()[0] for e in _countdowns_sent(world, blind_seq)}
                >= {"BTCUSDT", "ETHUSDT"}
            ),
            what="dead man's switch refreshed while blind",
        )
        armed = {c["symbol"] for c in world.sim.admin.countdowns() if c["remaining_ms"] > 0}
        assert armed == {"BTCUSDT", "ETHUSDT"}
        refused = [e for e in world.sim.admin.journal(since=outage_seq)
                   if e["endpoint"] in SIGNED_READS and e["status"] == 503]  # fmt: skip
        assert refused  # the outage was real

        world.sim.admin.clear_faults()
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE once the venue answers")
        assert world.space.trader()["decisions"] == []
        wait_until(lambda: _alerts(world, "venue_view_restored"), what="restored alert")
        assert world.space.audit("kill_started") == []


# Each venue's signed reads the watchdog's view is built from, and a dead man's switch it takes.
BYBIT_READS = ("GET /v5/account/wallet-balance", "GET /v5/order/realtime")
OKX_READS = ("GET /api/v5/account/balance", "GET /api/v5/trade/orders-pending")
OTHER_VENUES = [("bybit", BYBIT_READS, 10_000), ("okx", OKX_READS, 30_000)]


@pytest.mark.parametrize(("venue", "signed_reads", "countdown_ms"), OTHER_VENUES)
def test_a_watchdog_blind_to_bybit_or_okx_halts_and_recovers(
    venue: str, signed_reads: tuple[str, ...], countdown_ms: int
) -> None:
    with venue_world(venue=venue, countdown_ms=countdown_ms) as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        for endpoint in signed_reads:
            world.sim.admin.set_fault(fail_next={"count": 1_000_000, "endpoint": endpoint})
        wait_until(
            lambda: _blind(world), within=DEFAULT_MAX_VENUE_BLIND_S + MARGIN_S,
            what="HALTED venue_blind",
        )  # fmt: skip
        world.sim.admin.clear_faults()
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE once the venue answers")
