"""`watchdog status` against a real daemon: its exit code says whether all is well, like
`systemctl status`, and it finds the daemon without flags through the environment."""

from __future__ import annotations

import sys

from cliargs import EXIT_BROKEN_PIPE
from harness.procs import run_into_a_closed_pipe
from harness.wait import wait_until
from harness.watchdog_world import Workspace
from watchdog.daemon.cli import CONFIG_ENV, SOCKET_ENV


def test_status_exits_3_naming_the_trader_until_it_is_active_then_0(
    workspace: Workspace,
) -> None:
    workspace.start_watchdog()
    halted = workspace.cli("status", "--socket", str(workspace.control))
    assert halted.returncode == 3, halted.stderr
    assert "alpha: HALTED" in halted.stdout
    assert halted.stderr.splitlines() == [
        "watchdog: error: not all ACTIVE and armed: alpha HALTED; alpha not armed (process)"
    ]
    workspace.start_trader()
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")
    active = workspace.cli("status", "--socket", str(workspace.control))
    assert (active.returncode, active.stderr) == (0, "")
    assert "alpha: ACTIVE" in active.stdout
    as_json = workspace.cli("status", "--json", "--socket", str(workspace.control))
    assert (as_json.returncode, as_json.stderr) == (0, "")
    assert '"state": "ACTIVE"' in as_json.stdout


def test_status_into_a_closed_pipe_ends_quietly_as_sigpipe_would(workspace: Workspace) -> None:
    """`watchdog status | head -1`: the reader left after its line; no traceback follows."""
    workspace.start_watchdog()
    argv = [sys.executable, "-m", "watchdog", "status", "--socket", str(workspace.control)]
    result = run_into_a_closed_pipe(argv)
    assert result.returncode == EXIT_BROKEN_PIPE
    assert "Traceback" not in result.stderr


def test_a_killed_trader_makes_status_exit_3_with_json_on_stdout(workspace: Workspace) -> None:
    workspace.start_watchdog()
    tripped = workspace.cli(
        "trip", "--json", "--socket", str(workspace.control), "--trader", "alpha", "--reason", "t"
    )
    assert tripped.returncode == 0, tripped.stderr
    assert '"state": "KILLED"' in tripped.stdout
    killed = workspace.cli("status", "--json", "--socket", str(workspace.control))
    assert killed.returncode == 3
    assert '"state": "KILLED"' in killed.stdout
    (line,) = killed.stderr.splitlines()
    assert line.startswith("watchdog: error: not all ACTIVE and armed: alpha KILLED")


def test_status_without_flags_asks_the_socket_of_the_config_in_the_environment(
    workspace: Workspace,
) -> None:
    workspace.start_watchdog()
    by_config = workspace.cli("status", env={CONFIG_ENV: str(workspace.config)})
    assert by_config.returncode == 3, by_config.stderr
    assert "alpha: HALTED" in by_config.stdout
    by_socket = workspace.cli("status", env={SOCKET_ENV: str(workspace.control)})
    assert by_socket.returncode == 3, by_socket.stderr
    assert "alpha: HALTED" in by_socket.stdout


def test_status_that_cannot_ask_exits_1_naming_the_socket(workspace: Workspace) -> None:
    absent = workspace.root / "absent.sock"
    result = workspace.cli("status", env={SOCKET_ENV: str(absent)})
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"watchdog: error: cannot reach the watchdog ({absent})")


def test_check_config_reads_the_config_named_in_the_environment(workspace: Workspace) -> None:
    check = workspace.cli("check-config", "--json", env={CONFIG_ENV: str(workspace.config)})
    assert check.returncode == 0, check.stderr
    assert '"traders": [\n    "alpha"\n  ]' in check.stdout
