"""Alert webhooks: JSON POSTs through the process's one `ClientSession`, explicit timeouts.

`notify` never blocks and never raises: it queues (bounded; overflow is counted and logged)
and a worker task delivers with retries. The kill's own alert is a kill action instead, so
its delivery is retried until verified like every other step.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from typing import Any

import aiohttp

from watchdog.backoff import backoff_delay
from watchdog.clock import Clock
from watchdog.daemon.config import AlertConfig
from watchdog.logs import log_event

_log = logging.getLogger("watchdog.alerts")
_QUEUE_SIZE = 1000


class Alerter:
    def __init__(
        self, config: AlertConfig, clock: Clock, host: str, *, rng: random.Random | None = None
    ) -> None:
        self.webhooks = config.webhooks
        self._rng = rng or random.Random()
        self._config = config
        self._clock = clock
        self._host = host
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_QUEUE_SIZE)
        self._session: aiohttp.ClientSession | None = None
        self.dropped = 0

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._config.timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def notify(self, kind: str, trader: str, **detail: Any) -> None:
        """Queue an alert; returns at once whatever the webhooks do."""
        payload = {
            "kind": kind,
            "trader": trader,
            "ts": self._clock.wall(),
            "host": self._host,
            **detail,
        }
        log_event(_log, logging.WARNING, "alert", **payload)
        if not self.webhooks:
            return
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            self.dropped += 1
            log_event(_log, logging.ERROR, "alert_dropped", kind=kind, trader=trader)

    async def run(self) -> None:
        """Deliver queued alerts, each with retries, one after the other."""
        while True:
            payload = await self._queue.get()
            pending = list(self.webhooks)
            for attempt in range(self._config.retries + 1):
                pending = [u for u in pending if u not in await self.post_once(pending, payload)]
                if not pending:
                    break
                await asyncio.sleep(
                    backoff_delay(attempt, initial_s=0.2, max_s=5.0, draw=self._rng.random)
                )
            if pending:
                log_event(
                    _log,
                    logging.ERROR,
                    "alert_undelivered",
                    webhooks=len(pending),
                    kind=payload["kind"],
                )

    async def post_once(self, urls: Sequence[str], payload: dict[str, Any]) -> set[str]:
        """POST to each URL concurrently once; the URLs that answered 2xx."""
        results = await asyncio.gather(*(self._post(url, payload) for url in urls))
        return {url for url, ok in zip(urls, results, strict=True) if ok}

    def _label(self, url: str) -> str:
        """Webhook URLs often embed a token: logs name them by position only."""
        return f"webhooks[{self.webhooks.index(url)}]" if url in self.webhooks else "webhook"

    async def _post(self, url: str, payload: dict[str, Any]) -> bool:
        if self._session is None:
            return False
        try:
            async with self._session.post(url, json=payload) as response:
                ok = 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError) as exc:
            log_event(
                _log,
                logging.WARNING,
                "webhook_failed",
                webhook=self._label(url),
                error=type(exc).__name__,
            )
            return False
        if not ok:
            log_event(
                _log,
                logging.WARNING,
                "webhook_failed",
                webhook=self._label(url),
                status=response.status,
            )
        return ok
