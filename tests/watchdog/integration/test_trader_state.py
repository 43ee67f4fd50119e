"""The trader's own state reports are recorded: status, audit on change, an enum-style metric."""

from __future__ import annotations

import signal

from harness.trader_bot import SELF_HALT_REASON
from harness.wait import wait_until
from harness.watchdog_world import Workspace, metric, with_signal


def _reported(workspace: Workspace) -> dict[str, object] | None:
    report = workspace.trader()["reported_state"]
    return None if report is None else dict(report)


def test_the_traders_own_state_is_shown_audited_on_change_and_exported(
    workspace: Workspace,
) -> None:
    workspace.start_watchdog()
    trader = workspace.start_trader()
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")
    wait_until(lambda: _reported(workspace), what="a state report")
    first = _reported(workspace)
    assert first is not None
    assert (first["state"], first["reason"]) == ("ACTIVE", "")

    with_signal(trader, signal.SIGUSR2)  # the trader halts itself and says so
    wait_until(
        lambda: (_reported(workspace) or {}).get("state") == "HALTED", what="HALTED reported"
    )
    report = _reported(workspace)
    assert report is not None
    assert report["reason"] == SELF_HALT_REASON
    # The watchdog's own judgement is unchanged: the report is recorded, not obeyed.
    assert workspace.state() == "ACTIVE"

    # Reported with every heartbeat, audited only when it changes.
    changes = [e["detail"] for e in workspace.audit("trader_state")]
    assert [(c["from"], c["to"]) for c in changes] == [(None, "ACTIVE"), ("ACTIVE", "HALTED")]
    assert changes[1]["reason"] == SELF_HALT_REASON

    port = workspace.request("GET", "/status")["metrics_port"]
    samples = metric(port, "killswitch_trader_reported_state")
    assert samples['killswitch_trader_reported_state{state="HALTED",trader="alpha"}'] == 1.0
    others = [v for k, v in samples.items() if 'state="HALTED"' not in k]
    assert len(others) == 4
    assert set(others) == {0.0}
