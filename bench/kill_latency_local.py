"""Benchmark: how fast the watchdog starts a kill, with real processes on this host.

(a) breach: an authenticated datagram reporting a 10% loss arrives -> latch durable and kill
    actions launched. Measured inside the daemon (batch received -> launched) and end to end
    (the bench's stamp just before `send` -> launched).
(b) SIGKILL: the bench kills a trader process (tied to its trader by one datagram it sent)
    -> the daemon's pidfd fires -> launched.
(c) SIGSTOP: a heartbeating bot is stopped -> the heartbeat deadline fires -> launched; the
    excess is the time past (last heartbeat received + kill_after_s).

Every figure is a difference of CLOCK_MONOTONIC stamps (system-wide on Linux): the daemon's
come from its status API. The state dir is on the working directory's file system, so the
latch write includes a real fsync. Run: `python -m bench.kill_latency_local [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from killswitch_client.protocol import (
    AccountSnapshot,
    Heartbeat,
    encode_event,
    encode_telemetry,
    new_session_id,
)

from bench._stats import percentile
from bench._tied import tied_sleeper
from harness.configs import HeartbeatLimits, WatchdogConfig, WatchedTrader
from harness.procs import REPO
from harness.wait import wait_until
from harness.watchdog_world import Workspace

KILL_AFTER_S = 0.5


def _config(traders: list[str], *, pidfiles: bool, kill_after_s: float) -> str:
    heartbeat = HeartbeatLimits(0.05, kill_after_s * 0.4, kill_after_s * 0.6, kill_after_s)
    return WatchdogConfig(
        traders=tuple(
            WatchedTrader(
                id=name,
                hmac_key_file="alpha.key",
                pidfile=f"{name}.pid" if pidfiles else None,
                heartbeat=heartbeat,
                rules={"bad_data": {"max_past_s": max(120.0, kill_after_s)}},
            )
            for name in traders
        ),
        log_level="warning",
        shutdown_timeout_s=None,
        metrics=False,
        backoff_initial_s=None,
        backoff_max_s=None,
    ).to_toml()


def _timings(space: Workspace) -> dict[str, dict[str, Any]]:
    status = space.request("GET", "/status")
    return {t["id"]: t for t in status["traders"]}


def _all_active(space: Workspace) -> bool:
    return all(t["state"] == "ACTIVE" for t in _timings(space).values())


def _kill_timing(space: Workspace, trader: str) -> dict[str, Any]:
    """Poll one trader's status gently: the daemon's loop is what is being measured."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        (status,) = space.request("GET", f"/status?trader={trader}")["traders"]
        if status["kill_timing"]:
            return dict(status)
        time.sleep(0.05)
    raise AssertionError(f"{trader}: no kill within 30 s")


def _stats(values: list[float], unit: str, prefix: str) -> dict[str, float]:
    ordered = sorted(values)
    p99 = percentile(ordered, 0.99)
    return {
        f"{prefix}_p50_{unit}": round(percentile(ordered, 0.50), 1),
        f"{prefix}_p99_{unit}": round(p99, 1),
        f"{prefix}_max_{unit}": round(ordered[-1], 1),
    }


def _datagram(key: bytes, trader: str, session: bytes, seq: int, equity: float) -> bytes:
    now = time.time()
    events = [
        encode_event(Heartbeat(ts=now)),
        encode_event(
            AccountSnapshot(
                ts=now, equity=equity, realized_pnl=0.0, unrealized_pnl=equity - 10_000.0
            )
        ),
    ]
    return encode_telemetry(key, trader, session, seq, now, events)


def bench_breach(root: Path, samples: int, raw: dict[str, list[float]]) -> dict[str, float]:
    traders = [f"b{i}" for i in range(samples)]
    space = Workspace(root, _config(traders, pidfiles=False, kill_after_s=600.0))
    key = bytes.fromhex((root / "alpha.key").read_text())
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.bind("")
    try:
        space.start_watchdog()
        sender.connect(str(space.ingress))
        sessions = {t: new_session_id(time.time_ns(), secrets.token_bytes(8)) for t in traders}
        for trader in traders:
            sender.send(_datagram(key, trader, sessions[trader], 1, 10_000.0))
        wait_until(
            lambda: all(t["state"] == "ACTIVE" for t in _timings(space).values()), what="all ACTIVE"
        )
        decided, latched, end_to_end = [], [], []
        for trader in traders:
            data = _datagram(key, trader, sessions[trader], 2, 9_000.0)
            sent = time.monotonic()
            sender.send(data)
            timing = _kill_timing(space, trader)["kill_timing"]
            decided.append((timing["decided_monotonic"] - timing["trigger_monotonic"]) * 1e6)
            latched.append((timing["latched_monotonic"] - timing["trigger_monotonic"]) * 1e6)
            end_to_end.append((timing["latched_monotonic"] - sent) * 1e6)
        raw["breach_to_pipeline_start"] = [round(v / 1e3, 4) for v in decided]
        raw["breach_to_actions_launched"] = [round(v / 1e3, 4) for v in latched]
        return {
            **_stats(decided, "us", "breach_to_pipeline_start"),
            **_stats(latched, "us", "breach_to_latch_fsynced_actions_launched"),
            **_stats(end_to_end, "us", "breach_send_to_actions_launched"),
        }
    finally:
        sender.close()
        space.cleanup()


