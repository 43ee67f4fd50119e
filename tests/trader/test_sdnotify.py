"""The systemd notify protocol against a real AF_UNIX datagram socket."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from trader.sdnotify import SdNotifier


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    try:
        yield sock, path
    finally:
        sock.close()


def test_ready_watchdog_and_stopping_reach_the_socket(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    notifier = SdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    assert notifier.ready("trading")
    assert notifier.watchdog()
    assert notifier.stopping("bye")
    got = [sock.recv(256).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=trading", "WATCHDOG=1", "STOPPING=1\nSTATUS=bye"]
    assert notifier.watchdog_interval() == 1.0


def test_an_abstract_socket_name_is_supported() -> None:
    name = f"trader-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert SdNotifier({"NOTIFY_SOCKET": "@" + name}).watchdog()
        assert sock.recv(64) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = SdNotifier({})
    assert not notifier.enabled
    assert not notifier.ready("x")
    assert notifier.watchdog_interval() is None


def test_a_watchdog_pid_for_another_process_is_ignored() -> None:
    notifier = SdNotifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert notifier.watchdog_interval() is None


def test_a_vanished_socket_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    assert not SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).watchdog()
