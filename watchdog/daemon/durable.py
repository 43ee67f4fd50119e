"""Run-time guard around the store: a failed write must HALT and alert, never stop the kill.

At start a broken store makes the watchdog refuse to arm (`Store` raises). Once running, the
watchdog keeps enforcing limits and finishing kills from memory, reports itself unhealthy,
forces every trader to at least HALTED and alerts, so it never runs blind without saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from watchdog.daemon.errors import StoreError
from watchdog.daemon.logs import log_event
from watchdog.daemon.store import Store

_log = logging.getLogger("watchdog.store")


class Durable:
    def __init__(self, store: Store, on_failure: Callable[[str], None]) -> None:
        self.store = store
        self.healthy = True
        self.last_error = ""
        self._on_failure = on_failure

    def write(self, operation: Callable[[Store], None]) -> bool:
        """Apply one write; on failure mark the store unhealthy and report it once."""
        try:
            operation(self.store)
        except StoreError as exc:
            first = self.healthy
            self.healthy = False
            self.last_error = str(exc)
            log_event(_log, logging.ERROR, "store_write_failed", error=str(exc))
            if first:
                self._on_failure(str(exc))
            return False
        return True
