"""A whole trading stack of real processes for the chaos scenarios.

exchange_sim, fault proxies (TCP on the trader's REST and stream links, a datagram relay on its
telemetry link), the watchdog daemon with the venue side configured, and a trader (the real one,
`python -m trader run`, or the scripted bot for what no well-behaved trader does), all started
with generated configs and keys in a short scratch directory (Unix socket paths are limited to
108 bytes). The end state is read the way an operator would: from the venue (the sim's admin
API), from the watchdog's SQLite opened read-only, and from its control socket.

    with Stack.start(tmp_path, StackSpec()) as stack:
        stack.wait_trading()
        stack.proxy("stream").stall()
        ...

Timings go to `timings.jsonl` in the test's tmp_path and, when `KILLSWITCH_ARTIFACTS` names a
directory, to `chaos-timings.jsonl` there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pytest

from harness.configs import (
    BTCUSDT_QUOTE,
    ETHUSDT_QUOTE,
    VENUE_KIND,
    TraderConfig,
    WatchdogConfig,
    WatchedTrader,
    credentials_toml,
    venue_credentials_toml,
)
from harness.control import control_request, parse_metrics
from harness.procs import Child, start_module, wait_ready_file
from harness.sim import CANCEL_ALL_ENDPOINT, SimConfig, SimKey, SimProcess
from harness.wait import wait_until

TRADER = "alpha"
TRADER_ACCOUNT = "trader1"
HMAC_KEY_HEX = bytes(range(64, 104)).hex()
POLL_S = 0.02

# Tight enough that a scenario runs in seconds, loose enough for a loaded 2-core machine. One
# file for the watchdog and the real trader's own pre-trade engine (the same format).
LIMITS = """
profile = "standard"

[heartbeat]
interval_s = 0.05
warn_after_s = 0.6
halt_after_s = 1.0
kill_after_s = 2.0
cooldown_s = 0.3

[stale_data]
max_age_s = 1.5
cooldown_s = 0.3

[rejects]
max_consecutive = 5
max_ratio_pct = 50
window_s = 10.0
min_sample = 1000
cooldown_s = 1.0

[order_rate]
windows = [{{ seconds = 1.0, max_orders = 20 }}]
kill_after_s = 1.0
cooldown_s = 1.0

[position]
max_symbol_notional = {{ quote = 1000000 }}
max_gross_notional = {{ quote = 1000000 }}
max_net_notional = {{ quote = 1000000 }}
cooldown_s = 1.0

[drawdown]
soft = {{ pct = {dd_soft} }}
hard = {{ pct = {dd_hard} }}
cooldown_s = 1.0
"""
TEST_MOVES_POSITIONS = """
[key_misuse]
enabled = false

