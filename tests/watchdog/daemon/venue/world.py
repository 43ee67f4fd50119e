"""A whole venue world of real processes: exchange_sim, the watchdog daemon, a trader bot, and
a scripted client trading with the trader's own key (it may lie to, or ignore, the watchdog).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness.sim import OrderRefused, SimConfig, SimKey, SimProcess
from harness.wait import wait_until
from harness.watchdog_world import CONFIG, Workspace
from watchdog.venues import (
    BinanceFutures,
    Credentials,
    KeyRefused,
    OrderType,
    RateLimited,
    Side,
    VenueEndpoint,
    open_session,
)

VENUES = ("binance", "bybit", "okx")
# The kill pipeline's steps that act at the venue: each must end verified, never assumed.
VENUE_STEPS = frozenset({"venue_cancel_all", "venue_sweep", "venue_revoke_key"})

TRADER_ACCOUNT = "trader1"

# Far from the market so they rest: BTC trades at 60000, ETH at 3000 (sim defaults).
RESTING = {"BTCUSDT": (Decimal("50000"), Decimal("0.002")),
           "ETHUSDT": (Decimal("2500"), Decimal("0.01"))}  # fmt: skip


def write_key(path: Path, key: SimKey, *, secret: bool = True, passphrase: bool = False) -> None:
    """A key file; ``passphrase`` adds the key's (OKX's key files carry it, no other's may)."""
    text = f'api_key = "{key.api_key}"\n' + (f'secret = "{key.secret}"\n' if secret else "")
    text += f'passphrase = "{key.passphrase}"\n' if passphrase else ""
    path.write_text(text)
    path.chmod(0o600)


@dataclass
class VenueWorld:
    sim: SimProcess
    space: Workspace

    @property
    def trader_key(self) -> SimKey:
        return self.sim.key("trader")

    def open_orders(self) -> list[dict[str, Any]]:
        return self.sim.admin.open_orders(TRADER_ACCOUNT)

    def key_deleted(self) -> bool:
        return bool(self.sim.admin.key_status(self.trader_key.api_key)["status"] != "active")

    def place_resting(self, count: int) -> int:
        """Place `count` resting orders with the trader's key; returns how many were accepted."""
        if self.sim.venue != "binance":
            symbols = itertools.cycle(RESTING)
            run = uuid.uuid4().hex[:8]
            for n in range(count):
                symbol = next(symbols)
                price, qty = RESTING[symbol]
                # A client order id, as a copy of the bot would set: the hard case for key
                # misuse (an order without one is unreported at once).
                self.sim.place_order(
                    self.trader_key, symbol, "BUY", str(qty), str(price), f"s{run}{n}"
                )
            return count
        return asyncio.run(self._place(count, stop_on_refusal=False))

    def place_until_refused(self, limit: int = 100_000) -> int:
        """Place resting orders with the trader's key until the venue refuses the key."""
        if self.sim.venue != "binance":
            placed = 0
            while placed < limit:
                try:
                    self.place_resting(1)
                except OrderRefused as exc:
                    if not exc.rate_limited:
                        return placed
                    time.sleep(0.05)  # a flooder, not a fool: it waits out the venue's pause
                    continue
                placed += 1
            return limit
        return asyncio.run(self._place(limit, stop_on_refusal=True))

    async def _place(self, count: int, *, stop_on_refusal: bool) -> int:
        session = open_session()
        key = self.trader_key
        client = BinanceFutures(session, VenueEndpoint(self.sim.base_url),
                                Credentials(key.api_key, key.secret))  # fmt: skip
        placed = 0
        run = uuid.uuid4().hex[:8]
        try:
            symbols = itertools.cycle(RESTING)
            for n in range(count):
                symbol = next(symbols)
                price, qty = RESTING[symbol]
                try:
                    await client.new_order(symbol, Side.BUY, OrderType.LIMIT, qty, price=price,
                                           client_order_id=f"s-{run}-{n}")  # fmt: skip
                except KeyRefused:
                    if stop_on_refusal:
                        return placed
                    raise
                except RateLimited as exc:
                    if not stop_on_refusal:
                        raise
                    await asyncio.sleep(exc.retry_after or 0.05)  # a flooder, not a fool
                    continue
                placed += 1
        finally:
            await session.close()
        return placed

    def market_buy(self, symbol: str, qty: Decimal) -> None:
        self.sim.place_order(self.trader_key, symbol, "BUY", str(qty))

    def arm_with_orders(self, orders: int = 6) -> int:
        """The watchdog and the trader bot started, the trader ACTIVE with ``orders`` resting
        orders at the venue; the bot's pid."""
        self.space.start_watchdog()
        trader = self.space.start_trader(equity=100_000.0)  # what the venue shows
        wait_until(lambda: self.space.state() == "ACTIVE", what="ACTIVE")
        wait_until(lambda: self.space.trader()["pid"] == trader.pid, what="pid watched")
        assert self.place_resting(orders) == orders
        assert len(self.open_orders()) == orders
        return trader.pid

    def audit_steps(self) -> dict[str, str]:
        return dict(self.space.trader()["kill"]["steps"])

    def wait_killed_clean(self) -> None:
        wait_until(lambda: self.space.state() == "KILLED", within=30, what="KILLED")
        wait_until(self.space.kill_finished, within=60, what="kill verified")
        assert self.open_orders() == []
        assert self.key_deleted()

    def sigkill_ends_clean(self, pid: int) -> list[dict[str, Any]]:
        """SIGKILL the bot; the kill ends clean with every venue step verified. What the sim
        journaled meanwhile, for a test to say how the venue was driven."""
        since = self.sim.admin.last_seq()
        os.kill(pid, signal.SIGKILL)
        self.wait_killed_clean()
        steps = self.audit_steps()
        assert {s: steps[s] for s in VENUE_STEPS} == dict.fromkeys(VENUE_STEPS, "verified")
        return self.sim.admin.journal(since=since)


