"""The venue's dead man's switch: keep ``countdownCancelAll`` armed for every traded symbol.

Three layers: the trader is watched by the watchdog, the watchdog by the venue. If the watchdog
dies, or cannot reach the venue for a whole countdown, the venue cancels every open order of
those symbols on its own. Refreshed every countdown/3 by default, so two refreshes in a row
may fail before the venue acts. Disarmed only on a clean shutdown, and only when configured.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from watchdog.clock import Clock
from watchdog.venues.base import CountdownAck
from watchdog.venues.errors import VenueError

log = logging.getLogger(__name__)


class CountdownVenue(Protocol):
    async def countdown_cancel_all(self, symbol: str, countdown_ms: int) -> CountdownAck: ...


@dataclass(frozen=True, slots=True)
class DmsSettings:
    countdown_ms: int = 10_000
    refresh_s: float | None = None  # None: countdown / 3
    disarm_on_shutdown: bool = False

    def __post_init__(self) -> None:
        if not 1_000 <= self.countdown_ms <= 3_600_000:
            raise ValueError(f"countdown_ms must be in 1000..3600000, got {self.countdown_ms}")
        if self.refresh_s is not None and not 0 < self.refresh_s < self.countdown_ms / 1000 / 2:
            raise ValueError("refresh_s must be > 0 and under half the countdown")

    @property
    def refresh_interval_s(self) -> float:
        return self.refresh_s if self.refresh_s is not None else self.countdown_ms / 3000.0


@dataclass(frozen=True, slots=True)
class DmsStatus:
    ok: bool
    detail: str
    refreshed_wall: float | None  # last time every symbol was confirmed armed


class DeadMansSwitch:
    def __init__(
        self,
        venue: CountdownVenue,
        symbols: Sequence[str],
        settings: DmsSettings,
        *,
        clock: Clock,
        on_status: Callable[[DmsStatus], None],
    ) -> None:
        if not symbols:
            raise ValueError("the dead man's switch needs at least one symbol")
        self._venue = venue
        self._symbols = tuple(dict.fromkeys(symbols))
        self._settings = settings
        self._clock = clock
        self._on_status = on_status
        self._refreshed_wall: float | None = None
        self._expires_at: float | None = None
        self._last: DmsStatus | None = None

    @property
    def settings(self) -> DmsSettings:
        return self._settings

    @property
    def refreshed_wall(self) -> float | None:
        return self._refreshed_wall

    @property
    def expires_at(self) -> float | None:
        """The earliest the venue may run out of countdown, from the last confirmed refresh:
        its send time plus the countdown (the venue starts counting on arrival, later)."""
        return self._expires_at

    @property
    def last(self) -> DmsStatus | None:
        """The last refresh's outcome; None before the first."""
        return self._last

    async def refresh(self) -> DmsStatus:
        """Arm every symbol again; a symbol whose answer does not confirm it is a failure."""
        sent = self._clock.wall()
        status = await self._set_all(self._settings.countdown_ms)
        if status.ok:
            self._refreshed_wall = self._clock.wall()
            self._expires_at = sent + self._settings.countdown_ms / 1000.0
            status = DmsStatus(True, status.detail, self._refreshed_wall)
        else:
            log.error("dms_refresh_failed", extra={"detail": status.detail})
        self._last = status
        self._on_status(status)
        return status

    async def disarm(self) -> DmsStatus:
        status = await self._set_all(0)
        if status.ok:
            self._expires_at = None
        self._on_status(DmsStatus(status.ok, f"disarm: {status.detail}", self._refreshed_wall))
        return status

    async def _set_all(self, countdown_ms: int) -> DmsStatus:
        results = await asyncio.gather(
            *(self._set(s, countdown_ms) for s in self._symbols), return_exceptions=True
        )
        problems: list[str] = []
        for symbol, result in zip(self._symbols, results, strict=True):
            if isinstance(result, VenueError):
                problems.append(f"{symbol}: {type(result).__name__}: {result}")
            elif isinstance(result, BaseException):
                raise result  # not a venue answer: a bug, let it surface
            elif (result.symbol, result.countdown_ms) != (symbol, countdown_ms):
                problems.append(f"{symbol}: venue confirmed {result.symbol} {result.countdown_ms}")
        armed = f"{countdown_ms} ms on {', '.join(self._symbols)}"
        return DmsStatus(not problems, "; ".join(problems) or armed, self._refreshed_wall)

    async def _set(self, symbol: str, countdown_ms: int) -> CountdownAck:
        return await self._venue.countdown_cancel_all(symbol, countdown_ms)