[order_size]
max_notional = { quote = 100000000 }
"""

# The real trader, tuned to the scenarios' clocks: it fails closed (silence_timeout_s) well
# before the watchdog's heartbeat halt and kill, and calls its feed stale (1 s of silence or
# event time) before the watchdog's stale-data halt (1.5 s). Quotes rest 5% from mid and are
# kept within 2000 ticks of their target: they neither fill nor churn the order-rate window.
REAL_TRADER = TraderConfig(
    base_url="",  # the sim's, or the proxies' in front of it: set at start
    ws_url="",
    watchdog_socket="",
    trader_id=TRADER,
    key_file="trader.hmac",
    credentials_file="trader-venue.cred",
    symbols=(replace(BTCUSDT_QUOTE, quote_qty="0.003"), ETHUSDT_QUOTE),
    request_timeout_s=1.0,
    reconcile_interval_s=0.5,
    shutdown_timeout_s=5.0,
    fast_connections=2,
    max_event_age_s=1.0,
    open_timeout_s=2.0,
    half_spread_bps=500.0,
    requote_ticks=2000,
    heartbeat_interval_s=0.05,
    silence_timeout_s=0.5,
    telemetry_interval_s=0.25,
)

# A scenario that touches the venue runs on Binance and Bybit: with the ``stack`` fixture
# (``BOTH_VENUES``), or as ``venue`` passed to ``StackSpec`` (``EACH_VENUE``). The
# representative ones run on OKX as well (``WITH_OKX``, ``EACH_VENUE_WITH_OKX``): each chaos
# module says which, and why the rest do not (CI time: an OKX run costs what the others do).
CHAOS_VENUES = ("binance", "bybit")
BOTH_VENUES = pytest.mark.parametrize("stack", CHAOS_VENUES, indirect=True)
EACH_VENUE = pytest.mark.parametrize("venue", CHAOS_VENUES)
WITH_OKX = pytest.mark.parametrize("stack", [*CHAOS_VENUES, "okx"], indirect=True)
EACH_VENUE_WITH_OKX = pytest.mark.parametrize("venue", [*CHAOS_VENUES, "okx"])

POSTURE_QUOTE = 0
WATCHDOG_KILLED = 4


@dataclass(frozen=True)
class StackSpec:
    """What a scenario changes about the stack."""

    # The venue's limits are per IP (and Bybit's order limit per account), and on loopback the
    # trader, the watchdog (its own reconciliation every 0.25 s) and the tests share them: five
    # hosts' worth of weight, and room for a flood the watchdog, not the venue, must stop.
    sim: SimConfig = field(
        default_factory=lambda: SimConfig(
            retry_after_s=1,
            weight_per_minute=5 * 2400,
            bybit_orders_per_s=1000,
            bybit_ip_per_5s=100_000,
            okx_orders_per_2s=2000,
        )
    )
    venue: str = "binance"  # the protocol the sim speaks and the trader and watchdog use
    stop_process: bool = True  # False: the trader is out of the watchdog's reach (a zombie)
    dms_countdown_ms: int = 10_000
    drawdown_soft_pct: float = 10.0
    drawdown_hard_pct: float = 15.0
    proxies: tuple[str, ...] = ()  # any of "rest", "stream", "telemetry"
    trade: bool = True  # False: heartbeats, equity and feed only
    reckless: bool = False  # scripted only: keeps placing orders after KILLED
    seed: int = 7
    # "real": `python -m trader run`; "scripted": tests.chaos.scenarios.bot, for behaviour no
    # well-behaved trader shows (a reckless zombie, telemetry whose session the test must know)
    trader: Literal["real", "scripted"] = "real"
    # True: the test itself moves the trader's position with the trader's key (a market order
    # the trader never reported), so key misuse and the per-order size limit, which would
    # rightly kill for that order, are turned off to leave the rule under test to judge.
    test_moves_positions: bool = False

    def with_(self, **changes: Any) -> StackSpec:
        return replace(self, **changes)


def record_timings(tmp_path: Path, scenario: str, **figures: float | int | str | None) -> None:
    """One JSON line per scenario: the figures it measured (seconds unless the key says)."""
    line = json.dumps({"scenario": scenario, "ts": time.time(), **figures}) + "\n"
    with (tmp_path / "timings.jsonl").open("a") as out:
        out.write(line)
    artifacts = os.environ.get("KILLSWITCH_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        with (Path(artifacts) / "chaos-timings.jsonl").open("a") as out:
            out.write(line)


# --- fault proxies as processes, steered synchronously --------------------------------------


@dataclass
class Proxy:
    child: Child
    address: str | tuple[str, int]
    control_port: int

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        with closing(socket.create_connection(("127.0.0.1", self.control_port), 10)) as sock:
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        answer: dict[str, Any] = json.loads(data)
        if not answer.get("ok"):
            raise AssertionError(f"fault proxy refused {request}: {answer}")
        return answer

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        return self.call({"op": "set_faults", "faults": faults})

    def stall(self) -> None:
        self.set_faults(stall_upstream=True, stall_downstream=True)

    def reset(self) -> None:
        self.call({"op": "reset"})

    def close(self) -> None:
        self.call({"op": "close"})

    def heal(self) -> None:
        self.call({"op": "heal"})

    def stats(self) -> dict[str, Any]:
        return self.call({"op": "stats"})

    @property
    def url_host(self) -> str:
        assert isinstance(self.address, tuple)
        return f"{self.address[0]}:{self.address[1]}"


def _start_proxy(root: Path, name: str, kind: str, upstream: str, seed: int) -> Proxy:
    ready = root / f"proxy-{name}.json"
    argv = [kind, "--upstream", upstream, "--seed", str(seed), "--ready-file", str(ready)]
    if kind == "unix":
        argv += ["--listen", str(root / f"{name}.sock")]
    log_path = root / f"proxy-{name}.log"
    child = start_module("tests.support.faultproxy", *argv, log_path=log_path, name=f"proxy-{name}")
    info = wait_ready_file(ready, child)
    address = info["address"]
    return Proxy(
        child, address if isinstance(address, str) else tuple(address), int(info["control_port"])
    )


# --- the real trader, watched through its Prometheus endpoint --------------------------------


def _summed(metrics: dict[str, float], name: str) -> float:
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


class TraderObserver(threading.Thread):
    """Scrapes the real trader's metrics every 20 ms and keeps what the scenarios ask of the
    scripted bot's status: posture changes with their CLOCK_MONOTONIC times, whether it ever
    heard KILLED, counters. A stopped trader answers nothing: the last view stands."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True, name="trader-observer")
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.view: dict[str, Any] | None = None
        self.pauses: list[float] = []
        self.resumes: list[float] = []
        self.heard_killed = False

    def scrape(self) -> dict[str, float] | None:
        try:
            with urllib.request.urlopen(self.url, timeout=0.5) as answer:
                return parse_metrics(answer.read().decode())
        except (OSError, ValueError):
            return None

    def run(self) -> None:
        while not self.halt.wait(POLL_S):
            metrics = self.scrape()
            if metrics is not None:
                self._update(metrics, time.monotonic())

    def _update(self, metrics: dict[str, float], now: float) -> None:
        quoting = metrics.get("trader_posture") == POSTURE_QUOTE
        with self.lock:
            was = None if self.view is None else self.view["trading"]
            if was is True and not quoting:
                self.pauses.append(now)
            elif was is not True and quoting:
                self.resumes.append(now)
            state = int(metrics.get("trader_watchdog_state", -1))
            self.heard_killed = self.heard_killed or state == WATCHDOG_KILLED
            self.view = {
                "trading": quoting,
                "watchdog_state": state,
                "heard_killed": self.heard_killed,
                "feed_connects": int(metrics.get("trader_feed_connects_total", 0)),
                "placed": int(_summed(metrics, "trader_orders_total")),
                "refused": int(_summed(metrics, "trader_order_rejects_total")),
                "pauses": list(self.pauses),
                "resumes": list(self.resumes),
            }

    def status(self) -> dict[str, Any] | None:
        with self.lock:
            return None if self.view is None else dict(self.view)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=5)


