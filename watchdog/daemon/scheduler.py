"""Daily reset of each trader's risk day, at the time and zone its limits configure.

APScheduler runs one date job per trader at `engine.next_daily_reset(now)`; the job resets and
books the next one. A reset that fell due while the watchdog was down is applied at start:
the persisted day start is older than the reset that should have followed it.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from watchdog.clock import Clock
from watchdog.daemon.supervisor import TraderSupervisor
from watchdog.logs import log_event

_log = logging.getLogger("watchdog.scheduler")


def reset_missed(supervisor: TraderSupervisor, clock: Clock) -> bool:
    """Apply the reset now if one fell due since the persisted day start; True if applied.

    The engine notices that on construction already; this books it (audit, persisted state).
    """
    restored = supervisor.restored_day_start
    if restored is None:
        return False
    due = supervisor.engine.next_daily_reset(restored)
    if due > clock.wall():
        return False
    log_event(_log, logging.WARNING, "missed_daily_reset", trader=supervisor.id, due=due)
    supervisor.daily_reset(missed_since=due)
    return True


class DailyResets:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._scheduler = AsyncIOScheduler(timezone=datetime.UTC)

    def start(self, supervisors: Iterable[TraderSupervisor]) -> None:
        for supervisor in supervisors:
            reset_missed(supervisor, self._clock)
            self._book(supervisor)
        self._scheduler.start()

    def next_run(self, trader: str) -> float | None:
        job = self._scheduler.get_job(f"daily-reset-{trader}")
        if job is None or job.next_run_time is None:
            return None
        return float(job.next_run_time.timestamp())

    def _book(self, supervisor: TraderSupervisor) -> None:
        due = supervisor.engine.next_daily_reset(self._clock.wall())
        self._scheduler.add_job(
            self._fire,
            "date",
            run_date=datetime.datetime.fromtimestamp(due, tz=datetime.UTC),
            args=[supervisor],
            id=f"daily-reset-{supervisor.id}",
            replace_existing=True,
            misfire_grace_time=None,  # late (loop stalled) is still better than never
        )

    async def _fire(self, supervisor: TraderSupervisor) -> None:
        # A coroutine job runs on the event loop; a plain function would run on a thread.
        supervisor.daily_reset()
        self._book(supervisor)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
