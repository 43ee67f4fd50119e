"""The venue's dead man's switch: keep it armed, as the venue itself confirms it.

Three layers: the trader is watched by the watchdog, the watchdog by the venue. If the watchdog
dies, or cannot reach the venue for a whole window, the venue cancels open orders on its own
(Binance: a countdown per traded symbol; OKX: one account-wide cancel-all-after countdown;
Bybit: DCP, counted from the moment the watchdog's last private stream is gone). Refreshed every
window/3 by default, so two refreshes in a row may fail before the venue acts. A venue or
account without the switch answers "unsupported": reported, never taken as armed. Disarmed only
on a clean shutdown, and only when configured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from watchdog.clock import Clock
from watchdog.venues.base import DmsMode, DmsState
from watchdog.venues.errors import VenueError

log = logging.getLogger(__name__)


class DmsVenue(Protocol):
    async def arm_dms(self, window_ms: int, symbols: Sequence[str]) -> DmsState: ...


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
    refreshed_wall: float | None  # last time the venue confirmed the switch armed
    supported: bool = True  # False: the venue said it has no such switch for this account


class DeadMansSwitch:
    def __init__(
        self,
        venue: DmsVenue,
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
        """Arm again; anything but the venue confirming the window asked for is a failure."""
        sent = self._clock.wall()
        status = await self._set(self._settings.countdown_ms, DmsMode.ARMED)
        if status.ok:
            self._refreshed_wall = self._clock.wall()
            self._expires_at = sent + self._settings.countdown_ms / 1000.0
            status = DmsStatus(True, status.detail, self._refreshed_wall)
        elif not status.supported:
            log.error("dms_unsupported", extra={"detail": status.detail})
        else:
            log.error("dms_refresh_failed", extra={"detail": status.detail})
        self._last = status
        self._on_status(status)
        return status

    async def disarm(self) -> DmsStatus:
        status = await self._set(0, DmsMode.OFF)
        if status.ok:
            self._expires_at = None
        self._on_status(
            DmsStatus(status.ok, f"disarm: {status.detail}", self._refreshed_wall, status.supported)
        )
        return status

    async def _set(self, window_ms: int, want: DmsMode) -> DmsStatus:
        try:
            state = await self._venue.arm_dms(window_ms, self._symbols)
        except VenueError as exc:
            return DmsStatus(False, f"{type(exc).__name__}: {exc}", self._refreshed_wall)
        if state.mode is DmsMode.UNSUPPORTED:
            detail = f"unsupported here: {state.detail}"
            return DmsStatus(False, detail, self._refreshed_wall, supported=False)
        if state.mode is not want or (want is DmsMode.ARMED and state.window_ms != window_ms):
            detail = f"asked {want} {window_ms} ms, venue confirmed {state.mode} {state.window_ms}"
            return DmsStatus(False, f"{detail}: {state.detail}", self._refreshed_wall)
        return DmsStatus(True, state.detail, self._refreshed_wall)
