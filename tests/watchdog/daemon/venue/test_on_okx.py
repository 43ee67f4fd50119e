"""The daemon on OKX: real processes (exchange_sim's OKX v5 front, the watchdog, a trader bot).
Every kill ends at the venue with no pending order (cancelled per order, in batches) and the
trader's key deleted, both seen in the sim's own records; cancel-all-after is armed and read
back; a master key OKX would not let manage sub-account keys is refused by name, never assumed.
"""

from __future__ import annotations

import os
import signal
from dataclasses import replace

from harness.sim import MASTER_ACCOUNT, MASTER_KEY, TRADER_ACCOUNT, SimConfig
from harness.wait import wait_until
from tests.watchdog.daemon.venue.world import venue_world

BATCH = "POST /api/v5/trade/cancel-batch-orders"


def test_trader_sigkill_cancels_everything_and_deletes_the_key_on_okx() -> None:
    with venue_world(venue="okx", countdown_ms=30_000) as world:
        pid = world.arm_with_orders(orders=25)
        dms = world.space.trader()["dms"]
        assert (dms["ok"], dms["supported"], dms["countdown_ms"]) == (True, True, 30_000)
        (countdown,) = world.sim.admin.countdowns()  # account-wide: no symbol
        assert countdown["symbol"] is None
        journal = world.sigkill_ends_clean(pid)
        watchdog_key = world.sim.key("watchdog").api_key
        batches = [e for e in journal
                   if e["endpoint"] == BATCH and e.get("api_key") == watchdog_key]  # fmt: skip
        assert len(batches) >= 2  # 25 orders: per order, at most 20 a request
        assert any(e["endpoint"] == "POST /api/v5/users/subaccount/delete-apikey"
                   for e in journal)  # fmt: skip
        # The watchdog's own key on the same account still works after the trader's is gone.
        assert world.sim.admin.key_status(watchdog_key)["status"] == "active"


def _unbound(world_config: SimConfig) -> SimConfig:
    master = replace(MASTER_ACCOUNT, keys=(replace(MASTER_KEY, ips=()),))
    return replace(world_config, accounts=(master, TRADER_ACCOUNT))


def test_a_master_key_bound_to_no_ip_is_refused_by_name_and_the_trader_not_armed() -> None:
    with venue_world(venue="okx", countdown_ms=30_000, sim_config=_unbound(SimConfig())) as world:
        world.space.start_watchdog()
        world.space.start_trader(equity=100_000.0)
        wait_until(lambda: world.space.trader()["venue_keys"] is not None, what="self-check")
        keys = world.space.trader()["venue_keys"]
        assert keys["ok"] is False
        assert "bound to no IP address" in keys["detail"]
        wait_until(lambda: world.space.state() == "HALTED", what="HALTED: it could not kill")
        status = world.space.request("GET", "/status")
        assert status["armed"] is False
        assert any(m["part"] == "venue_keys" for m in status["not_armed"])


def test_a_kill_with_the_switch_off_still_cancels_and_deletes() -> None:
    with venue_world(venue="okx", countdown_ms=0) as world:
        pid = world.arm_with_orders(orders=3)
        assert world.space.trader()["dms"] is None
        assert world.sim.admin.countdowns() == []
        os.kill(pid, signal.SIGKILL)
        world.wait_killed_clean()
