"""`watchdog status`: what is armed and what is not, in words a person reads at 3 am; its exit
code; where a command finds the daemon."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

import pytest

from watchdog.daemon.cli import (
    CONFIG_ENV,
    SOCKET_ENV,
    STANDARD_CONFIG,
    STANDARD_SOCKET,
    _status_text,
    build_parser,
    config_path,
    control_socket,
    main,
    status_problems,
)

REPO = Path(__file__).resolve().parents[3]

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


def test_a_trader_without_telemetry_shows_so_instead_of_a_heartbeat_age() -> None:
    trader = {**_status()["traders"][0], "pid": 4242, "telemetry": "none",
              "heartbeat_age_s": None, "armed": True, "not_armed": []}  # fmt: skip
    text = _status_text(_status(store_healthy=True, store_error="", armed=True, not_armed=[],
                                traders=[trader]))  # fmt: skip
    assert "  alpha: HALTED, no telemetry (process and venue only), pid 4242; armed" in text


# -- the status exit code and where a command asks --------------------------------------


def _active(**changes: Any) -> dict[str, Any]:
    trader = {**_status()["traders"][0], "state": "ACTIVE", "armed": True, "not_armed": []}
    trader.update(changes)
    return _status(store_healthy=True, store_error="", armed=True, not_armed=[], traders=[trader])


def test_an_armed_watchdog_with_every_trader_active_has_no_problem() -> None:
    assert status_problems(_active()) == []


def test_each_part_and_trader_that_is_not_well_is_named() -> None:
    assert status_problems(_status()) == [
        "store not armed",
        "alpha HALTED",
        "alpha not armed (process)",
    ]


def test_a_warned_trader_is_not_active() -> None:
    assert status_problems(_active(state="WARN")) == ["alpha WARN"]


def test_not_armed_without_a_named_part_is_still_a_problem() -> None:
    assert status_problems({**_active(), "armed": False}) == ["watchdog not armed"]
    assert status_problems(_active(armed=False)) == ["alpha not armed"]


def _where(socket: str | None = None, config: str | None = None, **environ: str) -> Path:
    args = argparse.Namespace(
        socket=None if socket is None else Path(socket),
        config=None if config is None else Path(config),
    )
    present = {STANDARD_CONFIG} if environ.pop("standard", "") else set()
    return control_socket(
        args, environ, present.__contains__, lambda path: Path(f"socket-of:{path}")
    )


def test_a_flag_beats_the_environment() -> None:
    env = {SOCKET_ENV: "/env.sock", CONFIG_ENV: "/env.toml"}
    assert _where(socket="/flag.sock", **env) == Path("/flag.sock")
    assert _where(config="/flag.toml", **env) == Path("socket-of:/flag.toml")


def test_the_environment_names_the_socket_before_the_config() -> None:
    assert _where(**{SOCKET_ENV: "/env.sock", CONFIG_ENV: "/env.toml"}) == Path("/env.sock")
    assert _where(**{CONFIG_ENV: "/env.toml"}) == Path("socket-of:/env.toml")


def test_without_flags_or_environment_the_standard_config_then_the_standard_socket() -> None:
    assert _where(standard="yes") == Path(f"socket-of:{STANDARD_CONFIG}")
    assert _where() == STANDARD_SOCKET


def test_the_standard_paths_are_the_ones_the_deploy_units_use() -> None:
    unit = (REPO / "deploy" / "systemd" / "watchdog.service").read_text()
    assert f"watchdog run --config {STANDARD_CONFIG}\n" in unit
    deployed = tomllib.loads((REPO / "deploy" / "config" / "watchdog.toml").read_text())
    assert Path(deployed["control_socket"]) == STANDARD_SOCKET


def test_the_config_path_is_the_flag_then_the_environment_then_the_standard_one() -> None:
    assert config_path(Path("a.toml"), {CONFIG_ENV: "b.toml"}) == Path("a.toml")
    assert config_path(None, {CONFIG_ENV: "b.toml"}) == Path("b.toml")
    assert config_path(None, {CONFIG_ENV: ""}) == STANDARD_CONFIG


@pytest.mark.parametrize("limit", ["0", "-5", "10001", "ten"])
def test_an_audit_limit_the_control_api_would_clamp_is_a_usage_error(
    limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["audit", "--socket", "x.sock", "--limit", limit])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("watchdog: error: audit: argument --limit: ")


def test_run_takes_the_log_level_spelt_as_every_program_does_and_defaults_to_the_config() -> None:
    parser = build_parser()
    assert parser.parse_args(["run", "--log-level", "WARNING"]).log_level == "warning"
    assert parser.parse_args(["run"]).log_level is None


def test_a_prefix_of_a_flag_is_not_that_flag(capsys: pytest.CaptureFixture[str]) -> None:
    # `--reset` must not silently become `--reset-high-water-mark` on a re-arm.
    argv = ["rearm", "--trader", "alpha", "--reason", "r", "--socket", "x.sock", "--reset"]
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert "unrecognized arguments: --reset" in capsys.readouterr().err


@pytest.mark.parametrize("since", ["nan", "inf", "1e999"])
def test_an_audit_since_that_is_not_a_time_is_a_usage_error(
    since: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["audit", "--socket", "x.sock", "--since", since])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"watchdog: error: audit: argument --since: '{since}' is not a time")
