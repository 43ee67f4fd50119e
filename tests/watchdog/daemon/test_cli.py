"""`watchdog status` as text: what is armed and what is not, in words a person reads at 3 am."""

from __future__ import annotations

from typing import Any

from watchdog.daemon.cli import _status_text

STORE_FAILED = {"part": "store", "trader": None,
                "reason": "the state database cannot be written: disk I/O error"}  # fmt: skip
NO_PID = {"part": "process", "trader": "alpha",
          "reason": "the trader's process is not identified: no pid known"}  # fmt: skip


def _status(**changes: Any) -> dict[str, Any]:
    trader = {
        "id": "alpha", "state": "HALTED", "latched": False, "heartbeat_age_s": 0.2,
        "pid": None, "holds": {}, "maintenance": None, "decisions": [], "kill": None,
        "venue_keys": None, "venue_view": None, "dms": None,
        "armed": False, "not_armed": [STORE_FAILED, NO_PID],
    }  # fmt: skip
    status = {
        "pid": 99, "store_healthy": False, "store_error": "disk I/O error",
        "ingress_healthy": True, "armed": False, "not_armed": [STORE_FAILED, NO_PID],
        "traders": [trader],
    }  # fmt: skip
    status.update(changes)
    return status


def test_a_daemon_part_is_named_once_and_a_trader_part_under_its_trader() -> None:
    lines = _status_text(_status()).splitlines()
    assert lines == [
        "watchdog pid 99: store FAILED: disk I/O error, ingress ok; NOT ARMED",
        "  not armed: store: the state database cannot be written: disk I/O error",
        "  alpha: HALTED, heartbeat 0.2s ago, pid unknown; NOT ARMED",
        "    not armed: process: the trader's process is not identified: no pid known",
    ]


def test_a_trader_without_a_venue_side_shows_no_venue_lines() -> None:
    trader = {**_status()["traders"][0], "pid": 4242, "armed": True, "not_armed": []}
    text = _status_text(_status(store_healthy=True, store_error="", armed=True, not_armed=[],
                                traders=[trader]))  # fmt: skip
    assert text.splitlines() == [
        "watchdog pid 99: store ok, ingress ok; ARMED",
        "  alpha: HALTED, heartbeat 0.2s ago, pid 4242; armed",
    ]