# --- the control socket -------------------------------------------------------------------


def _write_secret(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def _secret_file(key: SimKey, venue: str) -> str:
    return venue_credentials_toml(venue, key.api_key, key.secret, key.passphrase)


class Stack:
    """Every process of one scenario; `close()` stops them all and keeps their logs."""

    def __init__(self, tmp_path: Path, spec: StackSpec) -> None:
        self.tmp_path = tmp_path
        self.spec = spec
        self.root = Path(tempfile.mkdtemp(prefix="ks-"))
        self.sim: SimProcess | None = None
        self.proxies: dict[str, Proxy] = {}
        self.watchdog: Child | None = None
        self.trader: Child | None = None
        self.observer: TraderObserver | None = None
        self.children: list[Child] = []

    @classmethod
    def start(cls, tmp_path: Path, spec: StackSpec | None = None) -> Stack:
        stack = cls(tmp_path, spec or StackSpec())
        try:
            stack._start()
        except BaseException:
            stack.close()
            raise
        return stack

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        spec, root = self.spec, self.root
        self.sim = sim = SimProcess.start(root, spec.sim, venue=spec.venue)
        upstream = f"127.0.0.1:{sim.port}"
        for n, name in enumerate(p for p in spec.proxies if p in ("rest", "stream")):
            self.proxies[name] = _start_proxy(root, name, "tcp", upstream, spec.seed + n)
        _write_secret(root / "trader.hmac", HMAC_KEY_HEX)
        _write_secret(root / "watchdog-account.cred", _secret_file(sim.watchdog_key, spec.venue))
        _write_secret(root / "watchdog-master.cred", _secret_file(sim.master_key, spec.venue))
        _write_secret(root / "trader-key-id", credentials_toml(sim.trader_key.api_key))
        _write_secret(root / "trader.cred", _secret_file(sim.trader_key, spec.venue))
        limits = LIMITS.format(dd_soft=spec.drawdown_soft_pct, dd_hard=spec.drawdown_hard_pct)
        if spec.test_moves_positions:
            limits += TEST_MOVES_POSITIONS
        (root / "limits.toml").write_text(limits)
        # Binance's countdown is the spec's; Bybit's DCP keeps the link's window (whole seconds).
        venue = sim.venue_link(
            TRADER_ACCOUNT, dms_countdown_ms=spec.dms_countdown_ms, request_timeout_s=1.0
        )
        trader = WatchedTrader(
            id=TRADER,
            hmac_key_file="trader.hmac",
            limits_file="limits.toml",
            # Relayed telemetry arrives from the relay's pid: nothing can tie the trader's
            # process to it (as for a trader on another host), so none is configured.
            pidfile=None if "telemetry" in spec.proxies else "trader.pid",
            credential_file="trader.cred",
            stop_process=spec.stop_process,
            stop_grace_s=0.5,
            venue=venue,
        )
        config = WatchdogConfig(traders=(trader,)).to_toml()
        (root / "watchdog.toml").write_text(config)
        self.start_watchdog()
        if "telemetry" in spec.proxies:
            ingress = str(root / "ingress.sock")
            self.proxies["telemetry"] = _start_proxy(root, "telemetry", "unix", ingress, spec.seed)
        self.start_trader()

    # -- processes ---------------------------------------------------------------------------

    def start_watchdog(self) -> Child:
        config = str(self.root / "watchdog.toml")
        child = start_module(
            "watchdog", "run", "--config", config, log_path=self.root / "watchdog.log"
        )
        self.children.append(child)
        self.watchdog = child

        def armed() -> bool:
            if not child.alive():
                raise AssertionError(f"watchdog exited:\n{child.log_tail()}")
            try:
                self.status()
            except OSError:
                return False
            return True

        wait_until(armed, within=30, what="watchdog armed")
        return child

    def start_trader(self) -> Child:
        (self.root / "trader.pid").unlink(missing_ok=True)
        if self.observer is not None:
            self.observer.stop()
            self.observer = None
        if self.spec.trader == "scripted":
            child = self._start_scripted_trader()
        else:
            child = self._start_real_trader()
        if "telemetry" not in self.spec.proxies:
            wait_until(lambda: self.trader_status()["pid"] == child.pid, what="trader pid tied")
        return child

    def _start_real_trader(self) -> Child:
        root = self.root
        assert self.sim is not None
        rest = self.proxies.get("rest")
        stream = self.proxies.get("stream")
        telemetry = self.proxies.get("telemetry")
        _write_secret(
            root / "trader-venue.cred", _secret_file(self.sim.trader_key, self.spec.venue)
        )
        config = REAL_TRADER.with_(
            venue_kind=VENUE_KIND[self.spec.venue],
            # New orders take the fast path's own connections to this same base URL: through
            # the REST proxy as well when there is one.
            base_url=f"http://{rest.url_host}" if rest else self.sim.base_url,
            ws_url=f"ws://{stream.url_host}" if stream else self.sim.ws_url,
            watchdog_socket=telemetry.address if telemetry else str(root / "ingress.sock"),
        ).to_toml()
        (root / "trader.toml").write_text(config)
        ready = root / "trader-ready.json"
        ready.unlink(missing_ok=True)
        args = ("run", "--config", str(root / "trader.toml"), "--ready-file", str(ready))
        child = start_module("trader", *args, log_path=root / "trader.log")
        self.children.append(child)
        self.trader = child
        (root / "trader.pid").write_text(f"{child.pid}\n")
        info = wait_ready_file(ready, child, 30.0)
        self.observer = TraderObserver(int(info["metrics_port"]))
        self.observer.start()
        wait_until(lambda: self.bot() is not None or not child.alive(), what="trader metrics")
        assert child.alive(), child.log_tail()
        return child

    def _start_scripted_trader(self) -> Child:
        spec, root = self.spec, self.root
        (root / "bot-status.json").unlink(missing_ok=True)
        assert self.sim is not None
        rest = self.proxies.get("rest")
        stream = self.proxies.get("stream")
        telemetry = self.proxies.get("telemetry")
        config = {
            "trader_id": TRADER,
            "hmac_key_file": str(root / "trader.hmac"),
            "watchdog": telemetry.address if telemetry else str(root / "ingress.sock"),
            "rest_url": f"http://{rest.url_host}" if rest else self.sim.base_url,
            "ws_url": f"ws://{stream.url_host}" if stream else self.sim.ws_url,
            "credentials_file": str(root / "trader-venue.cred"),
            "status_file": str(root / "bot-status.json"),
            "trade": spec.trade,
            "reckless": spec.reckless,
        }
        _write_secret(
            root / "trader-venue.cred", _secret_file(self.sim.trader_key, self.spec.venue)
        )
        (root / "bot.json").write_text(json.dumps(config))
        args = ("--config", str(root / "bot.json"))
        child = start_module(
            "tests.chaos.scenarios.bot", *args, log_path=root / "trader.log", name="trader"
        )
        self.children.append(child)
        self.trader = child
        (root / "trader.pid").write_text(f"{child.pid}\n")
        wait_until(lambda: self.bot() is not None or not child.alive(), what="trader up")
        assert child.alive(), child.log_tail()
        return child

    def proxy(self, name: str) -> Proxy:
        return self.proxies[name]

    def close(self) -> None:
        if self.observer is not None:
            self.observer.stop()
        for child in reversed(self.children):
            if child.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGCONT)  # a stopped child cannot act on SIGTERM
            child.stop(timeout_s=5)
        for proxy in self.proxies.values():
            proxy.child.stop(timeout_s=5)
        if self.sim is not None:
            self.sim.stop()
        keep = self.tmp_path / "stack"
        shutil.copytree(
            self.root,
            keep,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("*.sock", "*.cred", "*.hmac", "trader-key-id"),
        )
        shutil.rmtree(self.root, ignore_errors=True)

    # -- the watchdog: control socket and its SQLite, read-only --------------------------------

    def request(self, method: str, path: str, body: Any = None) -> Any:
        return control_request(self.root / "control.sock", method, path, body)

    def status(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("GET", "/status")
        return answer

    def trader_status(self) -> dict[str, Any]:
        return dict(self.status()["traders"][0])

    def state(self) -> str:
        return str(self.trader_status()["state"])

    def db(self) -> sqlite3.Connection:
        path = self.root / "state" / "watchdog.sqlite3"
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        db.row_factory = sqlite3.Row
        return db

    def latch(self) -> tuple[bool, str]:
        with closing(self.db()) as db:
            row = db.execute(
                "SELECT latched, latch_reason FROM traders WHERE trader = ?", (TRADER,)
            ).fetchone()
        return (False, "") if row is None else (bool(row["latched"]), str(row["latch_reason"]))

    def audit(self, kind: str | None = None) -> list[dict[str, Any]]:
        with closing(self.db()) as db:
            rows = db.execute("SELECT ts, kind, detail FROM audit ORDER BY id").fetchall()
        return [
            {"ts": r["ts"], "kind": r["kind"], "detail": json.loads(r["detail"])}
            for r in rows
            if kind is None or r["kind"] == kind
        ]

    def kills(self) -> list[dict[str, Any]]:
        with closing(self.db()) as db:
            kills = [dict(r) for r in db.execute("SELECT * FROM kills ORDER BY started_ts")]
            for kill in kills:
                steps = db.execute(
                    "SELECT step, status, attempts FROM kill_steps WHERE kill_id = ?",
                    (kill["kill_id"],),
                ).fetchall()
                kill["steps"] = {s["step"]: s["status"] for s in steps}
                kill["attempts"] = {s["step"]: s["attempts"] for s in steps}
        return kills

    def kill_finished(self) -> bool:
        kills = self.kills()
        return bool(kills) and kills[-1]["finished_ts"] is not None

    # -- the trader -------------------------------------------------------------------------

    def bot(self) -> dict[str, Any] | None:
        """The trader's own view: the real trader's metrics as last scraped, or the scripted
        bot's status file."""
        if self.spec.trader == "real":
            return None if self.observer is None else self.observer.status()
        try:
            data: dict[str, Any] = json.loads((self.root / "bot-status.json").read_text())
        except (OSError, ValueError):
            return None
        return data

    def bot_status(self) -> dict[str, Any]:
        status = self.bot()
        assert status is not None, "the trader wrote no status"
        return status

    def wait_trading(self, within: float = 30.0) -> float:
        """Until the trader rests its orders at the venue; returns the monotonic time."""
        wanted = 2 * 2  # two orders per symbol (the real trader: a bid and an ask) x symbols
        wait_until(
            lambda: self.bot_status()["trading"] and len(self.open_orders()) >= wanted,
            within=within,
            what="trader trading with its orders resting",
        )
        return time.monotonic()

    # -- the venue (the sim's admin API) ------------------------------------------------------

    @property
    def venue(self) -> SimProcess:
        assert self.sim is not None
        return self.sim

    def open_orders(self) -> list[dict[str, Any]]:
        return self.venue.admin.open_orders(TRADER_ACCOUNT)

    def key_refused(self) -> bool:
        status = self.venue.admin.key_status(self.venue.trader_key.api_key)
        return bool(status["status"] != "active")

    def journal(self, since: int = 0) -> list[dict[str, Any]]:
        return self.venue.admin.journal(since=since, limit=100_000)

    # -- end states -------------------------------------------------------------------------

    def wait_killed_clean(self, within: float = 60.0) -> dict[str, Any]:
        """KILLED, the kill verified, and the venue agrees: no open order, the key refused."""
        wait_until(lambda: self.state() == "KILLED", within=within, what="KILLED")
        wait_until(self.kill_finished, within=within, what="kill pipeline verified")
        kill = self.kills()[-1]
        assert set(kill["steps"].values()) == {"verified"}, kill
        for step in ("venue_cancel_all", "venue_sweep", "venue_revoke_key"):
            assert step in kill["steps"], kill
        assert self.open_orders() == []
        assert self.key_refused()
        latched, reason = self.latch()
        assert latched, "the latch is not in SQLite"
        assert reason
        kinds = {e["kind"] for e in self.audit()}
        assert {"kill_started", "kill_step_verified", "kill_finished"} <= kinds, kinds
        return kill

    def assert_no_kill(self) -> None:
        assert self.kills() == []
        assert self.latch() == (False, "") or not self.latch()[0]
        assert not self.key_refused()
        assert self.audit("kill_started") == []

    def first_journal(
        self, predicate: Callable[[dict[str, Any]], bool], since: int = 0
    ) -> dict[str, Any] | None:
        return next((e for e in self.journal(since) if predicate(e)), None)


def is_cancel_all(entry: dict[str, Any]) -> bool:
    """A cancel-all in the journal of a sim speaking either venue's protocol."""
    return entry.get("endpoint") in CANCEL_ALL_ENDPOINT.values()


def is_key_deleted(entry: dict[str, Any]) -> bool:
    return entry.get("endpoint") == "key_deleted"


def stack(tmp_path: Path, spec: StackSpec | None = None) -> Iterator[Stack]:
    with Stack.start(tmp_path, spec) as s:
        yield s
