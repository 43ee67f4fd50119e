"""The control socket is checked on disk: ours, its mode, and never a telemetry group's."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.watchdog.daemon.conftest import setgid_directory
from watchdog.daemon.errors import StartupError
from watchdog.daemon.socketgroup import check_control_socket, creation_group, process_groups


@pytest.fixture
def bound() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="wd-") as root:  # short: Unix socket paths
        path = Path(root) / "control.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        try:
            yield path
        finally:
            sock.close()


def test_a_group_readable_control_socket_of_the_telemetry_group_is_refused(bound: Path) -> None:
    os.chmod(bound, 0o660)
    gid = os.lstat(bound).st_gid
    with pytest.raises(StartupError, match=r"group .* may also send telemetry"):
        check_control_socket(bound, 0o660, telemetry_gids={gid}, uid=os.geteuid())
    check_control_socket(bound, 0o660, telemetry_gids={gid + 1}, uid=os.geteuid())


def test_a_control_socket_of_another_group_than_the_one_checked_is_refused(bound: Path) -> None:
    os.chmod(bound, 0o660)
    gid = os.lstat(bound).st_gid
    with pytest.raises(StartupError, match="expected"):
        check_control_socket(bound, 0o660, telemetry_gids=set(), uid=os.geteuid(), group=gid + 1)
    check_control_socket(bound, 0o660, telemetry_gids=set(), uid=os.geteuid(), group=gid)


def test_the_groups_of_a_process_include_its_supplementary_ones() -> None:
    groups = process_groups(os.getpid())
    assert groups is not None
    assert {os.getegid(), *os.getgroups()} <= groups


def test_an_owner_only_control_socket_may_carry_any_group(bound: Path) -> None:
    os.chmod(bound, 0o600)
    gid = os.lstat(bound).st_gid
    check_control_socket(bound, 0o600, telemetry_gids={gid}, uid=os.geteuid())


def test_a_control_socket_not_ours_or_not_in_its_mode_is_refused(bound: Path) -> None:
    os.chmod(bound, 0o666)
    with pytest.raises(StartupError, match="mode 0666, not 0600"):
        check_control_socket(bound, 0o600, telemetry_gids=set(), uid=os.geteuid())
    with pytest.raises(StartupError, match=f"owned by uid {os.geteuid()}, not"):
        check_control_socket(bound, 0o666, telemetry_gids=set(), uid=os.geteuid() + 1)
    bound.unlink()
    bound.write_text("")
    with pytest.raises(StartupError, match="not a socket"):
        check_control_socket(bound, 0o600, telemetry_gids=set(), uid=os.geteuid())


def test_a_socket_takes_the_group_of_the_nearest_setgid_directory(tmp_path: Path) -> None:
    assert creation_group(tmp_path / "not" / "yet") == os.getegid()
    operators = setgid_directory(tmp_path / "operators", 4242)
    assert creation_group(operators / "sub") == 4242
