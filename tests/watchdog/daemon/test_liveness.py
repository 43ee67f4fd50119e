"""Trader death is seen through the pidfd at once (psutil where pidfds are missing)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tests.watchdog.daemon import fake_systemctl
from watchdog.daemon.config import ProcessTarget
from watchdog.daemon.liveness import ProcessWatch, read_pidfile, unit_main_pid


async def _wait(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), 10)


@pytest.mark.parametrize("use_pidfd", [True, False])
async def test_death_of_the_watched_process_is_reported_once(
    tmp_path: Path, use_pidfd: bool
) -> None:
    process = await asyncio.create_subprocess_exec("sleep", "600")
    pidfile = tmp_path / "t.pid"
    pidfile.write_text(f"{process.pid}\n")
    exits: list[int] = []
    died = asyncio.Event()

    def on_exit(pid: int) -> None:
        exits.append(pid)
        died.set()

    # use_pidfd=False: the fallback path, as on a kernel without pidfds.
    watch = ProcessWatch(ProcessTarget(pidfile=pidfile), on_exit, use_pidfd=use_pidfd)
    assert await watch.attach() == process.pid
    assert watch.alive()
    os.kill(process.pid, signal.SIGKILL)
    await _wait(died)
    assert exits == [process.pid]
    assert not watch.alive()
    await process.wait()
    watch.close()


async def test_a_stopped_process_is_alive_and_a_zombie_is_not() -> None:
    process = await asyncio.create_subprocess_exec("sleep", "600")
    watch = ProcessWatch(ProcessTarget(pid=process.pid), lambda pid: None)
    await watch.attach()
    os.kill(process.pid, signal.SIGSTOP)
    assert watch.alive()  # hung is not dead: the heartbeat deadline handles it
    os.kill(process.pid, signal.SIGKILL)
    assert await watch.wait_exit(10)
    assert not watch.alive()  # not reaped yet (a zombie), already dead for us
    await process.wait()
    watch.close()


async def test_a_pid_file_older_than_its_process_is_stale(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec("sleep", "600")
    path = tmp_path / "p"
    path.write_text(f"{process.pid}\n")
    assert read_pidfile(path) == process.pid
    # Written an hour before this process started: the pid was recycled.
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    assert read_pidfile(path) is None
    process.kill()
    await process.wait()


def test_pid_files_are_read_strictly(tmp_path: Path) -> None:
    path = tmp_path / "p"
    assert read_pidfile(path) is None
    for text, pid in (("4194000\n", 4194000), ("1\n", None), ("12a", None), ("", None)):
        path.write_text(text)
        assert read_pidfile(path) == pid


async def test_a_unit_pid_comes_from_systemctl_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    systemctl = fake_systemctl.install(tmp_path, monkeypatch)
    assert await unit_main_pid("trader.service") is None  # not running: MainPID=0
    systemctl.run_unit(4242)
    assert await unit_main_pid("trader.service") == 4242
    assert systemctl.calls()[-1] == "show -p MainPID --value trader.service"


async def test_without_systemctl_a_unit_has_no_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert await unit_main_pid("trader.service") is None
