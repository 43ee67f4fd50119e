"""Kill groups, the daily reset missed while down, and the metric names the alert rules use."""

from __future__ import annotations

import re
import time
import urllib.request
from dataclasses import replace

from harness.configs import HeartbeatLimits, WatchedTrader
from harness.procs import REPO
from harness.wait import wait_until
from harness.watchdog_world import ALPHA, WORLD, Workspace
from watchdog.daemon.store import Store

TWO_TRADERS = WORLD.with_(
    traders=(
        replace(ALPHA, kill_group="desk"),
        WatchedTrader(
            id="beta",
            hmac_key_file="alpha.key",
            kill_group="desk",
            heartbeat=HeartbeatLimits(0.05, 100.0, 200.0, 300.0, cooldown_s=1.0),
        ),
    )
).to_toml()


def test_a_kill_takes_down_the_whole_kill_group(workspace: Workspace) -> None:
    workspace.config.write_text(TWO_TRADERS)
    workspace.start_watchdog()
    trip = workspace.cli(
        "trip", "--socket", str(workspace.control), "--trader", "alpha", "--reason", "group test"
    )
    assert trip.returncode == 0, trip.stderr

    def states() -> dict[str, str]:
        return {t["id"]: t["state"] for t in workspace.request("GET", "/status")["traders"]}

    wait_until(lambda: states() == {"alpha": "KILLED", "beta": "KILLED"}, what="both KILLED")
    causes = {e["trader"]: e["detail"]["cause"] for e in workspace.audit("kill_started")}
    assert causes == {"alpha": "manual", "beta": "group"}


def test_a_daily_reset_missed_while_down_is_applied_and_audited_at_start(
    workspace: Workspace,
) -> None:
    state = workspace.root / "state"
    store = Store(state / "watchdog.sqlite3")
    two_days_ago = time.time() - 2 * 86_400
    store.save_risk("alpha", 12_000.0, 10_000.0, two_days_ago)
    store.close()
    workspace.start_watchdog()
    (reset,) = workspace.audit("daily_reset")
    assert reset["detail"]["due"] > two_days_ago
    assert workspace.trader()["next_daily_reset"] > time.time()


DOCUMENTED = {
    "killswitch_trader_state",
    "killswitch_trader_in_state",
    "killswitch_latched",
    "killswitch_maintenance",
    "killswitch_heartbeat_age_seconds",
    "killswitch_limit_utilisation_ratio",
    "killswitch_decisions_total",
    "killswitch_kills_total",
    "killswitch_kill_step_duration_seconds",
    "killswitch_rearms_total",
    "killswitch_datagrams_total",
    "killswitch_telemetry_events_total",
    "killswitch_event_loop_lag_seconds",
    "killswitch_store_healthy",
    "killswitch_armed",
}


def test_every_documented_metric_is_exported(workspace: Workspace) -> None:
    workspace.start_watchdog()
    workspace.start_trader()
    wait_until(lambda: workspace.state() == "ACTIVE", what="ACTIVE")
    workspace.cli(
        "trip", "--socket", str(workspace.control), "--trader", "alpha", "--reason", "metrics test"
    )
    wait_until(workspace.kill_finished, what="kill verified")
    workspace.rearm("metrics test")
    port = workspace.request("GET", "/status")["metrics_port"]
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    names = set(re.findall(r"^# TYPE (\w+) ", body, re.MULTILINE))
    assert names >= DOCUMENTED
    assert 'killswitch_kills_total{cause="manual",trader="alpha"} 1.0' in body
    assert 'killswitch_trader_state{trader="alpha"}' in body
    # Both series come from one scrape, so they must name the same state.
    (number,) = re.findall(r'^killswitch_trader_state\{trader="alpha"\} (\S+)$', body, re.M)
    flags = dict(
        re.findall(
            r'^killswitch_trader_in_state\{state="(\w+)",trader="alpha"\} (\S+)$', body, re.M
        )
    )
    assert flags == {
        name: "1.0" if index == int(float(number)) else "0.0"
        for index, name in enumerate(["ACTIVE", "WARN", "REDUCING", "HALTED", "KILLED"])
    }
    documented = (REPO / "docs" / "watchdog.md").read_text()
    for metric in DOCUMENTED:
        assert f"`{metric}`" in documented
