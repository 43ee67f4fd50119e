"""The demo end to end: real processes, each scenario's proof, nothing left behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from demo.scenarios import SCENARIOS
from demo.timeline import KILL_MILESTONES
from harness.sim import VENUES

REPO = Path(__file__).resolve().parents[2]
KILLS = list(SCENARIOS)
RUNS = [(name, venue) for name in SCENARIOS for venue in VENUES]  # every scenario runs everywhere


def run_demo(*args: str, timeout: float = 150.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "demo", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_dir(stdout: str) -> Path:
    match = re.search(r"files and logs: (\S+)\)", stdout)
    assert match, stdout
    return Path(match.group(1))


def processes_under(root: Path) -> list[str]:
    """Processes whose command line names the run's directory (sim, watchdog, trader)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(root) in cmdline and proc.info["pid"] != os.getpid():
            found.append(cmdline)
    return found


def assert_clean(stdout: str) -> None:
    root = run_dir(stdout)
    assert not root.exists(), f"the demo left {root}"
    assert processes_under(root) == []


# How each venue refuses a deleted key: Binance with HTTP 401 and -2015, Bybit with HTTP 200
# and retCode 10003, OKX with HTTP 401 and 50111.
KEY_REFUSED = {"binance": "HTTP 401 -2015", "bybit": "HTTP 200 10003", "okx": "HTTP 401 50111"}


@pytest.mark.parametrize(("scenario", "venue"), RUNS)
def test_a_kill_scenario_ends_with_an_empty_book_and_the_key_refused(
    scenario: str, venue: str
) -> None:
    done = run_demo("--scenario", scenario, "--venue", venue, "--trade-s", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.splitlines()[0].endswith(f" · on {venue}")
    assert "watchdog armed: trader process known" in out  # its status said so, not a promise
    assert "ok   open orders at the venue: BTCUSDT 0, ETHUSDT 0" in out
    refused = KEY_REFUSED[venue]
    assert re.search(rf"ok   a signed request with the trader's key: {refused}", out)
    assert "ok   `watchdog status`: KILLED, latched=True" in out
    # OKX cancels order by order: an empty book at the kill sends no cancel, and says so.
    for milestone in ("trigger", "detection", "latch persisted",
                      "(cancel-all sent|nothing to cancel)", "no open orders",
                      "trader key refused", "trader stopped"):  # fmt: skip
        assert re.search(rf"^\s+[+-]\d+\.\d ms  {milestone}\s", out, re.MULTILINE), milestone
    assert f"PASS: {scenario}" in out
    assert_clean(out)


def test_keep_leaves_the_run_directory_with_logs_and_stops_the_processes() -> None:
    done = run_demo("--scenario", "trader-kill9", "--trade-s", "1", "--keep")
    assert done.returncode == 0, done.stdout + done.stderr
    root = run_dir(done.stdout)
    try:
        assert f"Kept for inspection: {root}" in done.stdout
        assert {"sim.log", "watchdog.log", "trader.log"} <= {p.name for p in root.iterdir()}
        for key in ("trader-venue.cred", "watchdog-account.cred", "watchdog-master.cred"):
            assert (root / key).stat().st_mode & 0o777 == 0o600, key
        assert processes_under(root) == []
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)


def test_an_unknown_scenario_is_a_one_line_usage_error() -> None:
    done = run_demo("--scenario", "meteor", timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "demo: error: argument --scenario: unknown 'meteor' (known: trader-kill9,"
    )


def test_an_unknown_venue_is_a_one_line_usage_error() -> None:
    done = run_demo("--scenario", "ccxt-bot", "--venue", "kraken", timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    known = ", ".join(repr(venue) for venue in VENUES)
    assert done.stderr.strip() == (
        f"demo: error: argument --venue: invalid choice: 'kraken' (choose from {known})"
        " (try: demo --help)"
    )


def test_a_bad_option_is_a_one_line_usage_error() -> None:
    done = run_demo("--trade-s", "nope", timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("demo: error: argument --trade-s")


def test_list_names_every_scenario() -> None:
    done = run_demo("--list", timeout=60)
    assert done.returncode == 0
    names = [line.split()[0] for line in done.stdout.splitlines()]
    assert names == list(SCENARIOS)


def test_list_as_json_names_every_scenario_with_its_title() -> None:
    done = run_demo("--list", "--json", timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"name": n, "title": s.title} for n, s in SCENARIOS.items()]


def test_a_run_as_json_prints_one_object_with_the_outcome_and_the_timeline() -> None:
    done = run_demo("--scenario", KILLS[0], "--trade-s", "1", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)  # one object, nothing else: the narration is on stderr
    assert (result["scenario"], result["venue"], result["outcome"], result["reason"]) == (
        KILLS[0],
        "binance",
        "pass",
        "",
    )
    stages = [stage["stage"] for stage in result["timeline"]]
    assert set(KILL_MILESTONES) <= set(stages)
    assert result["timeline"][0] == {
        "stage": "trigger", "ms": 0.0, "source": "demo", "detail": result["timeline"][0]["detail"]
    }  # fmt: skip
    assert all(isinstance(stage["ms"], float) for stage in result["timeline"])
    assert f"PASS: {KILLS[0]}" in done.stderr
    assert_clean(done.stderr)
