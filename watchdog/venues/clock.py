"""The clock the adapter reads: wall time for request timestamps, monotonic for back-off.

Structural, so the daemon's own ``Clock`` (``wall()``, ``monotonic()``) fits without an import.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()
