"""Injected time: every part of the watchdog (and the trader) reads time through a `Clock`.

Wall time (seconds since the epoch) stamps events and datagrams; monotonic time measures
durations and deadlines, so a wall-clock step (NTP, an operator) never fires or hides a timeout.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where shell code gets the time; tests pass a `FakeClock`."""

    def wall(self) -> float:
        """Seconds since the epoch (for timestamps only, never for deadlines)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for durations and deadlines)."""
        ...


class SystemClock:
    """The real clocks of the host."""

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that only moves when a test says so: timeout tests run instantly."""

    def __init__(self, wall: float = 1_700_000_000.0, monotonic: float = 1_000.0) -> None:
        self._wall = wall
        self._monotonic = monotonic

    def wall(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move both clocks forward together, as real time would."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds})")
        self._wall += seconds
        self._monotonic += seconds

    def step_wall(self, seconds: float) -> None:
        """Step only the wall clock (an NTP correction): deadlines must not notice."""
        self._wall += seconds
