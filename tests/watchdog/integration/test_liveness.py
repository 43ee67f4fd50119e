"""A live trader keeps the watchdog ACTIVE; a dead or hung one ends KILLED, stopped, revoked."""

from __future__ import annotations

import json
import os
import signal
import time

from harness.wait import wait_until
from harness.watchdog_world import KEY, Workspace


def test_a_client_sending_only_heartbeats_keeps_the_watchdog_active(workspace: Workspace) -> None:
    workspace.start_watchdog()
    workspace.start_trader()
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")
    # Stay ACTIVE across twice the kill deadline (1.5 s): heartbeats alone are enough.
    until = time.monotonic() + 3.0
    while time.monotonic() < until:
        trader = workspace.trader()
        assert trader["state"] == "ACTIVE", trader
        assert trader["heartbeat_age_s"] < 1.0
        time.sleep(0.1)
    assert not workspace.credential_revoked()


def test_kill_9_of_the_trader_kills_at_once_and_revokes(workspace: Workspace) -> None:
    workspace.start_watchdog()
    trader = workspace.start_trader()
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")
    wait_until(lambda: workspace.trader()["pid"] == trader.pid, what="pid watched")
    os.kill(trader.pid, signal.SIGKILL)
    wait_until(lambda: workspace.state() == "KILLED", what="KILLED")
    wait_until(workspace.kill_finished, what="kill verified")
    assert workspace.credential_revoked()
    (trip,) = workspace.audit("trip")
    assert trip["detail"]["cause"] == "process_exit"
    # Seen by the pidfd, well before the heartbeat deadline (1.5 s) could have fired.
    (started,) = workspace.audit("kill_started")
    assert started["detail"]["cause"] == "process_exit"
    steps = workspace.trader()["kill"]["steps"]
    assert steps == {"stop_process": "verified", "revoke_credential": "verified"}
    # The journal: JSON lines only, and neither the HMAC key nor the credential in them.
    log = workspace.log("watchdog")
    events = [json.loads(line)["event"] for line in log.splitlines()]
    assert "kill_started" in events
    assert KEY not in log
    assert "trader-secret" not in log


def test_a_stopped_trader_is_killed_by_the_heartbeat_deadline(workspace: Workspace) -> None:
    workspace.start_watchdog()
    trader = workspace.start_trader()
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")
    os.kill(trader.pid, signal.SIGSTOP)
    wait_until(lambda: workspace.state() == "KILLED", what="KILLED")
    wait_until(workspace.kill_finished, what="kill verified")
    assert trader.wait(timeout=10) is not None  # the pipeline ended the stopped process
    assert workspace.credential_revoked()
    (started,) = workspace.audit("kill_started")
    assert started["detail"]["cause"] == "heartbeat"
    # The graded escalation, each step audited: WARN -> HALTED -> KILLED.
    states = [d["detail"]["to"] for d in workspace.audit("decision")]
    assert states[-3:] == ["WARN", "HALTED", "KILLED"]
