"""systemd `Type=notify`: READY=1 once armed, WATCHDOG=1 only while healthy, STATUS=.

A no-op without `NOTIFY_SOCKET`. Abstract socket names (`@name`) are supported. The keepalive
is sent at half of `WATCHDOG_USEC` and only when the health check passes, so a stuck loop or a
dead ingress lets systemd's watchdog fire and restart us (the latch survives in SQLite).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

from watchdog.daemon.logs import log_event

_log = logging.getLogger("watchdog.sdnotify")


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _address(env.get("NOTIFY_SOCKET", ""))
        self.interval_s = _watchdog_interval(env)
        self._socket: socket.socket | None = None
        if self._address is not None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def send(self, *fields: str) -> bool:
        if self._socket is None or self._address is None:
            return False
        try:
            self._socket.sendto("\n".join(fields).encode(), self._address)
        except OSError as exc:
            # systemd gone or its queue full: never let that take the watchdog down.
            log_event(_log, logging.WARNING, "sd_notify_failed", error=exc.strerror)
            return False
        return True

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=shutting down")

    async def keepalive(self, healthy: Callable[[], bool]) -> None:
        """Send WATCHDOG=1 at half the systemd timeout while `healthy()` holds."""
        if self.interval_s is None or not self.enabled:
            return
        while True:
            if healthy():
                self.send("WATCHDOG=1")
            else:
                log_event(_log, logging.ERROR, "sd_watchdog_withheld")
            await asyncio.sleep(self.interval_s)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()


def _address(raw: str) -> str | None:
    if not raw:
        return None
    if raw.startswith("@"):
        return "\0" + raw[1:]
    return raw if raw.startswith("/") else None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process of the unit
    return int(usec) / 2 / 1_000_000
