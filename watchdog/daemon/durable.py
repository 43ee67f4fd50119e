"""Run-time guard around the store: a failed write must HALT and alert, never stop the kill.

At start a broken store makes the watchdog refuse to arm (`Store` raises). Once running, the
watchdog keeps enforcing limits and finishing kills from memory, reports itself unhealthy,
forces every trader to at least HALTED and alerts, so it never runs blind without saying so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from watchdog.daemon.errors import StoreError
from watchdog.daemon.store import Store
from watchdog.logs import log_event

_log = logging.getLogger("watchdog.store")


class Durable:
    def __init__(self, store: Store, on_failure: Callable[[str], None]) -> None:
        self.store = store
        self.healthy = True
        self.last_error = ""
        self._on_failure = on_failure
        self._audits: list[tuple[float, str, str, dict[str, Any]]] = []
        self._flush_handle: asyncio.Handle | None = None

    def audit_soon(self, ts: float, trader: str, kind: str, detail: dict[str, Any]) -> None:
        """Queue an audit entry; all entries of this loop iteration commit in one transaction.

        Why: when several traders cross a deadline at once their timers fire in the same
        iteration, and each one's kill must not wait behind the others' audit fsyncs. Only
        the latch (and kill progress) is written synchronously. The queue is flushed right
        after the ready callbacks, so a crash loses at most that one iteration's entries.
        """
        self._audits.append((ts, trader, kind, detail))
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_handle = None
        entries, self._audits = self._audits, []
        if entries:
            self.write(lambda s: s.audit_many(entries))

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
