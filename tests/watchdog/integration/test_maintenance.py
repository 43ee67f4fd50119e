"""A planned restart through a maintenance window: the trader exits and comes back, no kill."""

from __future__ import annotations

import signal
import time

from harness.wait import wait_until
from harness.watchdog_world import Workspace


def maintenance(workspace: Workspace, action: str, *extra: str) -> tuple[int, str]:
    result = workspace.cli(
        "maintenance",
        action,
        "--socket",
        str(workspace.control),
        "--trader",
        "alpha",
        "--operator",
        "alice",
        *extra,
    )
    return result.returncode, result.stdout + result.stderr


def test_a_trader_restarted_inside_a_window_is_not_killed(workspace: Workspace) -> None:
    workspace.start_watchdog()
    first = workspace.start_trader()
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")
    wait_until(lambda: workspace.trader()["pid"] == first.pid, what="pid watched")

    code, out = maintenance(workspace, "start", "--for", "5m", "--reason", "deploy v1.2")
    assert code == 0, out
    assert "alpha: in maintenance until" in out
    assert workspace.state() == "HALTED"
    assert workspace.trader()["maintenance"]["reason"].startswith("deploy v1.2 (by alice (uid ")
    status = workspace.cli("status", "--socket", str(workspace.control)).stdout
    assert "maintenance until" in status
    assert "HALTED maintenance: planned stop until" in status

    first.send_signal(signal.SIGTERM)
    first.wait(timeout=10)
    time.sleep(2.5)  # past the kill deadline (1.5 s) of a trader that is not in maintenance
    assert workspace.state() == "HALTED"
    assert not workspace.trader()["latched"]
    assert not workspace.credential_revoked()
    assert workspace.audit("kill_started") == []
    (exited,) = workspace.audit("process_exited")
    assert exited["detail"]["pid"] == first.pid

    code, out = maintenance(workspace, "end", "--reason", "too early")
    assert code == 1
    assert "start the trader first" in out

    second = workspace.start_trader()
    wait_until(lambda: workspace.trader()["heartbeat_age_s"] < 0.3, what="the new trader")
    code, out = maintenance(workspace, "end", "--reason", "v1.2 is up")
    assert code == 0, out
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE again")
    wait_until(lambda: workspace.trader()["pid"] == second.pid, what="the new pid watched")
    kinds = [entry["kind"] for entry in workspace.audit()]
    assert kinds.index("maintenance_started") < kinds.index("process_exited")
    assert kinds.index("maintenance_refused") < kinds.index("maintenance_ended")

    # Outside the window, the trader's death is a kill again.
    second.kill()
    wait_until(lambda: workspace.state() == "KILLED", what="KILLED")
    wait_until(workspace.kill_finished, what="kill verified")
    assert workspace.credential_revoked()


def test_a_silent_trader_cannot_be_stood_down_and_a_window_is_bounded(
    workspace: Workspace,
) -> None:
    workspace.start_watchdog()
    trader = workspace.start_trader()
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")
    code, out = maintenance(workspace, "start", "--for", "2h", "--reason", "long")
    assert code == 1
    assert "window_s: seconds, more than 0 and at most 3600" in out
    trader.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: workspace.trader()["heartbeat_age_s"] > 0.5, what="silence")
        code, out = maintenance(workspace, "start", "--for", "10m", "--reason", "hung?")
        assert code == 1
        assert "may be hung" in out
        wait_until(lambda: workspace.state() == "KILLED", what="KILLED")
    finally:
        trader.send_signal(signal.SIGCONT)
    wait_until(workspace.kill_finished, what="kill verified")
