"""Wall-clock steps are found by comparing the wall clock with the monotonic one."""

from __future__ import annotations

import asyncio

from tests.trader.helpers import wait_until
from watchdog.clock import FakeClock
from watchdog.daemon.wallstep import follow_wall_steps, wall_step


def test_a_step_is_the_change_of_the_offset_between_the_clocks() -> None:
    assert wall_step(100.0, 100.0) is None
    assert wall_step(100.0, 100.4) is None  # within the tolerance: slewing, jitter
    assert wall_step(100.0, -3500.0) == -3600.0
    assert wall_step(100.0, 160.0) == 60.0


async def test_each_step_is_reported_once_and_time_moving_on_is_not_a_step() -> None:
    clock = FakeClock()
    steps: list[float] = []
    follower = asyncio.create_task(follow_wall_steps(clock, steps.append, every_s=0.005))
    await asyncio.sleep(0)  # the follower takes its first reading
    try:
        clock.advance(30.0)  # both clocks move together: no step
        clock.step_wall(-3600.0)
        await wait_until(lambda: len(steps) == 1, what="the step back")
        clock.step_wall(120.0)
        await wait_until(lambda: len(steps) == 2, what="the step forward")
        await asyncio.sleep(0.05)  # ten more checks: a step is reported once, not per check
        assert steps == [-3600.0, 120.0]
    finally:
        follower.cancel()