def bench_sigkill(root: Path, samples: int, raw: dict[str, list[float]]) -> dict[str, float]:
    traders = [f"k{i}" for i in range(samples)]
    space = Workspace(root, _config(traders, pidfiles=True, kill_after_s=600.0))
    key = bytes.fromhex((root / "alpha.key").read_text())
    sleepers = {}
    try:
        space.start_watchdog()
        for trader in traders:
            sleeper = tied_sleeper(root / f"{trader}.pid", space.ingress, key, trader)
            sleepers[trader] = sleeper
            space.processes.append(sleeper)
        wait_until(lambda: all(t["pid"] for t in _timings(space).values()), what="pids watched")
        started, launched = [], []
        for trader, sleeper in sleepers.items():
            killed = time.monotonic()
            os.kill(sleeper.pid, signal.SIGKILL)
            timing = _kill_timing(space, trader)["kill_timing"]
            sleeper.wait()
            started.append((timing["decided_monotonic"] - killed) * 1e3)
            launched.append((timing["latched_monotonic"] - killed) * 1e3)
        raw["sigkill_to_pipeline_start"] = [round(v, 4) for v in started]
        raw["sigkill_to_actions_launched"] = [round(v, 4) for v in launched]
        return {
            **_stats(started, "ms", "sigkill_to_pipeline_start"),
            **_stats(launched, "ms", "sigkill_to_actions_launched"),
        }
    finally:
        space.cleanup()


def bench_sigstop(
    root: Path, rounds: int, per_round: int, raw: dict[str, list[float]]
) -> dict[str, float]:
    excess = []
    for round_ in range(rounds):
        traders = [f"s{round_}x{i}" for i in range(per_round)]
        (root / f"r{round_}").mkdir()
        space = Workspace(
            root / f"r{round_}", _config(traders, pidfiles=False, kill_after_s=KILL_AFTER_S)
        )
        try:
            # Bots first (they retry until the socket exists): the deadline is short.
            bots = [_start_bot(space, trader) for trader in traders]
            space.start_watchdog()
            wait_until(partial(_all_active, space), what="bots ACTIVE")
            for bot in bots:
                # One hang at a time (apart by more than the timer chain's audit writes), as
                # in production; simultaneous hangs queue behind each other's latch fsync.
                os.kill(bot.pid, signal.SIGSTOP)
                time.sleep(0.15)
            for trader in traders:
                status = _kill_timing(space, trader)
                last = status["last_heartbeat_monotonic"]
                latched = status["kill_timing"]["decided_monotonic"]
                excess.append((latched - last - KILL_AFTER_S) * 1e3)
        finally:
            space.cleanup()
    raw["sigstop_excess"] = [round(v, 4) for v in excess]
    return {"heartbeat_timeout_ms": KILL_AFTER_S * 1e3, **_stats(excess, "ms", "sigstop_excess")}


def _start_bot(space: Workspace, trader: str) -> subprocess.Popen[bytes]:
    pidfile = space.root / f"{trader}.pid"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.trader_bot",
            "--trader",
            trader,
            "--key-file",
            str(space.root / "alpha.key"),
            "--socket",
            str(space.ingress),
            "--pidfile",
            str(pidfile),
            "--equity",
            "10000",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    space.processes.append(process)
    wait_until(pidfile.exists, what=f"{trader} started")
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    samples = 20 if args.quick else 200
    rounds, per_round = (1, 4) if args.quick else (10, 4)
    # On the working directory's file system (not a tmpfs): the latch fsync is real.
    with tempfile.TemporaryDirectory(prefix=".bench-kill-", dir=Path.cwd()) as tmp:
        root = Path(tmp)
        (root / "a").mkdir()
        (root / "b").mkdir()
        (root / "c").mkdir()
        raw: dict[str, list[float]] = {}  # every sample in ms, for the report's distributions
        result: dict[str, object] = {"samples": samples}
        result.update(bench_breach(root / "a", samples, raw))
        result.update(bench_sigkill(root / "b", samples, raw))
        result.update(bench_sigstop(root / "c", rounds, per_round, raw))
        result["sigstop_samples"] = rounds * per_round
        result["samples_ms"] = raw
    print(json.dumps(result))


if __name__ == "__main__":
    main()
