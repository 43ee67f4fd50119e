"""Notice wall-clock steps, for the scheduler that paces itself by the wall clock.

APScheduler 3 stores each job's next run as a wall time and sleeps until then (it reads the
host's clock itself; no clock can be injected). After the wall clock steps back by N seconds
(an NTP correction, an operator) no job would run for N seconds: the venue view goes stale and
the dead man's switch is left to expire. Comparing the injected clock's wall time with its
monotonic time once a second finds a step in either direction; the caller then runs its jobs
at once, and they pace themselves from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from watchdog.clock import Clock

STEP_TOLERANCE_S = 1.0  # slewing moves the wall clock by well under 1 ms a second
CHECK_EVERY_S = 1.0


def wall_step(before: float, after: float, tolerance_s: float = STEP_TOLERANCE_S) -> float | None:
    """The step between two readings of ``wall - monotonic``, or None within the tolerance."""
    step = after - before
    return step if abs(step) > tolerance_s else None


async def follow_wall_steps(
    clock: Clock, on_step: Callable[[float], None], *, every_s: float = CHECK_EVERY_S
) -> None:
    """Call ``on_step(seconds)`` after each wall-clock step; runs until cancelled."""
    offset = clock.wall() - clock.monotonic()
    while True:
        await asyncio.sleep(every_s)
        now = clock.wall() - clock.monotonic()
        step = wall_step(offset, now)
        offset = now
        if step is not None:
            on_step(step)
