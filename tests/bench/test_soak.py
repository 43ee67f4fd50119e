"""The soak's figures, read from audit rows and log lines (pure parts; the stack runs in
tests/watchdog/integration/test_healthy_trading.py)."""

from __future__ import annotations

import json

import pytest

from bench.soak import Change, changes, count_alerts, figures
from harness.procs import run_module


def decision(ts: float, before: str, after: str, trader: str = "mm") -> dict[str, object]:
    return {"id": int(ts * 10), "ts": ts, "trader": trader, "kind": "decision",
            "detail": {"from": before, "to": after, "decisions": []}}  # fmt: skip


def test_only_the_traders_decision_rows_count_oldest_first() -> None:
    audit = [
        decision(12.0, "WARN", "ACTIVE"),
        {"id": 1, "ts": 10.5, "trader": "mm", "kind": "hold", "detail": {}},
        decision(11.0, "ACTIVE", "WARN", trader="other"),
        decision(10.0, "ACTIVE", "WARN"),
    ]
    assert changes(audit, "mm") == [Change(10.0, "ACTIVE", "WARN"), Change(12.0, "WARN", "ACTIVE")]


def test_time_away_from_active_adds_up_each_episode_and_one_still_open_at_the_end() -> None:
    rows = [
        Change(5.0, "HALTED", "ACTIVE"),  # before the window: not counted
        Change(10.0, "ACTIVE", "WARN"),
        Change(10.5, "WARN", "HALTED"),
        Change(12.0, "HALTED", "ACTIVE"),
        Change(15.0, "ACTIVE", "ACTIVE"),  # a rule changed inside a state: a row, no transition
        Change(18.0, "ACTIVE", "WARN"),
    ]
    result = figures(rows, 8.0, 20.0)
    assert result.transitions == 4
    assert result.episodes_s == (2.0, 2.0)
    assert result.non_active_s == 4.0
    assert result.decision_rows == 5


def test_a_quiet_window_scores_zero() -> None:
    assert figures([], 0.0, 600.0).non_active_s == 0.0
    assert figures([], 0.0, 600.0).transitions == 0


def test_alerts_are_the_watchdogs_alert_lines_within_the_window() -> None:
    lines = [
        json.dumps({"ts": 9.0, "event": "alert", "kind": "state"}),
        json.dumps({"ts": 10.0, "event": "alert", "kind": "state"}),
        json.dumps({"ts": 11.0, "event": "decision_changed", "reason": "no alert"}),
        json.dumps({"ts": 12.0, "event": "alert_dropped", "kind": "state"}),
        '{"ts": 13.0, "event": "alert" truncated',
        "a line that is not JSON at all",
    ]
    assert count_alerts(lines, 10.0, 20.0) == 1


@pytest.mark.parametrize("seconds", ["0", "-5"])
def test_a_run_must_last_some_time(seconds: str) -> None:
    done = run_module("bench.soak", "--seconds", seconds, timeout_s=60)
    assert done.returncode == 2
    assert "--seconds must be positive" in done.stderr
