"""Kill latency at the venue: from a trigger to "venue shows no open orders" and to "trader key
refused", read from exchange_sim's request journal (monotonic times on this host).

    python -m bench.kill_latency_venue [--venue binance|bybit|okx|all] [--quick] [--runs N]
                                       [--batch K]

Real processes on loopback: one exchange_sim (speaking ``--venue``'s protocol, Binance USDⓈ-M
by default, Bybit v5 or OKX v5; ``all``: each in turn, the keys prefixed with the venue) with K
sub-accounts, one watchdog supervising K traders (each a trader bot with its own sub-account
key), for each scenario and each venue latency (0 and 50 ms
injected by the sim on every REST answer). Scenarios:

- ``sigkill``: the trader process is SIGKILLed (seen by its pidfd);
- ``sigstop``: the trader is SIGSTOPped (seen by the heartbeat deadline, 0.8 s here; 5 s in
  the other scenarios, so a loaded machine does not kill a trader before its run);
- ``telemetry``: the trader reports a 10% loss (daily-loss breach in telemetry); the trigger
  is the bot's report call (the monotonic time it writes to its ``--report-stamp`` file), not
  the signal that asks for it;
- ``venue_only``: the trader keeps reporting full equity while the venue moves a 6% loss (a
  price jump); the watchdog follows the venue's market stream and marks the position itself.
  The trigger is the sim's journal stamp of the jump; the run waits until two of the
  watchdog's account reads have arrived after the position was bought, so the position is in
  the view the jump is marked on;
- ``rogue``: a second client floods resting orders with the trader's key while the trader
  reports normally (none of them): key misuse (on only here; elsewhere the sim's resting orders
  stand for the trader's own). Each rogue order carries a client order id, as a copy of the
  bot would (an order without one is unreported at once: the easy case), and the rogue sends
  ``--rogue-rate`` orders a second (default 250, the demo's runaway loop; 0: each as soon as
  the previous one is answered). The trigger is the venue's acknowledgement of the first rogue
  order (its journal arrival plus the injected latency); ``rogue_orders_accepted_max`` is the
  most orders the venue accepted from the rogue before it refused the key, over the runs.

"No open orders" is when the venue processed the last of the kill's first cancel-alls (Binance:
one per symbol with orders; Bybit: one per settle coin; OKX, which has no cancel-all: the batch
cancel of the orders its listing found) that emptied the account (its arrival
in the journal, plus the injected latency, which the sim applies before processing); "key
refused" is the venue's ``key_deleted`` event. Each run is checked: the account ends with no
open orders and the key refused. A trader that was no longer ACTIVE when its turn came is
counted in ``skipped_runs`` and replaced. Then ``cancel_sweep_*``: 45 orders resting on two
symbols and one ``cancel_everything`` with the watchdog's key, its time and the requests it
took (OKX cancels per order, 20 a request). Prints one JSON object, with the same keys for
every venue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import ROUND_UP, Decimal
from pathlib import Path
from typing import Any

import aiohttp

from bench._stats import summary
from harness.configs import HeartbeatLimits, WatchdogConfig, WatchedTrader, credentials_toml
from harness.control import control_request
from harness.sim import (
    MASTER_ACCOUNT,
    NEW_ORDER_ENDPOINT,
    OrderRefused,
    SimAccount,
    SimConfig,
    SimKey,
    SimProcess,
)
from harness.wait import NotReachedError, wait_until
from watchdog.venues import (
    BinanceFutures,
    Bybit,
    BybitEndpoint,
    Credentials,
    Okx,
    OkxEndpoint,
    VenueAdapter,
    VenueEndpoint,
    open_session,
)

SCENARIOS = ("sigkill", "sigstop", "telemetry", "venue_only", "rogue")
ROGUE_MAX_ORDERS = 5_000  # a rogue still accepted after this many: the watchdog never stopped it
ROGUE_PER_S = 250.0  # the demo's runaway loop (`make demo SCENARIO=order-flood`)
LATENCIES_MS = (0, 50)
SYMBOLS = ("BTCUSDT", "ETHUSDT")
# Resting 2% above the mid: a falling price (venue_only) never fills them, and they stay inside
# the price collar (5% from the venue's mid, which the watchdog's market stream gives it).
# Each is worth about 250 (the venue refuses under 100), however far earlier jumps moved the price.
RESTING = (("BTCUSDT", Decimal("0.001")), ("ETHUSDT", Decimal("0.01")))  # symbol, quantity step
RESTING_ABOVE_MID = Decimal("1.02")
RESTING_NOTIONAL = Decimal(250)
HMAC_KEY = bytes(range(32, 72)).hex()
KEY_DELETION_PACE_S = {"okx": 1.05}  # the venue's one key change a second, and a margin
SWEEP_ORDERS = 45  # three batches of 20 where the venue cancels per order
GOALS_MS = {
    "sigkill_no_open_orders_p99": 10.0,
    "sigkill_key_refused_p99": 25.0,
    "telemetry_no_open_orders_p99": 10.0,
    "venue_only_no_open_orders_p99": 15.0,
    "rogue_key_refused_p99": 20.0,
}
GOAL_ROGUE_ORDERS = 3  # rogue_orders_accepted_max


@dataclass(frozen=True)
class VenueCancels:
    """How the watchdog's kill cancels on one venue, as the sim's journal shows it."""

    endpoint: str
    first_round: int  # the cancel-alls the kill sends at once: they empty the account


# The read the watchdog's reconciliation starts with, as the sim's journal names it.
ACCOUNT_READ = {
    "binance": "GET /fapi/v2/account",
    "bybit": "GET /v5/account/wallet-balance",
    "okx": "GET /api/v5/account/balance",
}

CANCELS = {
    "binance": VenueCancels("DELETE /fapi/v1/allOpenOrders", len(SYMBOLS)),  # one per symbol
    "bybit": VenueCancels("POST /v5/order/cancel-all", 2),  # one per settle coin: USDT, USDC
    # No cancel-all: the pending orders are listed, then cancelled 20 a batch (one here).
    "okx": VenueCancels("POST /api/v5/trade/cancel-batch-orders", 1),
}


def _config(
    slots: list[Slot], sim: SimProcess, heartbeat: HeartbeatLimits, key_misuse: bool
) -> str:
    """One watched trader a slot, each with its own watchdog key on its own account; no
    countdown cancel-all, so a kill's cancels are the watchdog's own. ``key_misuse`` off
    where the sim's resting orders stand for the trader's own."""
    return WatchdogConfig(
        traders=tuple(
            WatchedTrader(
                id=s.id,
                hmac_key_file=f"{s.id}.key",
                pidfile=f"{s.id}.pid",
                stop_grace_s=0.5,
                heartbeat=heartbeat,
                # The sim places the resting orders on the trader's key; the bot reports none.
                # venue_only buys its whole position in one order, priced at the venue's mid.
                rules={
                    "key_misuse": {"enabled": key_misuse},
                    "order_size": {"max_notional": {"quote": 1_000_000.0}},
                },
                venue=sim.venue_link(
                    s.account,
                    symbols=SYMBOLS,
                    account_credentials=f"{s.id}-watchdog.cred",
                    master_credentials="master.cred",
                    trader_key_file=f"{s.id}-trader.id",
                    dms_countdown_ms=0,
                    dcp_window_s=0,
                    dms_timeout_s=0,
                    selfcheck_period_s=60.0,
                    market_ws_url=sim.market_ws_url,
                ),
            )
            for s in slots
        ),
        log_level="warning",
        backoff_initial_s=0.01,
    ).to_toml()


def _key(label: str) -> str:
    return label.ljust(64, "0")


@dataclass(frozen=True)
class Slot:
    id: str
    account: str
    email: str
    trader: SimKey
    watchdog: SimKey


def _slots(count: int) -> list[Slot]:
    return [
        Slot(f"t{i}", f"t{i}", f"t{i}@sub.sim",
             SimKey(f"trader{i}", _key(f"BenchTrader{i}Key"), _key(f"BenchTrader{i}Secret")),
             SimKey(f"watchdog{i}", _key(f"BenchWatchdog{i}Key"), _key(f"BenchWd{i}Secret")))
        for i in range(count)
    ]  # fmt: skip


@dataclass
class Batch:
    root: Path
    sim: SimProcess
    watchdog: subprocess.Popen[bytes]
    bots: dict[str, subprocess.Popen[bytes]]
    slots: list[Slot]
    last_deletion: float = 0.0  # monotonic time of the batch's last key deletion

    def status(self) -> dict[str, dict[str, Any]]:
        body = control_request(self.root / "control.sock", "GET", "/status")
        return {t["id"]: t for t in body["traders"]}

    def answers(self) -> bool:
        try:
            self.status()
        except OSError:
            return False
        return True


def _spawn(root: Path, args: list[str], log: str) -> subprocess.Popen[bytes]:
    out = open(root / f"{log}.log", "ab")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen([sys.executable, *args], stdout=out, stderr=out)
    out.close()
    return process


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


@contextmanager
def batch(
    slots: list[Slot],
    latency_ms: int,
    heartbeat_kill_s: float,
    venue: str = "binance",
    key_misuse: bool = False,
) -> Iterator[Batch]:
    """``heartbeat_kill_s``: tight for the SIGSTOP scenario (it measures that deadline), loose
    otherwise, so a loaded machine does not kill a trader before its run."""
    heartbeat = HeartbeatLimits(0.05, heartbeat_kill_s * 0.4, heartbeat_kill_s * 0.6,
                                heartbeat_kill_s)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="kv-") as name:
        root = Path(name)
        accounts = tuple(SimAccount(s.account, s.email, "100000", False, (s.trader, s.watchdog))
                         for s in slots)  # fmt: skip
        sim = SimProcess.start(root, SimConfig(accounts=(MASTER_ACCOUNT, *accounts),
                                               orders_per_10s=100_000, orders_per_minute=100_000,
                                               weight_per_minute=1_000_000,
                                               bybit_orders_per_s=100_000,
                                               bybit_ip_per_5s=1_000_000,
                                               okx_orders_per_2s=100_000),
                               venue=venue)  # fmt: skip
        bots: dict[str, subprocess.Popen[bytes]] = {}
        watchdog = None
        try:
            master = sim.master_key
            _write(root / "master.cred", _credentials(venue, master))
            for s in slots:
                _write(root / f"{s.id}.key", HMAC_KEY)
                _write(root / f"{s.id}-watchdog.cred", _credentials(venue, s.watchdog))
                _write(root / f"{s.id}-trader.id", credentials_toml(s.trader.api_key))
            (root / "watchdog.toml").write_text(_config(slots, sim, heartbeat, key_misuse))
            for s in slots:
                bots[s.id] = _spawn(root, [
                    "-m", "harness.trader_bot", "--trader", s.id,
                    "--key-file", str(root / f"{s.id}.key"), "--socket",
                    str(root / "ingress.sock"), "--pidfile", str(root / f"{s.id}.pid"),
                    "--equity", "100000", "--report-stamp", str(_stamp(root, s)),
                ], f"bot-{s.id}")  # fmt: skip
            wait_until(lambda: all((root / f"{s.id}.pid").exists() for s in slots), 60, "bots up")
            watchdog = _spawn(root, ["-m", "watchdog", "run", "--config",
                                     str(root / "watchdog.toml")], "watchdog")  # fmt: skip
            b = Batch(root, sim, watchdog, bots, slots)
            wait_until(lambda: watchdog.poll() is not None or b.answers(), 30, "watchdog armed")
            if watchdog.poll() is not None:
                raise RuntimeError((root / "watchdog.log").read_text()[-2000:])
            try:
                wait_until(lambda: all(t["state"] == "ACTIVE" for t in b.status().values()), 60,
                      "every trader ACTIVE")  # fmt: skip
            except NotReachedError as exc:
                stuck = {k: t["decisions"] for k, t in b.status().items() if t["state"] != "ACTIVE"}
                raise RuntimeError(f"{exc}: {json.dumps(stuck)[:2000]}") from None
            if latency_ms:
                sim.admin.set_fault(rest_latency={"fixed_ms": latency_ms})
            yield b
        finally:
            for process in [*bots.values(), *([watchdog] if watchdog else [])]:
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGCONT)
                    process.kill()
                process.wait(timeout=30)
            sim.stop()


def _credentials(venue: str, key: SimKey) -> str:
    """A key file as the watchdog reads it for ``venue`` (OKX's carries the passphrase)."""
    passphrase = key.passphrase if venue == "okx" else None
    return credentials_toml(key.api_key, key.secret, passphrase)


def _resting_orders(b: Batch) -> list[tuple[str, str, str]]:
    """(symbol, quantity, price) of one resting SELL per symbol."""
    quotes = b.sim.admin.quotes()
    orders = []
    for symbol, step in RESTING:
        price = (Decimal(quotes[symbol]["mid"]) * RESTING_ABOVE_MID).quantize(Decimal(1))
        qty = (RESTING_NOTIONAL / price).quantize(step, rounding=ROUND_UP)
        orders.append((symbol, str(qty), str(price)))
    return orders


def _place_resting(b: Batch, slot: Slot) -> None:
    for symbol, qty, price in _resting_orders(b):
        b.sim.place_order(slot.trader, symbol, "SELL", qty, price)


def _flood(b: Batch, slot: Slot, per_s: float) -> int:
    """A rogue client with the trader's key: resting orders one after another, ``per_s`` a
    second (0: as fast as the venue answers), until the venue refuses the key; how many the
    venue accepted. The trader reports none of them."""
    orders = _resting_orders(b)
    accepted = 0
    run = uuid.uuid4().hex[:8]
    period = 1.0 / per_s if per_s > 0 else 0.0
    while accepted < ROGUE_MAX_ORDERS:
        symbol, qty, price = orders[accepted % len(orders)]
        sent = time.monotonic()
        try:
            b.sim.place_order(slot.trader, symbol, "SELL", qty, price, f"r{run}{accepted}")
        except OrderRefused as exc:
            if exc.rate_limited:
                continue
            return accepted
        accepted += 1
        time.sleep(max(0.0, period - (time.monotonic() - sent)))
    raise RuntimeError(f"{slot.id}: {accepted} rogue orders accepted and the key still works")


def _first_ack(b: Batch, slot: Slot, since: int, latency_ms: int) -> float:
    """When the venue acknowledged the rogue's first order: its arrival in the journal plus
    the injected latency, which the sim waits out before processing."""
    endpoint = NEW_ORDER_ENDPOINT[b.sim.venue]
    first = next(e for e in b.sim.admin.journal(since=since)
                 if e["endpoint"] == endpoint and e["status"] == 200
                 and e["api_key"] == slot.trader.api_key)  # fmt: skip
    return float(first["mono"]) + latency_ms / 1000.0


def _buy_for_six_percent(b: Batch, slot: Slot) -> None:
    mid = Decimal(b.sim.admin.quotes()["BTCUSDT"]["mid"])
    qty = (Decimal(60_000) / mid).quantize(Decimal("0.001"))  # 10% of it is 6% of 100000
    b.sim.place_order(slot.trader, "BTCUSDT", "BUY", str(qty))


def _stamp(root: Path, slot: Slot) -> Path:
    return root / f"{slot.id}.reported"


def _reported_at(stamp: Path) -> float | None:
    """The bot's report call, once its stamp is whole (a line ending in a newline)."""
    text = stamp.read_text() if stamp.exists() else ""
    return float(text) if text.endswith("\n") else None


def _wait_for_reads(b: Batch, slot: Slot, since: int, reads: int = 2) -> None:
    """Until ``reads`` of the watchdog's account reads have arrived after ``since``: the
    position bought before is then in the read its marking starts from."""
    endpoint = ACCOUNT_READ[b.sim.venue]

    def seen() -> bool:
        key = slot.watchdog.api_key
        journal = b.sim.admin.journal(since=since)
        return (
            len([e for e in journal if e["endpoint"] == endpoint and e["api_key"] == key]) >= reads
        )

    wait_until(seen, 30, f"{slot.id}: the watchdog read the position")


def _trigger(b: Batch, slot: Slot, scenario: str) -> float | None:
    """Fire the scenario; returns the trigger's monotonic time (None: the bot stamps it)."""
    pid = b.bots[slot.id].pid
    if scenario == "sigkill":
        began: float | None = time.monotonic()
        os.kill(pid, signal.SIGKILL)
    elif scenario == "sigstop":
        began = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
    elif scenario == "telemetry":
        began = None  # the report call, stamped by the bot
        os.kill(pid, signal.SIGUSR1)
    else:
        seq = b.sim.admin.last_seq()
        b.sim.admin.price_jump("BTCUSDT", -10)
        jump = next(e for e in b.sim.admin.journal(since=seq) if e["endpoint"] == "price_jump")
        began = float(jump["mono"])
    return began


@dataclass(frozen=True)
class Kill:
    no_orders_ms: float
    key_refused_ms: float
    rogue_accepted: int  # 0 but in the rogue scenario


def _measure(
    b: Batch, slot: Slot, scenario: str, latency_ms: int, rogue_per_s: float
) -> Kill | None:
    """One kill; None when the trader was no longer ACTIVE before its run (machine load)."""
    pid = b.bots[slot.id].pid
    try:
        wait_until(lambda: b.status()[slot.id]["state"] == "ACTIVE", 10, f"{slot.id} ACTIVE")
    except NotReachedError:
        return None
    wait_until(lambda: b.status()[slot.id]["pid"] == pid, 30, f"{slot.id} pid watched")
    _pace_key_deletions(b)
    venue = CANCELS[b.sim.venue]
    if scenario != "rogue":
        _place_resting(b, slot)
    if scenario == "venue_only":
        bought = b.sim.admin.last_seq()
        _buy_for_six_percent(b, slot)
        _wait_for_reads(b, slot, bought)
    seq = b.sim.admin.last_seq()
    rogue_accepted = 0
    if scenario == "rogue":
        rogue_accepted = _flood(b, slot, rogue_per_s)
        triggered: float | None = _first_ack(b, slot, seq, latency_ms)
    else:
        triggered = _trigger(b, slot, scenario)
    cancels: list[float] = []
    deleted: list[float] = []

    def done() -> bool:
        nonlocal seq
        for e in b.sim.admin.journal(since=seq):
            seq = e["seq"]
            if (e["endpoint"] == venue.endpoint and e["status"] == 200
                    and e["api_key"] == slot.watchdog.api_key):  # fmt: skip
                cancels.append(float(e["mono"]))
            if e["endpoint"] == "key_deleted" and e["api_key"] == slot.trader.api_key:
                deleted.append(float(e["mono"]))
        return len(cancels) >= venue.first_round and bool(deleted)

    wait_until(done, 30, f"{scenario}: cancels and key deletion for {slot.id}")
    began = triggered
    if began is None:
        began = wait_until(lambda: _reported_at(_stamp(b.root, slot)), 10, "the report stamp")
    # The sim journals a request on arrival and applies injected latency before processing it:
    # the book is empty once the last cancel-all has waited out that latency.
    no_orders = sorted(cancels)[venue.first_round - 1] + latency_ms / 1000.0
    wait_until(lambda: b.sim.admin.open_orders(slot.account) == [], 30, "no open orders left")
    status = b.sim.admin.key_status(slot.trader.api_key)["status"]
    if status == "active":
        raise RuntimeError(f"{slot.id}: trader key still active after the kill")
    b.last_deletion = deleted[0]
    return Kill((no_orders - began) * 1000.0, (deleted[0] - began) * 1000.0, rogue_accepted)


def _pace_key_deletions(b: Batch) -> None:
    """OKX deletes at most one sub-account key a second per master: the batch's traders share
    one master, so a run waits out the previous run's second, or it would measure that wait."""
    pace = KEY_DELETION_PACE_S.get(b.sim.venue, 0.0)
    remaining = b.last_deletion + pace - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def _sweep_adapter(venue: str, sim: SimProcess, session: aiohttp.ClientSession) -> VenueAdapter:
    """The watchdog key's adapter on ``sim``, as the daemon builds it for ``venue``."""
    key = sim.watchdog_key
    credentials = Credentials(key.api_key, key.secret)
    if venue == "okx":
        return Okx(
            session, OkxEndpoint(sim.base_url), replace(credentials, passphrase=key.passphrase)
        )
    if venue == "bybit":
        return Bybit(session, BybitEndpoint(sim.base_url), credentials)  # the daemon's coins
    return BinanceFutures(session, VenueEndpoint(sim.base_url), credentials)


async def _timed_cancel(venue: str, sim: SimProcess) -> tuple[float, int]:
    """``cancel_everything`` on the watchdog's key: its time (ms) and its rounds."""
    async with open_session() as session:
        adapter = _sweep_adapter(venue, sim, session)
        await adapter.sync_time()
        if isinstance(adapter, Okx):
            # The daemon's reconciliation has read the contract values long before a kill.
            await adapter.contract_value(SYMBOLS[0])
        began = time.monotonic()
        report = await adapter.cancel_everything(SYMBOLS)
        return (time.monotonic() - began) * 1000.0, report.rounds


def cancel_sweep(venue: str, orders: int = SWEEP_ORDERS) -> dict[str, float | int]:
    """``orders`` resting on two symbols, then one ``cancel_everything`` with the watchdog's key:
    its time and the requests it took, counted in the sim's journal (the cost of a venue
    without an account-wide cancel-all, beside those with one)."""
    with tempfile.TemporaryDirectory(prefix="ks-") as name:
        sim = SimProcess.start(Path(name), SimConfig(
            book_ticker_hz=0, orders_per_10s=100_000, orders_per_minute=100_000,
            weight_per_minute=1_000_000, bybit_orders_per_s=100_000, bybit_ip_per_5s=1_000_000,
            okx_orders_per_2s=100_000,
        ), venue=venue)  # fmt: skip
        try:
            quotes = sim.admin.quotes()
            for i in range(orders):
                symbol, step = RESTING[i % len(RESTING)]
                price = (Decimal(quotes[symbol]["mid"]) * RESTING_ABOVE_MID).quantize(Decimal(1))
                qty = (RESTING_NOTIONAL / price).quantize(step, rounding=ROUND_UP)
                sim.place_order(sim.trader_key, symbol, "SELL", str(qty), str(price))
            seq = sim.admin.last_seq()
            took_ms, rounds = asyncio.run(_timed_cancel(venue, sim))
            mine = [e for e in sim.admin.journal(since=seq)
                    if e.get("api_key") == sim.watchdog_key.api_key]  # fmt: skip
            account = sim.account_of(sim.trader_key).name
            if sim.admin.open_orders(account):
                raise RuntimeError(f"{venue}: orders left after cancel_everything")
            return {
                "cancel_sweep_orders": orders,
                "cancel_sweep_ms": round(took_ms, 2),
                "cancel_sweep_rounds": rounds,
                "cancel_sweep_cancel_requests": sum(
                    1 for e in mine if e["endpoint"] == CANCELS[venue].endpoint
                ),
                "cancel_sweep_requests": len(mine),
            }
        finally:
            sim.stop()


def _stats(prefix: str, values: list[float]) -> dict[str, float]:
    return summary(values, prefix, "ms", digits=2)


def run(
    runs: int, batch_size: int, venue: str = "binance", rogue_per_s: float = ROGUE_PER_S
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "venue": venue,
        "runs_per_scenario": runs,
        "skipped_runs": 0,
        "rogue_orders_per_s": rogue_per_s,
    }
    for latency in LATENCIES_MS:
        for scenario in SCENARIOS:
            no_orders: list[float] = []
            refused: list[float] = []
            accepted: list[int] = []
            while len(no_orders) < runs:
                slots = _slots(min(batch_size, runs - len(no_orders)))
                heartbeat_kill_s = 0.8 if scenario == "sigstop" else 5.0
                key_misuse = scenario == "rogue"
                with batch(slots, latency, heartbeat_kill_s, venue, key_misuse) as b:
                    for slot in slots:
                        measured = _measure(b, slot, scenario, latency, rogue_per_s)
                        if measured is None:
                            out["skipped_runs"] += 1
                            if out["skipped_runs"] > runs:
                                raise RuntimeError("too many traders lost before their run")
                            continue
                        no_orders.append(measured.no_orders_ms)
                        refused.append(measured.key_refused_ms)
                        accepted.append(measured.rogue_accepted)
            name = scenario if latency == 0 else f"{scenario}_lat{latency}ms"
            out |= _stats(f"{name}_no_open_orders", no_orders)
            out |= _stats(f"{name}_key_refused", refused)
            if scenario == "rogue":
                out[f"{name}_orders_accepted_max"] = max(accepted)
    out |= cancel_sweep(venue)
    for goal, limit in GOALS_MS.items():
        out[f"goal_{goal}_ms"] = limit
    out["goal_rogue_orders_accepted_max"] = GOAL_ROGUE_ORDERS
    out["goals_met"] = out["rogue_orders_accepted_max"] <= GOAL_ROGUE_ORDERS and all(
        out[f"{goal}_ms"] <= limit for goal, limit in GOALS_MS.items()
    )
    return out


def run_all_venues(runs: int, batch_size: int, rogue_per_s: float) -> dict[str, Any]:
    """Every venue in one run, each one's keys prefixed with its name, so the cancel sweep's
    cost (``<venue>_cancel_sweep_*``) and the kill figures stand side by side."""
    out: dict[str, Any] = {"venue": "all", "runs_per_scenario": runs}
    for venue in CANCELS:
        figures = run(runs, batch_size, venue, rogue_per_s)
        out |= {f"{venue}_{key}": value for key, value in figures.items()
                if key not in ("venue", "runs_per_scenario")}  # fmt: skip
    out["goals_met"] = all(out[f"{venue}_goals_met"] for venue in CANCELS)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venue", choices=(*CANCELS, "all"), default="binance",
                        help="the sim's protocol, the adapter (all: each)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="5 runs per scenario")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=10, help="traders per watchdog process")
    parser.add_argument("--rogue-rate", type=float, default=ROGUE_PER_S,
                        help="rogue orders a second (0: as fast as the venue answers)")  # fmt: skip
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    if runs < 1 or args.batch < 1:
        parser.error("--runs and --batch must be >= 1")
    if not args.rogue_rate >= 0:
        parser.error("--rogue-rate must be >= 0")
    if args.venue == "all":
        print(json.dumps(run_all_venues(runs, args.batch, args.rogue_rate)))
    else:
        print(json.dumps(run(runs, args.batch, args.venue, args.rogue_rate)))


if __name__ == "__main__":
    main()
