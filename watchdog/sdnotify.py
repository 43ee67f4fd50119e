"""systemd ``Type=notify``, shared by the watchdog daemon and the trader.

READY=1 once the service does its job, STATUS= lines, STOPPING=1, and WATCHDOG=1 from a task of
its own (`SdNotifier.keepalive`) at half of ``WATCHDOG_USEC``, only while the caller's health
check holds. That task proves that the event loop runs: it must never wait on venue or other
I/O, so a slow venue cannot make systemd kill a healthy process, and a blocked loop stops the
pings so that systemd does.

Without ``NOTIFY_SOCKET`` every call is a no-op, so the processes run the same under systemd and
in a terminal. systemd hands over an absolute socket path or an abstract name (``@name``);
anything else is refused with an error line, never guessed at: a relative path would resolve
against whatever the working directory happens to be.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

from watchdog.logs import log_event

_log = logging.getLogger("watchdog.sdnotify")


def _always() -> bool:
    return True


class SdNotifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = notify_address(env.get("NOTIFY_SOCKET", ""))
        self.interval_s = keepalive_interval(env, os.getpid())
        self._socket: socket.socket | None = None
        if self._address is not None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def send(self, *fields: str) -> bool:
        """One datagram of newline-separated ``KEY=value`` fields; False when not delivered."""
        if self._socket is None or self._address is None:
            return False
        try:
            self._socket.sendto("\n".join(fields).encode(), self._address)
        except OSError as exc:
            # systemd gone or its queue full: its own watchdog notices; never crash on it.
            log_event(_log, logging.WARNING, "sd_notify_failed", error=exc.strerror)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def stopping(self, status: str = "shutting down") -> bool:
        return self.send("STOPPING=1", f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    async def keepalive(self, healthy: Callable[[], bool] = _always) -> None:
        """Send WATCHDOG=1 every `interval_s` while `healthy()` holds; returns if not asked for.

        Run it as its own task: each ping is proof that the loop ran it on time.
        """
        if self.interval_s is None or not self.enabled:
            return
        while True:
            if healthy():
                self.watchdog()
            else:
                log_event(_log, logging.ERROR, "sd_watchdog_withheld")
            await asyncio.sleep(self.interval_s)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def notify_address(raw: str) -> str | None:
    """The socket address for ``NOTIFY_SOCKET``: an absolute path or ``@abstract``, else None."""
    if not raw:
        return None
    if raw.startswith("@") and len(raw) > 1:
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    log_event(
        _log,
        logging.ERROR,
        "sd_notify_socket_refused",
        notify_socket=raw,
        reason="neither an absolute path nor an @abstract name: no notification is sent",
    )
    return None


def keepalive_interval(env: Mapping[str, str], pid: int) -> float | None:
    """Half of ``WATCHDOG_USEC`` in seconds, or None when the keepalive is not for `pid`."""
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and owner != str(pid):
        return None  # meant for another process of the unit
    return int(usec) / 2 / 1_000_000
