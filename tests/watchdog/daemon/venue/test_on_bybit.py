"""The daemon on Bybit: real processes (exchange_sim's Bybit v5 front, the watchdog, a trader
bot). Every kill ends at the venue with no open order and the trader's key deleted, both seen in
the sim's own records; the DCP is armed and read back, or reported as unsupported, never assumed.
"""

from __future__ import annotations

import json
from typing import Any

from harness.sim import SimConfig
from harness.wait import wait_until
from tests.watchdog.daemon.venue.world import VenueWorld, venue_world


def _alerts(world: VenueWorld, kind: str) -> list[dict[str, Any]]:
    lines = (json.loads(x) for x in world.space.log("watchdog").splitlines() if x[:1] == "{")
    return [e for e in lines if e.get("event") == "alert" and e.get("kind") == kind]


def test_trader_sigkill_cancels_everything_and_deletes_the_key_on_bybit() -> None:
    with venue_world(venue="bybit") as world:
        pid = world.arm_with_orders()
        dms = world.space.trader()["dms"]
        assert (dms["ok"], dms["supported"], dms["countdown_ms"]) == (True, True, 10_000)
        journal = world.sigkill_ends_clean(pid)
        watchdog_key = world.sim.key("watchdog").api_key
        assert any(e["endpoint"] == "POST /v5/order/cancel-all" and e.get("api_key") == watchdog_key
                   for e in journal)  # fmt: skip
        assert any(e["endpoint"] == "POST /v5/user/delete-sub-api" for e in journal)
        # The watchdog's own key on the same account still works after the trader's is gone.
        assert world.sim.admin.key_status(watchdog_key)["status"] == "active"


def test_an_account_without_dcp_is_reported_unsupported_and_not_armed() -> None:
    with venue_world(venue="bybit", sim_config=SimConfig(dcp_enabled=False)) as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)
        wait_until(lambda: world.space.state() == "ACTIVE", what="ACTIVE")
        wait_until(lambda: _alerts(world, "venue_dms_unsupported"), what="unsupported alert")
        dms = world.space.trader()["dms"]
        assert (dms["ok"], dms["supported"]) == (False, False)
        assert "unsupported here" in dms["detail"]
        status = world.space.request("GET", "/status")
        assert status["armed"] is False
        assert any(m["part"] == "dms" and "unsupported" in m["reason"]
                   for m in status["not_armed"])  # fmt: skip
        assert len(_alerts(world, "venue_dms_unsupported")) == 1  # once, not every refresh
