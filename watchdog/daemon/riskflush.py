"""The durable part of a trader's risk state (high-water mark, day start), written lazily.

Telemetry moves it on every account event; writing it each time would put an fsync on the
per-event path. It is flushed at most once a second, and only when it changed.
"""

from __future__ import annotations

import asyncio

from risk import RiskEngine
from watchdog.daemon.durable import Durable
from watchdog.daemon.store import TraderRow

FLUSH_EVERY_S = 1.0

Saved = tuple[float | None, float | None, float | None]


class RiskFlush:
    def __init__(
        self, trader: str, engine: RiskEngine, durable: Durable, row: TraderRow | None
    ) -> None:
        self._trader = trader
        self._engine = engine
        self._durable = durable
        self._timer: asyncio.TimerHandle | None = None
        self._saved: Saved | None = None
        if row is not None:
            self._saved = (row.high_water_mark, row.day_start_equity, row.day_start_ts)

    def soon(self) -> None:
        """Flush within a second (one timer, however many events come before it fires)."""
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_EVERY_S, self.now)

    def now(self) -> None:
        """Flush at once; a pending flush is then not needed."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        risk = self._engine.persisted()
        values: Saved = (risk.high_water_mark, risk.day_start_equity, risk.day_start_ts)
        if values == self._saved:
            return  # heartbeats alone change nothing durable: no fsync for them
        if self._durable.write(lambda s: s.save_risk(self._trader, *values)):
            self._saved = values

    def close(self) -> None:
        """Write what is still pending: nothing the engine measured is lost on shutdown."""
        if self._timer is not None:
            self.now()
