"""A pid is not the trader until its telemetry ties it: real watchdog, trader and bystander."""

from __future__ import annotations

import subprocess

from harness.wait import wait_until
from harness.watchdog_world import Workspace


def _watch_pidfile(workspace: Workspace, content: str) -> None:
    """Point the watchdog at a pid file the trader does not write."""
    (workspace.root / "other.pid").write_text(content)
    workspace.config.write_text(
        workspace.config.read_text().replace('pidfile = "alpha.pid"', 'pidfile = "other.pid"')
    )


def _trip(workspace: Workspace) -> None:
    result = workspace.cli(
        "trip", "--socket", str(workspace.control), "--trader", "alpha", "--reason", "test"
    )
    assert result.returncode == 0, result.stderr


def _escalated_steps(workspace: Workspace) -> set[str]:
    return {e["detail"]["step"] for e in workspace.audit("kill_step_escalated")}


def test_a_garbage_pidfile_leaves_the_trader_unarmed_and_its_stop_unverified(
    workspace: Workspace,
) -> None:
    _watch_pidfile(workspace, "garbage\n")
    workspace.start_watchdog()
    trader = workspace.start_trader()
    wait_until(lambda: workspace.trader()["heartbeat_age_s"] is not None, what="telemetry")
    status = workspace.trader()
    assert status["state"] == "HALTED"  # equity known, process not: not armed
    assert status["pid"] is None
    assert status["identity"]["known"] is False
    assert "holds no pid: 'garbage'" in status["identity"]["reason"]
    assert status["holds"]["process_unknown"].startswith("process_unknown: pidfile")
    holds = [e["detail"] for e in workspace.audit("hold")]
    assert holds[-1]["key"] == "process_unknown"
    text = workspace.cli("status", "--socket", str(workspace.control)).stdout
    assert "HALTED process_unknown: pidfile" in text

    _trip(workspace)
    wait_until(lambda: "stop_process" in _escalated_steps(workspace), what="stop escalated")
    steps = workspace.trader()["kill"]["steps"]
    assert steps["stop_process"] != "verified"
    assert steps["revoke_credential"] == "verified"
    assert not workspace.kill_finished()
    assert trader.poll() is None  # nothing was signalled, and nothing claims it stopped


def test_a_pidfile_naming_an_unrelated_process_never_gets_it_signalled(
    workspace: Workspace,
) -> None:
    bystander = subprocess.Popen(["sleep", "600"])
    workspace.processes.append(bystander)
    _watch_pidfile(workspace, f"{bystander.pid}\n")
    workspace.start_watchdog()
    trader = workspace.start_trader()
    wait_until(lambda: workspace.trader()["heartbeat_age_s"] is not None, what="telemetry")
    identity = workspace.trader()["identity"]
    assert identity["known"] is False
    assert (
        f"is not the trader: the trader's telemetry comes from pid {trader.pid}"
        in (identity["reason"])
    )
    assert workspace.state() == "HALTED"

    _trip(workspace)
    wait_until(lambda: "stop_process" in _escalated_steps(workspace), what="stop escalated")
    assert workspace.trader()["kill"]["steps"]["stop_process"] != "verified"
    assert bystander.poll() is None  # the bystander survives
    assert trader.poll() is None


def test_the_trader_tied_by_its_telemetry_is_stopped_and_verified(workspace: Workspace) -> None:
    workspace.start_watchdog()
    trader = workspace.start_trader()
    wait_until(lambda: workspace.trader()["identity"]["known"], what="trader identified")
    status = workspace.trader()
    assert status["identity"]["via"] == "sender_pid"
    assert status["pid"] == trader.pid
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")

    _trip(workspace)
    wait_until(workspace.kill_finished, what="kill verified")
    assert workspace.trader()["kill"]["steps"]["stop_process"] == "verified"
    assert trader.wait(timeout=10) is not None
    assert _escalated_steps(workspace) == set()
