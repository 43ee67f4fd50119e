"""Retry one venue call inside a kill attempt: transient answers are retried at once, rate
limits are backed off.

The pipeline retries whole attempts with back-off; this inner loop exists for latency. A 5xx or
a dropped connection is retried immediately (the next try often lands), then every ``pause_s``.
A 429/418 (or a venue's own rate-limit code) waits the venue's Retry-After when it sent one;
without one (OKX never sends it) the wait grows with each rate-limited try (``backoff_delay``,
from ``rate_initial_s`` up to ``rate_max_s``, jittered): hammering an endpoint that allows one
request a second would only keep it refusing. A -1021 has already been resynced by the
adapter. A final answer (bad request, refused key) ends the loop at once with the venue's
words, for the audit.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from watchdog.backoff import backoff_delay
from watchdog.clock import Clock
from watchdog.venues.errors import RateLimited, VenueError, is_retryable, retry_delay

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
RATE_INITIAL_S = 0.25  # the first rate-limited retry waits 0.125..0.25 s
RATE_MAX_S = 2.0


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
    draw: Callable[[], float] = random.random,
) -> T:
    deadline = clock.monotonic() + budget_s
    tries = 0
    limited = 0  # rate-limited answers so far: the back-off's step
    while True:
        tries += 1
        try:
            return await op()
        except VenueError as exc:
            if not is_retryable(exc):
                raise VenueCallFailed(what, exc, tries) from exc
            if isinstance(exc, RateLimited):
                wait = _rate_pause(exc, limited, pause_s, draw)
                limited += 1
            else:
                # First retry at once (a new connection is often all it takes), then short pauses.
                wait = 0.0 if tries == 1 else pause_s
            if clock.monotonic() + wait > deadline:
                raise VenueCallFailed(what, exc, tries) from exc
            await sleep(wait)


def _rate_pause(exc: RateLimited, limited: int, pause_s: float, draw: Callable[[], float]) -> float:
    """The venue's Retry-After wins; without one, a growing, capped, jittered wait."""
    if exc.retry_after is not None:
        return retry_delay(exc, pause_s)
    return backoff_delay(limited, initial_s=RATE_INITIAL_S, max_s=RATE_MAX_S, draw=draw)
