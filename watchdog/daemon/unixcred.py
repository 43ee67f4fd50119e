"""A Unix datagram endpoint that reads, with every datagram, the pid of the process that sent it.

With `SO_PASSCRED` set on the receiving socket the kernel attaches the sender's credentials
(`SCM_CREDENTIALS`: pid, uid, gid) to each datagram. A sender cannot claim another process's
pid without `CAP_SYS_ADMIN`, so an authentic datagram ties the trader to the process that sent
it. asyncio's datagram transport reads with `recvfrom`, which drops ancillary data: this
endpoint reads with `recvmsg` and stands in for it (acks go out through `sendto`).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Any

_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid
_ANCILLARY_SIZE = socket.CMSG_SPACE(_UCRED.size)
_BUFFER_SIZE = 65536  # larger than any valid datagram: an oversized one is rejected whole
_READS_PER_WAKEUP = 64  # drain a burst in one wakeup, yet never starve the loop

# on_datagram(data, sender address, sender pid or None when the kernel gave none)
DatagramHandler = Callable[[bytes, Any, int | None], None]


def sender_pid(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """The pid in SCM_CREDENTIALS ancillary data; None when absent (or 0: another pid
    namespace, where the kernel cannot name the sender)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            if len(data) < _UCRED.size:
                return None
            pid = int(_UCRED.unpack_from(data)[0])
            return pid if pid > 0 else None
    return None


class CredentialEndpoint(asyncio.DatagramTransport):
    """Reads `sock` on the loop and hands every datagram over with its sender's pid."""

    def __init__(self, sock: socket.socket, on_error: Callable[[OSError], None]) -> None:
        super().__init__(extra={"socket": sock})
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._sock = sock
        self._on_error = on_error
        self._loop = asyncio.get_running_loop()
        self._closing = False

    def start(self, on_datagram: DatagramHandler) -> None:
        self._on_datagram = on_datagram
        self._loop.add_reader(self._sock.fileno(), self._read_ready)

    def _read_ready(self) -> None:
        for _ in range(_READS_PER_WAKEUP):
            try:
                data, ancillary, _, address = self._sock.recvmsg(_BUFFER_SIZE, _ANCILLARY_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # a pending socket error: counted, the socket stays open
                self._on_error(exc)
                return
            self._on_datagram(data, address, sender_pid(ancillary))

    def sendto(self, data: Any, addr: Any = None) -> None:
        """Best effort, never blocking: an ack that does not fit now is dropped and counted
        (the next one carries the newer state)."""
        if self._closing:
            return
        try:
            self._sock.sendto(data, addr)
        except OSError as exc:
            self._on_error(exc)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