# The bot reports no orders, and the scripted client trades with the trader's key: unless a
# test is about key misuse, that client stands for the trader, supervised without order
# telemetry, so the rule is turned off as such a trader's limits must say.
NO_KEY_MISUSE = """
[traders.limits.key_misuse]
enabled = false
"""


@contextmanager
def venue_world(
    *,
    venue: str = "binance",
    countdown_ms: int = 10_000,
    extra_config: str = NO_KEY_MISUSE,
    sim_config: SimConfig | None = None,
    master_secret: str | None = None,
    config: str = CONFIG,
    link: dict[str, Any] | None = None,
    market: str | bool = False,
) -> Iterator[VenueWorld]:
    """``venue``: the sim's front (``binance``, ``bybit``, ``okx``); ``countdown_ms`` the dead
    man's switch each way (Bybit's DCP and OKX's cancel-all-after in whole seconds, 0 off).
    ``master_secret`` replaces the master key's secret in the watchdog's file (a bad key).
    ``config``: the watchdog's config before its venue table (one trader `alpha`).
    ``extra_config`` replaces `NO_KEY_MISUSE` (add it back to keep the rule off). ``link``:
    more ``[traders.venue]`` fields.
    ``market``: the watchdog follows a market stream: True the sim's own, a string that URL."""
    # Unix socket paths are limited to 108 bytes: a short directory, not pytest's tmp_path.
    with tempfile.TemporaryDirectory(prefix="wdv-") as root_name:
        root = Path(root_name)
        sim = SimProcess.start(root, sim_config, venue=venue)
        try:
            switch = {
                "bybit": {"dcp_window_s": countdown_ms // 1000},
                "okx": {"dms_timeout_s": countdown_ms // 1000},
            }.get(venue, {"dms_countdown_ms": countdown_ms})
            fields = dict(link or {})
            if market:
                fields["market_ws_url"] = sim.market_ws_url if market is True else market
            venue_link = sim.venue_link(TRADER_ACCOUNT, **switch, **fields)
            space = Workspace(root, config + extra_config + venue_link.to_toml())
            okx = venue == "okx"
            write_key(root / "watchdog-account.cred", sim.key("watchdog"), passphrase=okx)
            master = sim.master_key
            if master_secret is not None:
                master = replace(master, secret=master_secret)
            write_key(root / "watchdog-master.cred", master, passphrase=okx)
            write_key(root / "trader-key-id", sim.key("trader"), secret=False)
            try:
                yield VenueWorld(sim, space)
            finally:
                space.cleanup()
        finally:
            sim.stop()
