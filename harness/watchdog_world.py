"""A watchdog daemon with minimal trader bots on a Unix socket, and its control API: the world of
the watchdog's integration tests and of the local kill-latency, polling and scale benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.configs import HeartbeatLimits, WatchdogConfig, WatchedTrader
from harness.control import control_request
from harness.procs import REPO
from harness.wait import wait_until

KEY = bytes(range(32, 72)).hex()

# The bot's trader: its pid watched, its credential file revoked on a kill, and heartbeat
# deadlines short enough that a test sees each escalation within seconds.
ALPHA = WatchedTrader(
    id="alpha",
    hmac_key_file="alpha.key",
    pidfile="alpha.pid",
    credential_file="alpha.credential",
    stop_grace_s=0.5,
    heartbeat=HeartbeatLimits(
        interval_s=0.05, warn_after_s=0.4, halt_after_s=0.8, kill_after_s=1.5
    ),
)
WORLD = WatchdogConfig(traders=(ALPHA,), log_level="debug")
CONFIG = WORLD.to_toml()
# The same trader as a bot that cannot be changed: it sends nothing, and its pid file's pid is
# tied by this text in its command line (`Workspace.start_silent_bot`). It needs a venue table.
SILENT_MARK = "killswitch-silent-bot"
SILENT = WORLD.with_(
    traders=(replace(ALPHA, hmac_key_file=None, telemetry="none", cmdline=SILENT_MARK),)
)
SILENT_CONFIG = SILENT.to_toml()


class Workspace:
    """One directory holding a config, keys, a credential file and the state dir."""

    def __init__(self, root: Path, config: str = CONFIG) -> None:
        self.root = root
        (root / "alpha.key").write_text(KEY)
        (root / "alpha.key").chmod(0o600)
        self.credential = root / "alpha.credential"
        self.credential.write_text("api-key=trader-secret\n")
        self.config = root / "watchdog.toml"
        self.config.write_text(config)
        self.control = root / "control.sock"
        self.ingress = root / "ingress.sock"
        self.pidfile = root / "alpha.pid"
        self.gate = root / "gate"
        self.processes: list[subprocess.Popen[bytes]] = []

    # -- processes -----------------------------------------------------------------------

    def _spawn(
        self, args: Sequence[str], env: dict[str, str] | None = None, log: str = "proc"
    ) -> subprocess.Popen[bytes]:
        out = open(self.root / f"{log}.log", "ab")  # noqa: SIM115 - lives as long as the process
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO,
            stdout=out,
            stderr=out,
            env={**os.environ, **(env or {})},
        )
        out.close()
        self.processes.append(process)
        return process

    def start_watchdog(
        self, *, gated: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        if gated:
            args = [
                "-m",
                "harness.gated_watchdog",
                "--config",
                str(self.config),
                "--gate",
                str(self.gate),
            ]
        else:
            args = ["-m", "watchdog", "run", "--config", str(self.config)]
        process = self._spawn(args, env, log="watchdog")
        wait_until(lambda: process.poll() is not None or self._answers(), what="watchdog armed")
        assert process.poll() is None, self.log("watchdog")
        return process

    def start_trader(
        self,
        *,
        equity: float | None = 10_000.0,
        socket: str | None = None,
        orders: int = 0,
        trader: str = "alpha",
    ) -> subprocess.Popen[bytes]:
        """A trader bot sending to the ingress (or to `socket`, e.g. a relay in between), as
        ``trader`` (its key ``<trader>.key`` and pid file ``<trader>.pid`` in the workspace)."""
        args = self._bot_args("harness.trader_bot", trader, socket or str(self.ingress))
        if equity is not None:
            args += ["--equity", str(equity)]
        if orders:
            args += ["--orders", str(orders)]
        return self._start_bot(args, trader)

    def start_nautilus_bot(self, journal: Path, *options: str) -> subprocess.Popen[bytes]:
        """A NautilusTrader node (`harness.nautilus_bot` with `options`: `--live ...` for a
        live node on exchange_sim) as trader alpha, trading on every quote and writing what
        its node did to ``journal``."""
        args = self._bot_args("harness.nautilus_bot", "alpha", str(self.ingress))
        return self._start_bot([*args, "--journal", str(journal), *options], "alpha")

    def _bot_args(self, module: str, trader: str, socket: str) -> list[str]:
        return [
            *("-m", module, "--trader", trader),
            *("--key-file", str(self.root / f"{trader}.key"), "--socket", socket),
            *("--pidfile", str(self.root / f"{trader}.pid")),
        ]

    def _start_bot(self, args: list[str], trader: str) -> subprocess.Popen[bytes]:
        """Start a bot and wait for its pid file (the watchdog ties the trader by it)."""
        pidfile = self.root / f"{trader}.pid"
        pidfile.unlink(missing_ok=True)
        process = self._spawn(args, log="trader" if trader == "alpha" else f"trader-{trader}")
        wait_until(pidfile.exists, what=f"{trader} pid file")
        return process

    def start_silent_bot(self) -> subprocess.Popen[bytes]:
        """A process that sends no telemetry (its orders are placed with its key from outside),
        named by the pid file with `SILENT_MARK` in its command line."""
        self.pidfile.unlink(missing_ok=True)
        script = "import time\nwhile True:\n    time.sleep(3600)"
        process = self._spawn(["-c", script, SILENT_MARK], log="silent-bot")
        self.pidfile.write_text(f"{process.pid}\n")
        return process

    def cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "watchdog", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, **(env or {})},
        )

    def rearm(self, reason: str) -> subprocess.CompletedProcess[str]:
        """`watchdog rearm` of trader alpha through the control socket, by operator ops."""
        return self.cli(
            *("rearm", "--socket", str(self.control), "--trader", "alpha"),
            *("--reason", reason, "--operator", "ops"),
        )

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with_signal(process, signal.SIGCONT)
                with_signal(process, signal.SIGKILL)
            process.wait(timeout=30)

    # -- control API -----------------------------------------------------------------------

    def _answers(self) -> bool:
        try:
            self.request("GET", "/status")
        except OSError:
            return False
        return True

    def request(self, method: str, path: str, body: Any = None) -> Any:
        return control_request(self.control, method, path, body)

    def trader(self, trader: str | None = None) -> dict[str, Any]:
        """The status of ``trader`` (by id), or of the first one."""
        traders = self.request("GET", "/status")["traders"]
        return dict(next(t for t in traders if trader in (None, t["id"])))

    def state(self, trader: str | None = None) -> str:
        return str(self.trader(trader)["state"])

    def audit(self, kind: str | None = None) -> list[dict[str, Any]]:
        entries = self.request("GET", "/audit?since=0")["entries"]
        return [e for e in entries if kind is None or e["kind"] == kind]

    def kill_finished(self) -> bool:
        kill = self.trader()["kill"]
        return kill is not None and bool(kill["finished"])

    def credential_revoked(self) -> bool:
        return self.credential.read_bytes().startswith(b"REVOKED")


def metric(port: int, name: str) -> dict[str, float]:
    """Every sample of one metric family from the watchdog's endpoint, by its label text (the
    bare name for a sample without labels)."""
    url = f"http://127.0.0.1:{port}/metrics"
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    values: dict[str, float] = {}
    for line in body.splitlines():
        if line.startswith((name + "{", name + " ")):
            labels, value = line.rsplit(" ", 1)
            values[labels] = float(value)
    return values


def with_signal(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signum)
