"""`Client`: the client for a synchronous bot (a ccxt script, a strategy callback).

Thread-safe: `report_*`, `state` and `check_order` may be called from any thread. Heartbeats
and acks are handled by the client's own daemon thread, started by the constructor and stopped
by `close()` (or the `with` block). What can breach a limit is sent from the caller's thread at
once, on a non-blocking socket: what a full socket cannot take waits in a bounded backlog for
the next try, and a missing watchdog is retried by the heartbeat thread; the caller never
waits on the network. The `on_state_change` callback runs on the heartbeat thread.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections import deque

from killswitch_client._core import ClientCore
from killswitch_client._sockets import connected_socket

_RECEIVE_SIZE = 2048  # an ack is far smaller than the largest datagram (1400 bytes)


class Client(ClientCore):
    """`Client(trader_id=..., address=..., key_file=...)`, `Client.from_file(path)`, or
    `Client(config=ClientConfig(...))`. Heartbeats start at once."""

    def _init_shell(self) -> None:
        self._sock: socket.socket | None = None
        self._broken = False  # a send failed: the heartbeat thread reopens the socket
        self._backlog: deque[tuple[bytes, int]] = deque()  # sealed, not yet taken by the socket
        self._backlog_events = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._heartbeat_loop, name="killswitch-heartbeat", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop heartbeats (the watchdog will notice) and close the socket."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        with self._lock:
            self._drop_socket()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- sending ----------------------------------------------------------------------------

    def _urgent(self) -> None:
        self.flush(heartbeat=False)

    def flush(self, *, heartbeat: bool = True) -> None:
        """Send everything buffered now (with a heartbeat event), without waiting.

        Datagrams the socket has no room for wait in a bounded backlog, in order, for the next
        try (the next report or heartbeat): a burst outruns the watchdog's receive queue, and
        an order event must not be lost to it. Without a working socket the buffers are kept
        (bounded) for when the watchdog is back.
        """
        with self._lock:
            sock = self._sock
            if sock is None or self._broken:
                return
            for group in self._take(heartbeat=heartbeat):
                self._queue(self._seal(group), len(group))
            self._send_backlog(sock)

    def _queue(self, data: bytes, events: int) -> None:
        backlog = self._backlog
        backlog.append((data, events))
        self._backlog_events += events
        while self._backlog_events > self.config.max_pending_orders and len(backlog) > 1:
            _, lost = backlog.popleft()
            self._backlog_events -= lost
            self.counters.dropped += lost

    def _send_backlog(self, sock: socket.socket) -> None:
        backlog = self._backlog
        while backlog:
            data, events = backlog[0]
            try:
                sock.send(data)
            except BlockingIOError:
                return  # no room: the next report or heartbeat tries again, never waits
            except OSError as exc:  # no watchdog there: reopen at the next heartbeat
                self._send_error(exc)
                self._broken = True
                return
            backlog.popleft()
            self._backlog_events -= events
            self.counters.sent += 1
            self.counters.events_sent += events

    def _drop_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- the heartbeat thread -----------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            sock = self._sock if self._sock is not None and not self._broken else self._connect()
            next_at = self._heartbeat(next_at, time.monotonic)
            self._receive_until(sock, next_at)

    def _connect(self) -> socket.socket | None:
        """(Re)open the socket; only this thread closes one, so a select never sees it go."""
        with self._lock:
            self._drop_socket()
            self._broken = False
        try:
            sock = connected_socket(self.config.address)
        except OSError as exc:
            self._send_error(exc)
            return None
        with self._lock:
            self._sock = sock
        return sock

    def _receive_until(self, sock: socket.socket | None, deadline: float) -> None:
        """Read acks until `deadline` (monotonic), or just wait when there is no socket."""
        while (timeout := deadline - time.monotonic()) > 0 and not self._stop.is_set():
            if sock is None:
                self._stop.wait(timeout)
                return
            readable, _, _ = select.select([sock], [], [], timeout)
            if readable:
                self._read_acks(sock)

    def _read_acks(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(_RECEIVE_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:  # the watchdog went away: reopen at the next heartbeat
                self._send_error(exc)
                self._broken = True
                return
            self._on_datagram(data)
