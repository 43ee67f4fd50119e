"""A wall-clock step must not stop the watchdog's venue jobs.

The daemon runs under libfaketime with only the wall clock faked (the monotonic clock stays
real), and the test steps that wall clock back an hour while the daemon runs, as an NTP
correction or an operator would. The venue's journal shows whether reconciliation and the dead
man's switch keep going.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.wait import wait_until
from tests.watchdog.daemon.venue.world import VenueWorld, venue_world

FOUND = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
pytestmark = pytest.mark.skipif(
    not FOUND, reason="libfaketime not installed (Debian package: faketime)"
)


def _requests(world: VenueWorld, endpoint: str, since: int) -> int:
    return sum(
        1
        for entry in world.sim.admin.journal(since=since)
        if entry["kind"] == "request" and entry["endpoint"] == endpoint
    )


@pytest.mark.parametrize("step", ["-1h", "+1h"])
def test_a_wall_clock_step_does_not_stall_reconciliation_or_the_dead_mans_switch(
    step: str,
) -> None:
    with venue_world(countdown_ms=3_000) as world:
        offset = world.space.root / "faketime"
        offset.write_text("+0\n")
        world.space.start_watchdog(
            env={
                "LD_PRELOAD": str(FOUND[0]),
                "FAKETIME_TIMESTAMP_FILE": str(offset),
                "FAKETIME_NO_CACHE": "1",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            }
        )
        start = world.sim.admin.last_seq()
        wait_until(
            lambda: _requests(world, "GET /fapi/v2/account", start) >= 4, what="reconciliation"
        )
        offset.write_text(f"{step}\n")
        stepped = world.sim.admin.last_seq()
        # Reconciliation runs every 0.25 s and the countdown is refreshed every second: in 20 s
        # a stalled scheduler shows as silence.
        wait_until(
            lambda: _requests(world, "GET /fapi/v2/account", stepped) >= 8,
            within=20,
            what=f"reconciliation after a {step} wall-clock step\n{world.space.log('watchdog')}",
        )
        wait_until(
            lambda: _requests(world, "POST /fapi/v1/countdownCancelAll", stepped) >= 4,
            within=20,
            what=f"dead man's switch refreshes after a {step} wall-clock step",
        )
