"""The systemd notify protocol against real AF_UNIX datagram sockets."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchdog.sdnotify import SdNotifier, keepalive_interval, notify_address


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    try:
        yield sock, path
    finally:
        sock.close()


def test_ready_watchdog_status_and_stopping_reach_the_socket(
    receiver: tuple[socket.socket, str],
) -> None:
    sock, path = receiver
    notifier = SdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    assert notifier.ready("trading")
    assert notifier.watchdog()
    assert notifier.status("HALTED")
    assert notifier.stopping("bye")
    got = [sock.recv(256).decode() for _ in range(4)]
    assert got == [
        "READY=1\nSTATUS=trading",
        "WATCHDOG=1",
        "STATUS=HALTED",
        "STOPPING=1\nSTATUS=bye",
    ]
    assert notifier.interval_s == 1.0
    notifier.close()


def test_messages_reach_an_abstract_socket() -> None:
    name = f"sdnotify-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    notifier = SdNotifier({"NOTIFY_SOCKET": "@" + name})
    try:
        assert notifier.ready("ACTIVE")
        assert sock.recv(64) == b"READY=1\nSTATUS=ACTIVE"
    finally:
        notifier.close()
        sock.close()


@pytest.mark.parametrize("raw", ["notify.sock", "./notify.sock", "run/notify.sock", "@"])
def test_a_relative_or_empty_socket_name_is_refused_not_guessed(
    raw: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A socket bound at the relative path exists in the working directory: a sender that
    # accepted relative names would reach it. systemd never hands one over.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    bound = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if raw != "@":
        bound.bind(raw)
    bound.setblocking(False)
    notifier = SdNotifier({"NOTIFY_SOCKET": raw})
    try:
        assert not notifier.enabled
        assert not notifier.ready("x")
        with pytest.raises(BlockingIOError):
            bound.recv(64)
    finally:
        bound.close()
    assert [r.getMessage() for r in caplog.records] == ["sd_notify_socket_refused"]
    assert caplog.records[0].levelname == "ERROR"


def test_the_accepted_addresses_are_absolute_paths_and_abstract_names() -> None:
    assert notify_address("/run/systemd/notify") == "/run/systemd/notify"
    assert notify_address("@abstract") == "\0abstract"
    assert notify_address("") is None


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = SdNotifier({"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled
    assert not notifier.ready("x")
    assert not notifier.watchdog()


def test_the_keepalive_interval_is_half_the_watchdog_timeout_for_this_process() -> None:
    env = {"WATCHDOG_USEC": "2000000"}
    assert keepalive_interval(env, 42) == 1.0
    assert keepalive_interval({**env, "WATCHDOG_PID": "42"}, 42) == 1.0
    assert keepalive_interval({**env, "WATCHDOG_PID": "43"}, 42) is None  # another process's
    assert keepalive_interval({"WATCHDOG_USEC": "0"}, 42) is None
    assert keepalive_interval({"WATCHDOG_USEC": "soon"}, 42) is None
    assert keepalive_interval({}, 42) is None


def test_a_vanished_socket_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    notifier = SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert not notifier.watchdog()


async def test_keepalives_only_while_healthy(tmp_path: Path) -> None:
    path = tmp_path / "n.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.setblocking(False)
    notifier = SdNotifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "20000"})
    healthy = [False]
    task = asyncio.create_task(notifier.keepalive(lambda: healthy[0]))
    await asyncio.sleep(0.1)  # five periods while unhealthy: nothing may be sent
    with pytest.raises(BlockingIOError):
        receiver.recv(100)
    healthy[0] = True
    loop = asyncio.get_running_loop()
    assert await asyncio.wait_for(loop.sock_recv(receiver, 100), 10) == b"WATCHDOG=1"
    task.cancel()
    notifier.close()
    receiver.close()


async def test_the_keepalive_returns_at_once_when_systemd_asks_for_none(tmp_path: Path) -> None:
    notifier = SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "n.sock")})
    await asyncio.wait_for(notifier.keepalive(), 5)
