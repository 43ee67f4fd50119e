"""sd_notify: no-op without NOTIFY_SOCKET; abstract names; WATCHDOG_USEC and WATCHDOG_PID."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from watchdog.daemon.sdnotify import Notifier


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.send("READY=1")


def test_messages_reach_an_abstract_socket() -> None:
    name = f"wd-sdnotify-test-{os.getpid()}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind("\0" + name)
    notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
    notifier.ready("ACTIVE")
    assert receiver.recv(4096) == b"READY=1\nSTATUS=ACTIVE"
    notifier.close()
    receiver.close()


def test_the_keepalive_interval_is_half_the_watchdog_timeout() -> None:
    env = {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "2000000"}
    assert Notifier(env).interval_s == 1.0
    other = {**env, "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier(other).interval_s is None  # meant for another process


def test_a_vanished_notify_socket_never_raises(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert not notifier.send("WATCHDOG=1")


async def test_keepalives_only_while_healthy(tmp_path: Path) -> None:
    path = tmp_path / "n.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.setblocking(False)
    notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "20000"})
    healthy = [False]
    task = asyncio.create_task(notifier.keepalive(lambda: healthy[0]))
    await asyncio.sleep(0.1)  # five periods while unhealthy: nothing may be sent
    try:
        receiver.recv(100)
        raised = False
    except BlockingIOError:
        raised = True
    assert raised
    healthy[0] = True
    loop = asyncio.get_running_loop()
    assert await asyncio.wait_for(loop.sock_recv(receiver, 100), 10) == b"WATCHDOG=1"
    task.cancel()
    receiver.close()
