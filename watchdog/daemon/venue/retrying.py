"""Retry one venue call inside a kill attempt: transient answers are retried at once.

The pipeline retries whole attempts with back-off; this inner loop exists for latency. A 5xx or
a dropped connection is retried immediately (the next try often lands), a 429/418 waits the
venue's Retry-After, a -1021 has already been resynced by the adapter. A final answer (bad
request, refused key) ends the loop at once with the venue's words, for the audit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from watchdog.clock import Clock
from watchdog.venues.errors import RateLimited, VenueError, is_retryable, retry_delay

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class VenueCallFailed(Exception):
    """The call did not succeed within its budget: ``last`` is the venue's last answer."""

    def __init__(self, what: str, last: VenueError, tries: int) -> None:
        self.last = last
        self.tries = tries
        super().__init__(f"{what}: {type(last).__name__}: {last} (after {tries} tries)")


async def call_venue(
    what: str,
    op: Callable[[], Awaitable[T]],
    *,
    clock: Clock,
    budget_s: float,
    pause_s: float = 0.02,
    sleep: Sleep = asyncio.sleep,
) -> T:
    deadline = clock.monotonic() + budget_s
    tries = 0
    while True:
        tries += 1
        try:
            return await op()
        except VenueError as exc:
            if not is_retryable(exc):
                raise VenueCallFailed(what, exc, tries) from exc
            wait = _pause(exc, pause_s, tries)
            if clock.monotonic() + wait > deadline:
                raise VenueCallFailed(what, exc, tries) from exc
            await sleep(wait)


def _pause(exc: VenueError, pause_s: float, tries: int) -> float:
    if isinstance(exc, RateLimited):
        return retry_delay(exc, pause_s)
    # First retry at once (a new connection is often all it takes), then short pauses.
    return 0.0 if tries == 1 else pause_s
