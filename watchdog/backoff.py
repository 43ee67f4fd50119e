"""Capped exponential back-off with equal jitter: the one retry pacing of the suite.

Every retry loop but the kill pipeline's paces itself with `backoff_delay` (the pipeline's loop
stays explicit: it records every attempt durably, never gives up, and escalates on a deadline).
Equal jitter keeps half of the capped exponential and draws the other half at random: many
clients that failed together do not retry in lockstep, and no retry comes sooner than half its
step, so a loop that keeps failing never spins.

Pure: the random draw is passed in (``rng.random`` in the shell, a constant in tests).
"""

from __future__ import annotations

from collections.abc import Callable

_MAX_DOUBLINGS = 30  # 2**30 steps: far past any cap, and no float overflow


def backoff_delay(
    attempt: int, *, initial_s: float, max_s: float, draw: Callable[[], float]
) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry).

    ``draw()`` returns a float in [0, 1). The step doubles from `initial_s` up to `max_s`;
    the delay lies in [step / 2, step).
    """
    if not 0 < initial_s <= max_s:
        raise ValueError(f"back-off needs 0 < initial_s <= max_s, got {initial_s}, {max_s}")
    if attempt < 0:
        raise ValueError(f"attempt counts from 0, got {attempt}")
    step = min(max_s, initial_s * 2.0 ** min(attempt, _MAX_DOUBLINGS))
    return step / 2 + step / 2 * draw()
