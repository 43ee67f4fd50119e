"""Wait for a condition by polling it against a deadline: the one way the tests, the demo's
process harness and the benchmarks wait for a real process to reach a state.

Nothing sleeps for a fixed time hoping a condition holds: ``wait_until`` returns as soon as it
does, and the deadline is generous because the machine running the tests is shared.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_S = 0.02


class NotReachedError(AssertionError):
    """The condition was still false at the deadline; the message names what was awaited."""


def wait_until(
    condition: Callable[[], T | None],
    within: float = 30.0,
    what: str = "condition",
    poll_s: float = POLL_S,
) -> T:
    """Poll ``condition`` until it returns a truthy value, and return that value."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise NotReachedError(f"timed out after {within:g} s waiting for {what}")
        time.sleep(poll_s)
