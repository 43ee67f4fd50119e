"""`watchdog check-config` (the real command) says, for each trader without telemetry, what
ties its process, which rules judge it and which cannot, as text and as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from harness.procs import REPO

SILENT = 'telemetry = "none"\npidfile = "bot.pid"\ncmdline = "bot.py"'
CANNOT = ["heartbeat", "stale_data", "divergence"]


def _check(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watchdog", "check-config", *extra, "--config", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_text_names_the_rules_that_apply_and_those_that_cannot_judge(
    silent_config: Callable[..., Path],
) -> None:
    path = silent_config(SILENT, with_alpha=True)
    result = _check(path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}: ok (2 traders: alpha, bot)"
    assert lines[1] == (
        f'bot: telemetry = "none": watched through the pid in {path.parent / "bot.pid"}, '
        "running, with 'bot.py' in its command line and the watchdog's own venue view"
    )
    assert lines[2].startswith("  rules that apply: venue_blind, daily_loss, drawdown, order_rate")
    assert not any(rule in lines[2] for rule in CANNOT)
    assert lines[3].startswith("  rules that cannot judge: heartbeat (no heartbeats arrive")
    assert "key misuse" in lines[3]
    assert len(lines) == 4  # alpha sends telemetry: every rule judges it, nothing to say


def test_the_json_carries_the_same_per_trader(silent_config: Callable[..., Path]) -> None:
    path = silent_config('telemetry = "none"\nunit = "bot.service"', with_alpha=True)
    result = _check(path, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["traders"] == ["alpha", "bot"]
    (bot,) = report["without_telemetry"]
    assert bot["trader"] == "bot"
    assert bot["telemetry"] == "none"
    assert bot["process"] == "the main pid of unit bot.service"
    assert "position" in bot["rules_apply"]
    assert [item["rule"] for item in bot["rules_cannot_judge"]] == CANNOT
    assert all(item["why"] for item in bot["rules_cannot_judge"])


def test_a_trader_without_telemetry_or_venue_is_refused_in_one_line(
    silent_config: Callable[..., Path],
) -> None:
    result = _check(silent_config(SILENT, ""))
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert 'traders[0].telemetry: "none" needs a [traders.venue] table' in line
