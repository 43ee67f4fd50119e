"""Wait for a condition by polling it with a generous deadline (never a bare sleep)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable


async def send(sock: socket.socket, data: bytes) -> None:
    """Send one datagram without blocking the loop (a Unix datagram queue holds only ~10)."""
    await asyncio.get_running_loop().sock_sendall(sock, data)


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.002)
