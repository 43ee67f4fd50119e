"""Real processes for the trader's integration tests and ``bench.tick_to_order``: exchange_sim,
the watchdog, the trader.

Every process is a child on loopback with its files in the given directory. Tests read the
venue's truth through the sim's admin API and the trader's through its Prometheus endpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.configs import (
    VENUE_KIND,
    TraderConfig,
    WatchdogConfig,
    WatchedTrader,
    venue_credentials_toml,
)
from harness.control import parse_metrics
from harness.procs import REPO, Child, start_module, stop_all, wait_ready_file
from harness.sim import NEW_ORDER_ENDPOINT, SimConfig, SimProcess
from harness.wait import wait_until

TRADER_ID = "mm1"
SIM_ACCOUNT = "trader1"
HMAC_KEY = bytes(range(100, 140)).hex()

LIMITS = """
profile = "standard"

[heartbeat]
interval_s = 0.1
warn_after_s = 1.0
halt_after_s = 2.0
kill_after_s = 4.0
cooldown_s = 0.5

[stale_data]
max_age_s = 60.0
cooldown_s = 0.5

[consecutive_losses]
max_count = 1000
pause_s = 1.0

[order_rate]
windows = [{ seconds = 1.0, max_orders = 100 }]
kill_after_s = 10.0
cooldown_s = 1.0

[rejects]
max_consecutive = 50
max_ratio_pct = 90
window_s = 60.0
min_sample = 50
cooldown_s = 1.0
"""

# The watchdog watches the trader by telemetry alone: no pid to stop, no credential file to revoke.
WATCHDOG = WatchdogConfig(
    traders=(
        WatchedTrader(
            id=TRADER_ID,
            hmac_key_file=f"{TRADER_ID}.key",
            limits_file="limits.toml",
            stop_process=False,
            revoke_credential=False,
        ),
    ),
    metrics=False,
).to_toml()


def trader_config(sim: SimProcess, root: Path) -> TraderConfig:
    """The trader of this world: it quotes BTCUSDT one basis point from mid, unpinned."""
    return TraderConfig(
        base_url=sim.base_url,
        ws_url=sim.ws_url,
        watchdog_socket=str(root / "ingress.sock"),
        trader_id=TRADER_ID,
        key_file=f"{TRADER_ID}.key",
        busy_poll=False,
        cpus=(),
        metrics_host=None,
        venue_kind=VENUE_KIND[sim.venue],
        # OKX allows 10 account reads (balance, positions) per 2 s per account.
        reconcile_interval_s=0.5 if sim.venue == "okx" else 0.2,
    )


@dataclass
class TraderProc:
    child: Child
    metrics_port: int

    def metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return parse_metrics(resp.read().decode())

    def metric(self, name: str, default: float = 0.0) -> float:
        try:
            return self.metrics().get(name, default)
        except OSError:
            return default

    def log(self) -> str:
        return self.child.log_tail(60)


class World:
    """A sim speaking ``venue``'s protocol, a watchdog and a trader wired together in ``root``."""

    def __init__(
        self, root: Path, sim_config: SimConfig | None = None, venue: str = "binance"
    ) -> None:
        self.root = root
        self.sim = SimProcess.start(root, sim_config or default_sim(), venue=venue)
        key = root / f"{TRADER_ID}.key"
        key.write_text(HMAC_KEY)
        key.chmod(0o600)
        (root / "limits.toml").write_text(LIMITS)
        creds = root / "venue.key"
        trader_key = self.sim.trader_key
        creds.write_text(
            venue_credentials_toml(
                venue, trader_key.api_key, trader_key.secret, trader_key.passphrase
            )
        )
        creds.chmod(0o600)
        (root / "watchdog.toml").write_text(WATCHDOG)
        self.watchdog: Child | None = None
        self.trader: TraderProc | None = None

    # -- processes ---------------------------------------------------------------------------

    def start_watchdog(self) -> Child:
        config = str(self.root / "watchdog.toml")
        self.watchdog = start_module(
            "watchdog", "run", "--config", config, log_path=self.root / "watchdog.log"
        )
        wait_until(
            lambda: not self.watchdog.alive() or (self.root / "control.sock").exists(),  # type: ignore[union-attr]
            what="watchdog control socket",
        )
        assert self.watchdog.alive(), self.watchdog.log_tail()
        return self.watchdog

    def trader_config(self) -> TraderConfig:
        return trader_config(self.sim, self.root)

    def start_trader(
        self, *, env: dict[str, str] | None = None, config: TraderConfig | None = None
    ) -> TraderProc:
        """Start the trader with ``config`` (by default ``trader_config()``)."""
        path = self.root / "trader.toml"
        path.write_text((config or self.trader_config()).to_toml())
        ready = self.root / "trader.ready"
        ready.unlink(missing_ok=True)
        child = start_module(
            "trader",
            *("run", "--config", str(path), "--ready-file", str(ready)),
            log_path=self.root / "trader.log",
            env={**os.environ, **env} if env else None,
        )
        info = wait_ready_file(ready, child, 30.0)
        self.trader = TraderProc(child, int(info["metrics_port"]))
        return self.trader

    def watchdog_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "watchdog", *args, "--config", str(self.root / "watchdog.toml")],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def stop(self) -> None:
        """Stop the trader, the watchdog and the sim, each even if another fails; then raise
        an ExceptionGroup of what failed."""
        children = (self.trader.child if self.trader else None, self.watchdog)
        stops = [child.stop for child in children if child is not None]
        stop_all([*stops, self.sim.stop], "the trader world")

    # -- the venue's truth -------------------------------------------------------------------

    def open_orders(self) -> list[dict[str, Any]]:
        return self.sim.admin.open_orders(SIM_ACCOUNT)

    def new_orders(self, since: int = 0) -> list[dict[str, Any]]:
        """New-order requests the venue received from the trader's account."""
        return [
            e
            for e in self.sim.admin.journal(since=since)
            if e["kind"] == "request"
            and e["endpoint"] == NEW_ORDER_ENDPOINT[self.sim.venue]
            and e["account"] == SIM_ACCOUNT
        ]

    # -- the trader's view -------------------------------------------------------------------

    @property
    def t(self) -> TraderProc:
        assert self.trader is not None
        return self.trader

    def quoting(self) -> bool:
        """Both sides rest at the venue and the trader says it is quoting."""
        sides = {o["side"] for o in self.open_orders()}
        return sides == {"BUY", "SELL"} and self.t.metric("trader_posture") == 0

    def flat_at_venue(self) -> bool:
        return not self.open_orders()


def default_sim() -> SimConfig:
    return SimConfig(
        book_ticker_hz=20.0,
        volatility_bps=1.5,
        orders_per_10s=5000,
        orders_per_minute=30000,
        weight_per_minute=1_000_000,
        bybit_orders_per_s=200,
        bybit_ip_per_5s=20_000,
        okx_orders_per_2s=400,
    )
