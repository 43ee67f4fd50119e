"""A trader that sends no telemetry: a pid or pid file's pid is tied by its command line."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from watchdog.daemon.config import ProcessTarget
from watchdog.daemon.liveness import Candidate, Identity, ProcessWatch, tie

NOT_HEARD = -1
MARK = "600.125"  # an argument no other process on the machine has


@pytest.fixture
async def bot() -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec("sleep", MARK)
    yield process
    if process.returncode is None:
        process.kill()
        await process.wait()


async def test_a_running_pid_whose_command_line_matches_is_tied_and_its_death_seen(
    bot: asyncio.subprocess.Process, tmp_path: Path
) -> None:
    pidfile = tmp_path / "bot.pid"
    pidfile.write_text(f"{bot.pid}\n")
    died = asyncio.Event()
    watch = ProcessWatch(
        ProcessTarget(pidfile=pidfile, cmdline=f"sleep {MARK}"), lambda pid: died.set()
    )
    assert await watch.attach() == bot.pid
    assert watch.identity == Identity(True, bot.pid, "cmdline", "")
    bot.send_signal(signal.SIGKILL)
    await asyncio.wait_for(died.wait(), 10)
    assert not watch.alive()
    watch.close()


async def test_a_pid_whose_command_line_does_not_match_is_unknown(
    bot: asyncio.subprocess.Process,
) -> None:
    watch = ProcessWatch(ProcessTarget(pid=bot.pid, cmdline="my_bot.py"), lambda pid: None)
    assert await watch.attach() is None
    assert not watch.identity.known
    assert "does not contain 'my_bot.py'" in watch.identity.reason
    assert not watch.alive()  # nothing is watched, so nothing could be signalled
    watch.close()


async def test_a_pid_that_names_no_process_is_unknown(bot: asyncio.subprocess.Process) -> None:
    bot.kill()
    await bot.wait()
    watch = ProcessWatch(ProcessTarget(pid=bot.pid, cmdline="sleep"), lambda pid: None)
    assert await watch.attach() is None
    assert f"pid {bot.pid} (pid) names no running process" in watch.identity.reason
    watch.close()


def test_a_candidate_whose_command_line_was_not_read_is_never_tied() -> None:
    target = ProcessTarget(pid=4242, cmdline="bot")
    unread = Candidate(4242, "pid", "pid 4242 (pid): its command line cannot be read (permission)")
    identity = tie(target, unread, NOT_HEARD)
    assert (identity.known, identity.required) == (False, True)
    assert "cannot be read" in identity.reason
    assert tie(target, Candidate(None, "pid", "gone"), 4242).known is False


async def test_a_tied_process_that_exited_stays_an_observed_exit_when_looked_up_again(
    bot: asyncio.subprocess.Process,
) -> None:
    died = asyncio.Event()
    watch = ProcessWatch(ProcessTarget(pid=bot.pid, cmdline=MARK), lambda pid: died.set())
    assert await watch.attach() == bot.pid
    bot.send_signal(signal.SIGKILL)
    await asyncio.wait_for(died.wait(), 10)  # not reaped: the pid names a zombie
    await watch.attach()  # what the stop step does before it verifies
    assert watch.identity == Identity(True, bot.pid, "cmdline", "")
    assert not watch.alive()
    watch.close()


async def test_an_exited_process_untied_outside_a_kill_is_unknown_until_another_is_tied(
    bot: asyncio.subprocess.Process, tmp_path: Path
) -> None:
    died = asyncio.Event()
    pidfile = tmp_path / "bot.pid"
    pidfile.write_text(f"{bot.pid}\n")
    watch = ProcessWatch(ProcessTarget(pidfile=pidfile, cmdline=MARK), lambda pid: died.set())
    assert await watch.attach() == bot.pid
    bot.send_signal(signal.SIGKILL)
    await asyncio.wait_for(died.wait(), 10)
    watch.untie_exited()
    assert not watch.identity.known
    assert f"pid {bot.pid}, the trader's tied process, has exited" in watch.identity.reason
    assert await watch.attach() is None  # the pid file still names the dead bot
    again = await asyncio.create_subprocess_exec("sleep", MARK)
    pidfile.write_text(f"{again.pid}\n")
    assert await watch.attach() == again.pid
    again.kill()
    await again.wait()
    watch.close()
