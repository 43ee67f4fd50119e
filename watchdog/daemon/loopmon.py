"""Event-loop lag monitor: how late a timer fires is how late every datagram is handled."""

from __future__ import annotations

import asyncio
import logging

from watchdog.daemon.metrics import Metrics
from watchdog.logs import log_event

_log = logging.getLogger("watchdog.loop")


class LagMonitor:
    def __init__(self, metrics: Metrics, interval_s: float = 0.1, warn_s: float = 0.05) -> None:
        self._metrics = metrics
        self._interval_s = interval_s
        self._warn_s = warn_s
        self.last_lag_s = 0.0
        self._last_tick = 0.0

    def healthy(self, bound_s: float) -> bool:
        """Lag under the bound, and the monitor itself has ticked recently."""
        loop = asyncio.get_running_loop()
        fresh = loop.time() - self._last_tick < self._interval_s + bound_s
        return fresh and self.last_lag_s < bound_s

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_tick = loop.time()
        while True:
            expected = loop.time() + self._interval_s
            await asyncio.sleep(self._interval_s)
            self._last_tick = loop.time()
            self.last_lag_s = max(0.0, self._last_tick - expected)
            self._metrics.loop_lag.observe(self.last_lag_s)
            if self.last_lag_s > self._warn_s:
                log_event(_log, logging.WARNING, "event_loop_lag", lag_s=round(self.last_lag_s, 6))
