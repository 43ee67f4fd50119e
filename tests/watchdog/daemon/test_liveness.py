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
from watchdog.daemon.liveness import (
    NOT_CONFIGURED,
    Candidate,
    Identity,
    ProcessWatch,
    read_pidfile,
    tie,
    unit_main_pid,
)


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
    assert await watch.attach() is None  # named by the pid file, not yet tied to the trader
    watch.observe_sender(process.pid)  # its telemetry arrives from that pid: tied
    assert watch.pid == process.pid
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
    watch.observe_sender(process.pid)
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


UNIT = ProcessTarget(unit="trader.service")
PIDFILE = ProcessTarget(pidfile=Path("/run/t.pid"))
NAMED = Candidate(4242, "pidfile /run/t.pid")
NOT_HEARD = -1


@pytest.mark.parametrize(
    ("target", "candidate", "sender", "expected"),
    [
        (ProcessTarget(), Candidate(None, "", "x"), 4242, NOT_CONFIGURED),
        (
            UNIT,
            Candidate(4242, "unit trader.service"),
            None,
            Identity(True, 4242, "unit_main_pid", ""),
        ),
        (PIDFILE, NAMED, 4242, Identity(True, 4242, "sender_pid", "")),
    ],
)
def test_what_ties_a_pid_to_the_trader(
    target: ProcessTarget, candidate: Candidate, sender: int | None, expected: Identity
) -> None:
    assert tie(target, candidate, sender) == expected


@pytest.mark.parametrize(
    ("candidate", "sender", "why"),
    [
        (
            Candidate(None, "pidfile /run/t.pid", "pidfile /run/t.pid holds no pid: 'x'"),
            4242,
            "holds no pid",
        ),
        (NAMED, NOT_HEARD, "nothing ties pid 4242 (pidfile /run/t.pid) to the trader yet"),
        (NAMED, None, "its telemetry carries no sender pid"),
        (
            NAMED,
            777,
            "pid 4242 (pidfile /run/t.pid) is not the trader: the trader's telemetry "
            "comes from pid 777",
        ),
    ],
)
def test_a_pid_nothing_ties_to_the_trader_is_unknown(
    candidate: Candidate, sender: int | None, why: str
) -> None:
    identity = tie(PIDFILE, candidate, sender)
    assert not identity.known
    assert identity.required
    assert why in identity.reason


async def test_a_watched_process_is_dropped_when_the_telemetry_comes_from_another(
    tmp_path: Path,
) -> None:
    first = await asyncio.create_subprocess_exec("sleep", "600")
    pidfile = tmp_path / "t.pid"
    pidfile.write_text(f"{first.pid}\n")
    seen: list[Identity] = []
    watch = ProcessWatch(ProcessTarget(pidfile=pidfile), lambda pid: None, on_identity=seen.append)
    watch.observe_sender(first.pid)
    assert watch.identity.pid == first.pid
    watch.observe_sender(first.pid + 100_000)  # someone else now sends with the trader's key
    assert watch.pid is None
    assert not watch.alive()
    assert [identity.known for identity in seen] == [True, False]
    first.kill()
    await first.wait()
    watch.close()


async def test_a_unit_main_pid_ties_the_trader_without_telemetry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    systemctl = fake_systemctl.install(tmp_path, monkeypatch)
    watch = ProcessWatch(UNIT, lambda pid: None)
    assert await watch.attach() is None
    assert "unit trader.service has no main pid" in watch.identity.reason
    process = await asyncio.create_subprocess_exec("sleep", "600")
    systemctl.run_unit(process.pid)
    assert await watch.attach() == process.pid
    assert watch.identity == Identity(True, process.pid, "unit_main_pid", "")
    process.kill()
    await process.wait()
    watch.close()
