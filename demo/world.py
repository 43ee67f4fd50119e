"""The running suite: exchange_sim, the watchdog and the trader as real processes, started
through their command lines, with every file in one temporary directory.

``World`` is a context manager: leaving it (normally, on an error or on Ctrl-C) stops every
process it started, in order (trader, watchdog, sim), and removes the directory unless kept.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from demo import configs
from demo.errors import DemoError, StartError
from demo.procs import Proc, wait_for, wait_ready_file
from demo.venue import BinanceClient, BybitClient, OkxClient, SimAdmin, signed_client
from harness.control import control_request, parse_metrics

BOT_SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "ccxt_bot.py"
START_WITHIN_S = 60.0  # generous: a first run on a busy machine imports everything cold


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    """Create with ``mode`` from the start: a key file is never readable by others."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


@dataclass(frozen=True)
class SimInfo:
    base_url: str
    ws_url: str
    admin_url: str


class World:
    def __init__(
        self, *, keep: bool = False, limits: str = configs.LIMITS, venue: str = "binance"
    ) -> None:
        # A short path: Unix socket names are limited to 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="ksdemo-"))
        self.keep = keep
        self.venue = venue  # the sim's protocol (exchange-sim --venue), spoken by every part
        self.limits = limits  # the limits file's text, for the watchdog and the trader
        self.keys = configs.world_keys()
        self.procs: dict[str, Proc] = {}
        self.sim: SimInfo | None = None
        self._admin: SimAdmin | None = None
        self.trader_metrics_port = 0
        self.journal_mark = 0  # the sim's journal sequence just before the failure

    # -- context -------------------------------------------------------------------------

    def __enter__(self) -> World:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for name in ("trader", "watchdog", "sim"):
            proc = self.procs.pop(name, None)
            if proc is not None:
                proc.stop()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- starting ------------------------------------------------------------------------

    def start_sim(self) -> SimInfo:
        config = _write(self.root / "sim.toml", configs.sim_toml(), 0o644)
        ready = self.root / "sim.ready"
        proc = self._spawn(
            "sim",
            ["-m", "exchange_sim", "--venue", self.venue, "--host", "127.0.0.1", "--port", "0",
             "--admin-port", "0", "--config", str(config), "--ready-file", str(ready)],
        )  # fmt: skip
        info = wait_ready_file(ready, proc, START_WITHIN_S)
        port, admin_port = int(info["port"]), int(info["admin_port"])
        self.sim = SimInfo(
            f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
        )
        self._admin = SimAdmin(self.sim.admin_url)
        return self.sim

    def write_credentials(self) -> None:
        """The trader's key for the trader; the watchdog's own two keys and the trader's key
        id (no secret) for the watchdog; one HMAC key both share for telemetry."""
        keys = self.keys
        venue = self.venue
        _write(self.root / "trader-venue.cred", configs.credentials_toml(keys.trader, venue))
        _write(self.root / "watchdog-account.cred", configs.credentials_toml(keys.watchdog, venue))
        _write(self.root / "watchdog-master.cred", configs.credentials_toml(keys.master, venue))
        trader_id = configs.credentials_toml(keys.trader, venue, with_secret=False)
        _write(self.root / "trader-key-id", trader_id)
        _write(self.root / "trader-hmac.key", secrets.token_hex(32))
        _write(self.root / "limits.toml", self.limits, 0o644)

    def start_watchdog(self) -> Proc:
        sim = self._require_sim()
        endpoints = configs.Endpoints(sim.base_url, sim.ws_url)
        text = configs.watchdog_toml(endpoints, self.keys, self.venue)
        config = _write(self.root / "watchdog.toml", text, 0o644)
        proc = self._spawn("watchdog", ["-m", "watchdog", "run", "--config", str(config)])

        def up() -> bool:
            # Up, not yet armed: armed needs the trader's process too (status `not_armed`).
            if not proc.alive():
                raise StartError(f"watchdog exited with {proc.popen.returncode} while starting")
            try:
                return "armed" in self.watchdog_status()
            except (OSError, http.client.HTTPException, ValueError):
                return False

        wait_for(up, START_WITHIN_S, "the watchdog to start")
        return proc

    def wait_armed(self) -> None:
        """Until the watchdog says every part of its kill chain works (its `armed`)."""
        missing: list[str] = []

        def armed() -> bool:
            status = self.watchdog_status()
            missing[:] = [f"{m['part']}: {m['reason']}" for m in status.get("not_armed", [])]
            return status.get("armed") is True

        try:
            wait_for(armed, START_WITHIN_S, "the watchdog to arm")
        except StartError as exc:
            raise StartError(f"{exc}; not armed: {'; '.join(missing)}") from None

    def start_trader(self) -> Proc:
        sim = self._require_sim()
        endpoints = configs.Endpoints(sim.base_url, sim.ws_url)
        text = configs.trader_toml(endpoints, str(self.root / "ingress.sock"), self.venue)
        config = _write(self.root / "trader.toml", text, 0o644)
        ready = self.root / "trader.ready"
        proc = self._spawn(
            "trader", ["-m", "trader", "run", "--config", str(config), "--ready-file", str(ready)]
        )
        # The watchdog finds the trader's process through this file when its session starts.
        _write(self.root / "trader.pid", f"{proc.pid}\n", 0o644)
        info = wait_ready_file(ready, proc, START_WITHIN_S)
        self.trader_metrics_port = int(info["metrics_port"])
        return proc

    def start_ccxt_bot(self, *options: str, python: str = sys.executable) -> Proc:
        """The example ccxt bot (examples/ccxt_bot.py, with its `options`), not the reference
        trader, in the trader's place: the same key, the same telemetry key, the same pid file.
        `python`: the interpreter (a bot's own environment, with only the client and ccxt)."""
        sim = self._require_sim()
        client = f'trader_id = "{configs.TRADER_ID}"\naddress = "{self.root / "ingress.sock"}"\n'
        _write(self.root / "client.toml", client + 'key_file = "trader-hmac.key"\n', 0o644)
        proc = self._spawn(
            "trader",
            [str(BOT_SCRIPT), "--client", "client.toml", "--credentials", "trader-venue.cred",
             "--venue", self.venue, "--base-url", sim.base_url,
             "--status", str(self.bot_status_path), *options],
            python,
        )  # fmt: skip
        _write(self.root / "trader.pid", f"{proc.pid}\n", 0o644)
        wait_for(lambda: self.bot_status().get("placed", 0) > 0, START_WITHIN_S, "a ccxt order")
        return proc

    @property
    def bot_status_path(self) -> Path:
        return self.root / "bot.json"

    def bot_status(self) -> dict[str, Any]:
        """What the ccxt bot last wrote: orders placed, refused, its client's state."""
        proc = self.procs.get("trader")
        if proc is not None and not proc.alive():
            raise StartError(f"the ccxt bot exited with {proc.popen.returncode}")
        try:
            value = json.loads(self.bot_status_path.read_text())
        except (OSError, ValueError):
            return {}
        return dict(value) if isinstance(value, dict) else {}

    def _spawn(self, name: str, args: list[str], python: str = sys.executable) -> Proc:
        proc = Proc(name, [python, *args], self.root / f"{name}.log", cwd=self.root)
        self.procs[name] = proc
        return proc

    def _require_sim(self) -> SimInfo:
        if self.sim is None:
            raise DemoError("the sim is not running")
        return self.sim

    # -- reading the parts ---------------------------------------------------------------

    @property
    def admin(self) -> SimAdmin:
        if self._admin is None:
            raise DemoError("the sim is not running")
        return self._admin

    def proc(self, name: str) -> Proc:
        return self.procs[name]

    def watchdog_status(self) -> dict[str, Any]:
        """``GET /status`` on the control socket (the live line polls this, not the CLI)."""
        value = control_request(self.root / "control.sock", "GET", "/status", timeout_s=5.0)
        if not isinstance(value, dict):
            raise ValueError("watchdog status is not a JSON object")
        return value

    def trader_status(self) -> dict[str, Any]:
        """This demo's one trader in the watchdog's status."""
        for trader in self.watchdog_status().get("traders", []):
            if trader.get("id") == configs.TRADER_ID:
                return dict(trader)
        raise DemoError(f"the watchdog does not report trader {configs.TRADER_ID!r}")

    def watchdog_cli(self, *args: str) -> list[Any]:
        """Run ``watchdog <args> --json --config ...`` (the operator's own command); its
        output is a stream of JSON documents (one per audit entry)."""
        argv = [sys.executable, "-m", "watchdog", *args, "--json",
                "--config", str(self.root / "watchdog.toml")]  # fmt: skip
        done = subprocess.run(  # noqa: S603 - argv built here, no shell
            argv, cwd=self.root, capture_output=True, text=True, timeout=60, check=False
        )
        answered = (0, 3) if args[0] == "status" else (0,)  # status: 3 = not all ACTIVE
        if done.returncode not in answered:
            raise DemoError(f"`watchdog {' '.join(args)}` failed: {done.stderr.strip()}")
        return parse_json_stream(done.stdout)

    def trader_metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.trader_metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            return parse_metrics(response.read().decode())

    def trader_client(self) -> BinanceClient | BybitClient | OkxClient:
        key = self.keys.trader
        base_url = self._require_sim().base_url
        return signed_client(self.venue, base_url, key.api_key, key.secret, key.passphrase)

    def open_orders(self) -> list[dict[str, Any]]:
        return self.admin.open_orders(configs.TRADER_ACCOUNT)


def parse_json_stream(text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    values: list[Any] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return values
        value, index = decoder.raw_decode(text, index)
        values.append(value)


def metric_sum(metrics: dict[str, float], name: str) -> float:
    """Sum of every labelled sample of ``name``."""
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))
