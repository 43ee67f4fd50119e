"""One watchdog, two venues at once: a trader on exchange_sim's Binance front and another on its
Bybit front, each supervised through its own venue's adapter. Killing one leaves the other
ACTIVE, its orders resting and its key alive."""

from __future__ import annotations

import os
import signal
import tempfile
from dataclasses import replace
from pathlib import Path

from harness.configs import WatchdogConfig
from harness.sim import SimProcess
from harness.wait import wait_until
from harness.watchdog_world import ALPHA, KEY, Workspace
from tests.watchdog.daemon.venue.world import TRADER_ACCOUNT, VenueWorld, write_key

VENUE_STEPS = {"venue_cancel_all", "venue_sweep", "venue_revoke_key"}


def _link_files(root: Path, sim: SimProcess, prefix: str) -> dict[str, str]:
    """The watchdog's key files for the trader on ``sim``, named by ``prefix``."""
    files = {
        "account_credentials": f"{prefix}-account.cred",
        "master_credentials": f"{prefix}-master.cred",
        "trader_key_file": f"{prefix}-trader-key-id",
    }
    write_key(root / files["account_credentials"], sim.key("watchdog"))
    write_key(root / files["master_credentials"], sim.master_key)
    write_key(root / files["trader_key_file"], sim.key("trader"), secret=False)
    return files


def test_one_watchdog_kills_its_bybit_trader_and_leaves_its_binance_trader_active() -> None:
    with tempfile.TemporaryDirectory(prefix="wd2-") as name:
        root = Path(name)
        binance = SimProcess.start(root / "binance")
        bybit = SimProcess.start(root / "bybit", venue="bybit")
        try:
            alpha = replace(ALPHA, venue=binance.venue_link(
                TRADER_ACCOUNT, **_link_files(root, binance, "alpha")))  # fmt: skip
            beta = replace(ALPHA, id="beta", hmac_key_file="beta.key", pidfile="beta.pid",
                           credential_file=None, venue=bybit.venue_link(
                               TRADER_ACCOUNT, **_link_files(root, bybit, "beta")))  # fmt: skip
            config = WatchdogConfig(traders=(alpha, beta), log_level="debug").to_toml()
            space = Workspace(root, config)
            (root / "beta.key").write_text(KEY)
            (root / "beta.key").chmod(0o600)
            try:
                space.start_watchdog()
                space.start_trader(equity=100_000.0)
                beta_bot = space.start_trader(equity=100_000.0, trader="beta")
                both = ("alpha", "beta")
                wait_until(lambda: all(space.state(t) == "ACTIVE" for t in both), what="ACTIVE")
                on_binance, on_bybit = VenueWorld(binance, space), VenueWorld(bybit, space)
                assert on_binance.place_resting(2) == 2
                assert on_bybit.place_resting(2) == 2
                for trader in ("alpha", "beta"):
                    assert space.trader(trader)["dms"]["ok"] is True, space.trader(trader)["dms"]
                os.kill(beta_bot.pid, signal.SIGKILL)
                wait_until(lambda: space.state("beta") == "KILLED", within=30, what="beta KILLED")
                wait_until(lambda: bool((space.trader("beta")["kill"] or {}).get("finished")),
                           within=60, what="beta's kill verified")  # fmt: skip
                steps = space.trader("beta")["kill"]["steps"]
                assert {s: steps[s] for s in VENUE_STEPS} == dict.fromkeys(VENUE_STEPS, "verified")
                assert on_bybit.open_orders() == []
                assert on_bybit.key_deleted()
                # The Binance trader was never touched.
                assert space.state("alpha") == "ACTIVE"
                assert len(on_binance.open_orders()) == 2
                assert not on_binance.key_deleted()
            finally:
                space.cleanup()
        finally:
            bybit.stop()
            binance.stop()
