"""The clock seam: wall time for venue timestamps, monotonic time for deadlines and the journal."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """``time.monotonic`` is CLOCK_MONOTONIC on Linux: system-wide, so other processes compare."""

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()
