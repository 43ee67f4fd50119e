"""One watchdog, three venues at once: a trader on exchange_sim's Binance front, another on its
Bybit front and a third on its OKX front, each supervised through its own venue's adapter.
Killing one leaves the others ACTIVE, their orders resting and their keys alive."""

from __future__ import annotations

import os
import signal
import tempfile
from dataclasses import replace
from pathlib import Path

from harness.configs import WatchdogConfig, WatchedTrader
from harness.sim import SimProcess
from harness.wait import wait_until
from harness.watchdog_world import ALPHA, KEY, Workspace
from tests.watchdog.daemon.venue.world import TRADER_ACCOUNT, VENUE_STEPS, VenueWorld, write_key

# The test rests orders with each trader's key and reports none: key misuse off, or it kills.
NO_KEY_MISUSE = {"key_misuse": {"enabled": False}}
TRADERS = {"binance": "alpha", "bybit": "beta", "okx": "gamma"}


def _link_files(root: Path, sim: SimProcess, prefix: str) -> dict[str, str]:
    """The watchdog's key files for the trader on ``sim``, named by ``prefix``."""
    files = {
        "account_credentials": f"{prefix}-account.cred",
        "master_credentials": f"{prefix}-master.cred",
        "trader_key_file": f"{prefix}-trader-key-id",
    }
    okx = sim.venue == "okx"
    write_key(root / files["account_credentials"], sim.key("watchdog"), passphrase=okx)
    write_key(root / files["master_credentials"], sim.master_key, passphrase=okx)
    write_key(root / files["trader_key_file"], sim.key("trader"), secret=False)
    return files


def _trader(root: Path, sim: SimProcess) -> WatchedTrader:
    name = TRADERS[sim.venue]
    link = sim.venue_link(TRADER_ACCOUNT, **_link_files(root, sim, name))
    if name == ALPHA.id:
        return replace(ALPHA, rules=NO_KEY_MISUSE, venue=link)
    (root / f"{name}.key").write_text(KEY)
    (root / f"{name}.key").chmod(0o600)
    return replace(ALPHA, id=name, hmac_key_file=f"{name}.key", pidfile=f"{name}.pid",
                   rules=NO_KEY_MISUSE, credential_file=None, venue=link)  # fmt: skip


def test_one_watchdog_kills_its_okx_trader_and_leaves_its_binance_and_bybit_traders_active() -> (
    None
):
    with tempfile.TemporaryDirectory(prefix="wd3-") as name:
        root = Path(name)
        sims = {venue: SimProcess.start(root / venue, venue=venue) for venue in TRADERS}
        try:
            traders = tuple(_trader(root, sim) for sim in sims.values())
            space = Workspace(root, WatchdogConfig(traders=traders, log_level="debug").to_toml())
            try:
                space.start_watchdog()
                space.start_trader(equity=100_000.0)
                space.start_trader(equity=100_000.0, trader="beta")
                gamma_bot = space.start_trader(equity=100_000.0, trader="gamma")
                every = tuple(TRADERS.values())
                wait_until(lambda: all(space.state(t) == "ACTIVE" for t in every), what="ACTIVE")
                worlds = {venue: VenueWorld(sim, space) for venue, sim in sims.items()}
                for world in worlds.values():
                    assert world.place_resting(2) == 2
                for trader in every:
                    assert space.trader(trader)["dms"]["ok"] is True, space.trader(trader)["dms"]
                os.kill(gamma_bot.pid, signal.SIGKILL)
                wait_until(lambda: space.state("gamma") == "KILLED", within=30, what="KILLED")
                wait_until(lambda: bool((space.trader("gamma")["kill"] or {}).get("finished")),
                           within=60, what="gamma's kill verified")  # fmt: skip
                steps = space.trader("gamma")["kill"]["steps"]
                assert {s: steps[s] for s in VENUE_STEPS} == dict.fromkeys(VENUE_STEPS, "verified")
                assert worlds["okx"].open_orders() == []
                assert worlds["okx"].key_deleted()
                # The Binance and Bybit traders were never touched.
                for venue in ("binance", "bybit"):
                    assert space.state(TRADERS[venue]) == "ACTIVE"
                    assert len(worlds[venue].open_orders()) == 2
                    assert not worlds[venue].key_deleted()
            finally:
                space.cleanup()
        finally:
            for sim in sims.values():
                sim.stop()
