"""The latch and unfinished kills survive the watchdog's own death (kill -9) and restarts."""

from __future__ import annotations

import os
import signal

from harness.wait import wait_until
from harness.watchdog_world import Workspace


def test_a_watchdog_killed_mid_pipeline_finishes_the_kill_after_restart(
    workspace: Workspace,
) -> None:
    watchdog = workspace.start_watchdog(gated=True)
    trader = workspace.start_trader()
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")
    result = workspace.cli(
        "trip", "--socket", str(workspace.control), "--trader", "alpha", "--reason", "operator test"
    )
    assert result.returncode == 0, result.stderr
    # The test gate keeps the pipeline provably unfinished; then the watchdog dies hard.
    wait_until(lambda: len(workspace.audit("kill_step_attempt")) >= 2, what="gate attempts")
    assert workspace.trader()["kill"]["steps"]["test_gate"] == "pending"
    os.kill(watchdog.pid, signal.SIGKILL)
    watchdog.wait(timeout=10)

    workspace.start_watchdog(gated=True)
    assert workspace.state() == "KILLED"
    assert workspace.trader()["latched"]
    wait_until(lambda: workspace.audit("kill_resumed"), what="kill resumed")
    assert not workspace.kill_finished()
    workspace.gate.touch()
    wait_until(workspace.kill_finished, what="kill finished after restart")
    (resumed,) = workspace.audit("kill_resumed")
    assert "test_gate" in resumed["detail"]["steps"]
    assert trader.wait(timeout=10) is not None
    assert workspace.credential_revoked()
    assert len(workspace.audit("kill_started")) == 1  # resumed, not started again


def test_the_latch_survives_a_restart_and_only_rearm_clears_it(workspace: Workspace) -> None:
    watchdog = workspace.start_watchdog()
    workspace.start_trader()
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")
    trip = workspace.cli(
        "trip", "--config", str(workspace.config), "--trader", "alpha", "--reason", "latch test"
    )
    assert trip.returncode == 0, trip.stderr
    assert trip.stdout.strip() == "alpha: KILLED"
    wait_until(workspace.kill_finished, what="kill verified")
    watchdog.send_signal(signal.SIGTERM)
    assert watchdog.wait(timeout=20) == 0

    workspace.start_watchdog()
    assert workspace.trader()["latched"]
    assert workspace.state() == "KILLED"
    # No telemetry since the restart: equity unknown, so the hard limits cannot be checked.
    refused = workspace.rearm("too early")
    assert refused.returncode == 1
    assert refused.stderr.startswith("watchdog: error: re-arm refused: equity unknown")
    assert workspace.state() == "KILLED"

    workspace.credential.write_text("api-key=rotated\n")  # the operator issued a new key
    workspace.start_trader()
    wait_until(lambda: workspace.trader()["heartbeat_age_s"] is not None, what="telemetry")
    accepted = workspace.rearm("post-mortem done")
    assert accepted.returncode == 0, accepted.stderr
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE after re-arm")
    assert not workspace.trader()["latched"]
    kinds = [e["kind"] for e in workspace.audit()]
    assert kinds.count("rearm_refused") == 1
    assert kinds.count("rearm_accepted") == 1
    (rearm,) = workspace.audit("rearm_accepted")
    assert rearm["detail"]["operator"].startswith("ops (uid ")


def test_a_limit_breach_in_telemetry_kills(workspace: Workspace) -> None:
    workspace.start_watchdog()
    trader = workspace.start_trader(equity=10_000.0)
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")
    os.kill(trader.pid, signal.SIGUSR1)  # the bot now reports a 10% loss
    wait_until(lambda: workspace.state() == "KILLED", what="KILLED")
    (started,) = workspace.audit("kill_started")
    assert started["detail"]["cause"] == "daily_loss"
    wait_until(workspace.kill_finished, what="kill verified")
    assert trader.wait(timeout=10) is not None
    assert workspace.credential_revoked()


def _trip_and_hold(workspace: Workspace) -> None:
    trip = workspace.cli(
        "trip", "--socket", str(workspace.control), "--trader", "alpha", "--reason", "shutdown test"
    )
    assert trip.returncode == 0, trip.stderr
    wait_until(lambda: workspace.audit("kill_step_attempt"), what="the gate held")


def test_sigterm_mid_kill_exits_cleanly_and_the_next_start_resumes(workspace: Workspace) -> None:
    watchdog = workspace.start_watchdog(gated=True)
    trader = workspace.start_trader()  # its stop is only verified by seeing it exit
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")
    _trip_and_hold(workspace)
    watchdog.send_signal(signal.SIGTERM)
    assert watchdog.wait(timeout=30) == 0  # after shutdown_timeout_s (2 s) at most
    assert "kills_left_for_next_start" in workspace.log("watchdog")
    workspace.start_watchdog(gated=True)
    workspace.gate.touch()
    wait_until(workspace.kill_finished, what="resumed kill finished")
    assert trader.wait(timeout=10) is not None


def test_a_second_signal_forces_the_exit(workspace: Workspace) -> None:
    watchdog = workspace.start_watchdog(gated=True)
    _trip_and_hold(workspace)
    watchdog.send_signal(signal.SIGTERM)
    wait_until(lambda: '"event":"signal"' in workspace.log("watchdog"), what="first signal seen")
    watchdog.send_signal(signal.SIGTERM)
    assert watchdog.wait(timeout=30) == 1
    assert "forced_exit" in workspace.log("watchdog")
