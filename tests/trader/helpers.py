"""Shared test helpers for the trader: a real clock, condition polling, recording listeners."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from trader.feed import BookTicker, Transition
from watchdog.clock import SystemClock as RealClock

__all__ = ["RealClock", "RecordingFeedListener", "wait_until"]


async def wait_until(condition: Callable[[], bool], within: float = 15.0, what: str = "") -> None:
    """Poll ``condition`` until true; generous deadline because the machine is shared."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.01)


class RecordingFeedListener:
    def __init__(self) -> None:
        self.tickers: list[BookTicker] = []
        self.transitions: list[Transition] = []

    def on_ticker(self, ticker: BookTicker, received_ns: int) -> None:
        self.tickers.append(ticker)

    def on_feed_state(self, transition: Transition) -> None:
        self.transitions.append(transition)

    def stale_reasons(self) -> list[str]:
        return [t.reason for t in self.transitions if not t.fresh]

    def fresh_count(self) -> int:
        return sum(1 for t in self.transitions if t.fresh)
