"""Baseline: an event-driven kill switch against one that polls every second.

The same trigger for both: a trader process is SIGKILLed. Time from `kill()` to the moment
the kill switch knows (and would start its kill):

(a) `watchdog_pidfd`: the real watchdog daemon watching the trader's pid through a pidfd; the
    daemon stamps "kill pipeline entered" (CLOCK_MONOTONIC, served in `/status` as
    `kill_timing.decided_monotonic`), as in `bench.kill_latency_local`;
(b) `poll_1s`: a kill switch in its own process that, like the in-process kill switches
    trading bots ship with, checks every second whether the trader is alive (psutil: the pid
    exists and is not a zombie) and stamps the moment it notices.

Kills are spaced by random gaps so that they land at every phase of the poller's second.
CLOCK_MONOTONIC is system-wide on Linux, so stamps taken in different processes compare.
Run: `python -m bench.poll_baseline [--quick] [--runs N]`; prints one JSON object with both
distributions (`samples_ms`) and the ratio of their medians.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import IO, Any

import psutil

from bench._stats import summary
from bench._tied import tied_sleeper
from harness.configs import HeartbeatLimits, WatchdogConfig, WatchedTrader
from harness.procs import REPO
from harness.wait import wait_until
from harness.watchdog_world import Workspace

POLL_INTERVAL_S = 1.0
GAP_S = (0.15, 0.45)  # between kills: random, so kills fall at every phase of the poll


def _config(names: list[str]) -> str:
    """No venue and heartbeat deadlines far out: only a death (the pid gone) kills here."""
    trader = WatchedTrader(
        id="",
        hmac_key_file="alpha.key",
        stop_grace_s=0.5,
        heartbeat=HeartbeatLimits(0.1, 300.0, 400.0, 600.0, cooldown_s=1.0),
        rules={"bad_data": {"max_past_s": 300.0}},
    )
    return WatchdogConfig(
        traders=tuple(replace(trader, id=n, pidfile=f"{n}.pid") for n in names),
        log_level="warning",
        metrics=False,
        backoff_initial_s=None,
        backoff_max_s=None,
    ).to_toml()


# -- the polling kill switch (runs in its own process) -----------------------------------------


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def poll_forever(pids: Sequence[int], interval_s: float, out: IO[str]) -> None:
    """Check every pid once per interval on a fixed schedule; report each death once."""
    watching = set(pids)
    out.write("ready\n")
    out.flush()
    next_at = time.monotonic()
    while watching:
        for pid in sorted(watching):
            if not _alive(pid):
                watching.discard(pid)
                out.write(json.dumps({"pid": pid, "detected_monotonic": time.monotonic()}) + "\n")
                out.flush()
        next_at += interval_s
        time.sleep(max(0.0, next_at - time.monotonic()))  # the poller's own period, by design


# -- the bench ---------------------------------------------------------------------------------


def _sleepers(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen(["sleep", "600"]) for _ in range(count)]


def _kill_spaced(sleepers: Sequence[subprocess.Popen[bytes]], rng: random.Random) -> list[float]:
    """SIGKILL each sleeper after a random gap; reap at once (a zombie would look alive)."""
    killed = []
    for sleeper in sleepers:
        time.sleep(rng.uniform(*GAP_S))  # the spacing between triggers is the experiment
        killed.append(time.monotonic())
        os.kill(sleeper.pid, signal.SIGKILL)
        sleeper.wait()
    return killed


def bench_poller(runs: int, rng: random.Random) -> list[float]:
    sleepers = _sleepers(runs)
    poller = subprocess.Popen(
        [sys.executable, "-m", "bench.poll_baseline", "--poller", *(str(s.pid) for s in sleepers)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert poller.stdout is not None
        if poller.stdout.readline().strip() != "ready":
            raise RuntimeError("the polling kill switch did not start")
        killed = dict(zip((s.pid for s in sleepers), _kill_spaced(sleepers, rng), strict=True))
        detected = {}
        for line in poller.stdout:  # ends when the poller has seen every death and exits
            report = json.loads(line)
            detected[report["pid"]] = report["detected_monotonic"]
        if poller.wait(timeout=30) != 0 or detected.keys() != killed.keys():
            raise RuntimeError(f"poller saw {len(detected)} of {len(killed)} deaths")
        return [(detected[pid] - killed[pid]) * 1e3 for pid in killed]
    finally:
        _reap(poller)
        for sleeper in sleepers:
            _reap(sleeper)


def _reap(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def bench_watchdog(root: Path, runs: int, rng: random.Random) -> list[float]:
    names = [f"t{i}" for i in range(runs)]
    space = Workspace(root, _config(names))
    try:
        space.start_watchdog()
        key = bytes.fromhex((root / "alpha.key").read_text())
        sleepers = [tied_sleeper(root / f"{n}.pid", space.ingress, key, n) for n in names]
        space.processes.extend(sleepers)
        wait_until(
            lambda: all(t["pid"] for t in space.request("GET", "/status")["traders"]),
            what="every pid watched",
        )
        latencies = []
        for name, sleeper in zip(names, sleepers, strict=True):
            killed = _kill_spaced([sleeper], rng)[0]
            timing = wait_until(partial(_kill_timing, space, name), what=f"{name} killed")
            latencies.append((timing["decided_monotonic"] - killed) * 1e3)
        return latencies
    finally:
        space.cleanup()


def _kill_timing(space: Workspace, trader: str) -> dict[str, float] | None:
    time.sleep(0.02)  # poll the control API gently: the daemon's loop is what is measured
    (status,) = space.request("GET", f"/status?trader={trader}")["traders"]
    timing: dict[str, float] | None = status["kill_timing"]
    return timing


def run(runs: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    # On the working directory's file system, as in production (the latch fsync is real).
    with tempfile.TemporaryDirectory(prefix=".bench-poll-", dir=Path.cwd()) as tmp:
        watchdog = bench_watchdog(Path(tmp), runs, rng)
    poller = bench_poller(runs, rng)
    ratio = summary(poller, "p", "ms")["p_p50_ms"] / summary(watchdog, "p", "ms")["p_p50_ms"]
    return {
        "runs_count": runs,
        "poll_interval_ms": POLL_INTERVAL_S * 1e3,
        **summary(watchdog, "watchdog_pidfd", "ms"),
        **summary(poller, "poll_1s", "ms"),
        "p50_ratio": round(ratio, 1),
        "samples_ms": {
            "watchdog_pidfd": [round(v, 3) for v in watchdog],
            "poll_1s": [round(v, 3) for v in poller],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.poll_baseline", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (10 kills each)")
    parser.add_argument("--runs", type=int, default=0, help="kills per kill switch (>= 2)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random kill spacing")
    parser.add_argument("--poller", type=int, nargs="+", metavar="PID", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.poller:
        poll_forever(args.poller, POLL_INTERVAL_S, sys.stdout)
        return 0
    runs = args.runs or (10 if args.quick else 40)
    if runs < 2:
        parser.error("--runs must be at least 2")
    print(json.dumps(run(runs, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
