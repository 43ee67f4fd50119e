"""Trader death seen at once: a pidfd in the event loop, not a timeout.

`os.pidfd_open` gives a descriptor that becomes readable the instant the process exits; the
loop watches it with `add_reader`, so death costs no polling and no thread. The descriptor
also pins the process identity: signals sent through it can never hit a recycled pid. Where
pidfds are missing (old kernels, other systems) a thread blocks in `psutil.Process.wait`.
The pid comes from the config, a pid file, or `systemctl show -p MainPID <unit>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import psutil

from watchdog.daemon.config import ProcessTarget
from watchdog.logs import log_event

_log = logging.getLogger("watchdog.liveness")


def pidfds_supported() -> bool:
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


_PIDFILE_SLACK_S = 1.0  # file system timestamp granularity and clock steps


def read_pidfile(path: Path) -> int | None:
    """The pid in `path`, or None: absent, garbage, or stale (the pid now names a process
    that started after the file was written, so it cannot be the one that wrote it: signals
    meant for the trader must never reach a recycled pid)."""
    try:
        text = path.read_text(encoding="ascii").strip()
        written = path.stat().st_mtime
    except (OSError, UnicodeDecodeError):
        return None
    if not text.isdigit() or int(text) <= 1:
        return None
    pid = int(text)
    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return pid  # gone: attaching finds nothing, stopping has nothing to do
    if started > written + _PIDFILE_SLACK_S:
        log_event(_log, logging.WARNING, "stale_pidfile", path=str(path), pid=pid)
        return None
    return pid


async def unit_main_pid(unit: str, wait_s: float = 5.0) -> int | None:
    """The unit's main pid, or None when it is not running (or systemd is unreachable)."""
    output = await run_systemctl(["show", "-p", "MainPID", "--value", unit], wait_s)
    if output is None:
        return None
    text = output.strip()
    return int(text) if text.isdigit() and int(text) > 1 else None


async def run_systemctl(args: list[str], wait_s: float) -> str | None:
    """Run systemctl; None when it is missing, fails or does not answer in time."""
    binary = shutil.which("systemctl")
    if binary is None:
        return None
    process = await asyncio.create_subprocess_exec(
        binary, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), wait_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        return None
    return stdout.decode(errors="replace") if process.returncode == 0 else None


async def resolve_pid(target: ProcessTarget) -> int | None:
    if target.pid is not None:
        return target.pid
    if target.pidfile is not None:
        return read_pidfile(target.pidfile)
    if target.unit is not None:
        return await unit_main_pid(target.unit)
    return None


def pidfd_exited(fd: int) -> bool:
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


class ProcessWatch:
    """Watches one trader's process; calls `on_exit(pid)` once when it dies."""

    def __init__(
        self,
        target: ProcessTarget,
        on_exit: Callable[[int], None],
        *,
        use_pidfd: bool | None = None,  # None: pidfds when the kernel has them
    ) -> None:
        self.target = target
        self._on_exit = on_exit
        self._pid: int | None = None
        self._fd: int | None = None
        self._thread_watch: asyncio.Future[None] | None = None
        self._use_pidfd = pidfds_supported() if use_pidfd is None else use_pidfd

    @property
    def pid(self) -> int | None:
        return self._pid

    async def attach(self) -> int | None:
        """(Re)resolve the pid and watch it; None when no process is running now."""
        pid = await resolve_pid(self.target)
        if pid is None or pid == self._pid:
            return self._pid if pid is not None else None
        self.close()
        if self._use_pidfd:
            self._attach_pidfd(pid)
        else:
            self._attach_thread(pid)
        return self._pid

    def _attach_pidfd(self, pid: int) -> None:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            log_event(_log, logging.WARNING, "trader_process_absent", pid=pid)
            return
        self._pid, self._fd = pid, fd
        asyncio.get_running_loop().add_reader(fd, self._pidfd_readable)
        log_event(_log, logging.INFO, "watching_trader_process", pid=pid, via="pidfd")

    def _pidfd_readable(self) -> None:
        pid = self._pid
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
        if pid is not None:
            self._on_exit(pid)

    def _attach_thread(self, pid: int) -> None:
        try:
            process = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return
        self._pid = pid
        loop = asyncio.get_running_loop()
        # The wait blocks a worker thread, never the loop; close() abandons it (it then only
        # ends with the process, holding nothing that matters).
        self._thread_watch = loop.run_in_executor(None, _wait_process, process)
        self._thread_watch.add_done_callback(lambda _: self._thread_exit(pid))
        log_event(_log, logging.INFO, "watching_trader_process", pid=pid, via="psutil")

    def _thread_exit(self, pid: int) -> None:
        if self._pid == pid:
            self._on_exit(pid)

    def alive(self) -> bool:
        """Whether the watched process still runs (a zombie counts as dead)."""
        if self._fd is not None:
            return not pidfd_exited(self._fd)
        if self._pid is None:
            return False
        return _psutil_alive(self._pid)

    async def wait_exit(self, wait_s: float) -> bool:
        """Wait up to `wait_s` for the watched process to exit; True if it has."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while self.alive():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            if self._fd is not None:
                await _readable(self._fd, remaining)
            else:
                await asyncio.sleep(min(0.02, remaining))  # psutil fallback only
        return True

    def send_signal(self, signum: signal.Signals) -> None:
        """Signal through the pidfd when there is one: it can never reach a recycled pid."""
        with contextlib.suppress(ProcessLookupError):
            if self._fd is not None:
                signal.pidfd_send_signal(self._fd, signum)
            elif self._pid is not None:
                os.kill(self._pid, signum)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
        self._fd, self._pid, self._thread_watch = None, None, None


def _wait_process(process: psutil.Process) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        process.wait()


def _psutil_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def _readable(fd: int, wait_s: float) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    # A second reader on the same fd would replace the watcher's: use a dup.
    dup = os.dup(fd)

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(dup, wake)
    try:
        await asyncio.wait_for(ready, wait_s)
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(dup)
        os.close(dup)
