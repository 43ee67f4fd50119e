"""Trader death seen at once: a pidfd in the event loop, not a timeout.

`os.pidfd_open` gives a descriptor that becomes readable the instant the process exits; the
loop watches it with `add_reader`, so death costs no polling and no thread. The descriptor
also pins the process identity: signals sent through it can never hit a recycled pid. Where
pidfds are missing (old kernels, other systems) a thread blocks in `psutil.Process.wait`.
The pid comes from the config, a pid file, or `systemctl show -p MainPID <unit>`.

A pid is not the trader until something ties it to the trader (`Identity`): a unit's main pid
is the unit's process; a configured pid or a pid file's pid is tied only once the kernel
reports it as the sender of the trader's authentic telemetry (`SCM_CREDENTIALS`, see
`unixcred`). Only a tied process is watched and signalled; a trader whose process is not tied
is "unknown", which its supervisor holds HALTED and a stop step never verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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
_RESOLVE_EVERY_S = 0.2  # an untied trader's pid file is re-read at most this often


@dataclass(frozen=True)
class Candidate:
    """The pid the config points at now (not yet tied to the trader), or why there is none."""

    pid: int | None
    source: str  # "pid", "pidfile <path>", "unit <name>"
    problem: str = ""
    cmdline: str | None = None  # its command line, read when the config ties by it
    started: float | None = None  # the start time of the process whose command line it is


def read_pidfile(path: Path) -> int | None:
    return pidfile_candidate(path).pid


def pidfile_candidate(path: Path) -> Candidate:
    """The pid in `path`, or why not: absent, garbage, or stale (the pid now names a process
    that started after the file was written, so it cannot be the one that wrote it: signals
    meant for the trader must never reach a recycled pid)."""
    source = f"pidfile {path}"
    try:
        text = path.read_text(encoding="ascii").strip()
        written = path.stat().st_mtime
    except FileNotFoundError:
        return Candidate(None, source, f"{source} does not exist")
    except (OSError, UnicodeDecodeError) as exc:
        return Candidate(None, source, f"{source} cannot be read: {exc}")
    if not text.isdigit() or int(text) <= 1:
        return Candidate(None, source, f"{source} holds no pid: {text[:20]!r}")
    pid = int(text)
    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return Candidate(pid, source)  # gone: nothing can tie it, or it exited while tied
    if started > written + _PIDFILE_SLACK_S:
        log_event(_log, logging.WARNING, "stale_pidfile", path=str(path), pid=pid)
        return Candidate(None, source, f"{source} is stale: pid {pid} started after it was written")
    return Candidate(pid, source)


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


async def resolve(target: ProcessTarget) -> Candidate:
    if target.unit is not None:
        source = f"unit {target.unit}"
        pid = await unit_main_pid(target.unit)
        if pid is None:
            why = f"{source} has no main pid (not running, unknown, or systemd unreachable)"
            return Candidate(None, source, why)
        return Candidate(pid, source)
    return resolve_local(target)


def resolve_local(target: ProcessTarget) -> Candidate:
    """A configured pid or a pid file: no subprocess, cheap enough for the datagram path."""
    if target.pid is not None:
        candidate = Candidate(target.pid, "pid")
    elif target.pidfile is not None:
        candidate = pidfile_candidate(target.pidfile)
    else:
        return Candidate(None, "", "no pid, pidfile or unit is configured")
    return with_cmdline(candidate) if target.cmdline is not None else candidate


def with_cmdline(candidate: Candidate) -> Candidate:
    """The candidate with its process's command line and start time, or why they cannot be
    read (no such process, a zombie, no permission): then nothing ties it."""
    pid, source = candidate.pid, candidate.source
    if pid is None:
        return candidate
    named = f"pid {pid} ({source})"
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            if process.status() == psutil.STATUS_ZOMBIE:
                return Candidate(pid, source, f"{named} names an exited process (a zombie)")
            return replace(
                candidate, cmdline=" ".join(process.cmdline()), started=process.create_time()
            )
    except psutil.NoSuchProcess:
        return Candidate(pid, source, f"{named} names no running process")
    except psutil.AccessDenied:
        return Candidate(pid, source, f"{named}: its command line cannot be read (permission)")


@dataclass(frozen=True)
class Identity:
    """Whether the watchdog knows which process is the trader, through what, or why not."""

    known: bool
    pid: int | None  # the tied process when known; the one the config names when not
    via: str  # what ties it: "unit_main_pid", "sender_pid" or "cmdline"; "" when unknown
    reason: str  # why it is unknown; "" when known
    required: bool = True  # False: no process configured, nothing to stop or watch

    def as_dict(self) -> dict[str, Any]:
        return {
            "known": self.known,
            "required": self.required,
            "pid": self.pid,
            "via": self.via,
            "reason": self.reason,
        }


NOT_CONFIGURED = Identity(False, None, "", "no pid, pidfile or unit is configured", False)
_NOT_HEARD = -1  # no authentic datagram yet (None: heard, without a kernel sender pid)


def tie(target: ProcessTarget, candidate: Candidate, sender: int | None) -> Identity:
    """Pure: is the candidate pid the trader? A unit's main pid is; any other pid only when
    it is the kernel-reported sender of the trader's authentic telemetry."""
    if not target.configured:
        return NOT_CONFIGURED
    pid = candidate.pid
    if pid is None:
        heard = f" (the trader's telemetry comes from pid {sender})" if sender else ""
        return Identity(False, None, "", candidate.problem + heard)
    if target.unit is not None:
        return Identity(True, pid, "unit_main_pid", "")
    if target.cmdline is not None:
        return _tie_by_cmdline(target.cmdline, candidate)
    named = f"pid {pid} ({candidate.source})"
    if sender == _NOT_HEARD:
        why = f"nothing ties {named} to the trader yet: no telemetry from it"
    elif sender is None:
        why = (
            f"nothing ties {named} to the trader: its telemetry carries no sender pid "
            "(UDP, or another pid namespace); configure its unit, or use the Unix socket"
        )
    elif sender != pid:
        why = f"{named} is not the trader: the trader's telemetry comes from pid {sender}"
    else:
        return Identity(True, pid, "sender_pid", "")
    return Identity(False, pid, "", why)


def _tie_by_cmdline(expected: str, candidate: Candidate) -> Identity:
    """A trader that sends no telemetry: its pid is the trader when that process runs and its
    command line contains the configured text (read by `with_cmdline`)."""
    pid, cmdline = candidate.pid, candidate.cmdline
    if cmdline is None:
        return Identity(False, pid, "", candidate.problem or f"pid {pid}: command line not read")
    if expected not in cmdline:
        why = (
            f"pid {pid} ({candidate.source}) is not the trader: its command line "
            f"does not contain {expected!r}"
        )
        return Identity(False, pid, "", why)
    return Identity(True, pid, "cmdline", "")


def pidfd_exited(fd: int) -> bool:
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


class ProcessWatch:
    """Ties one trader to its process, watches that process, calls `on_exit(pid)` once when
    it dies and `on_identity(identity)` whenever what is known about it changes."""

    def __init__(
        self,
        target: ProcessTarget,
        on_exit: Callable[[int], None],
        *,
        use_pidfd: bool | None = None,  # None: pidfds when the kernel has them
        on_identity: Callable[[Identity], None] | None = None,
    ) -> None:
        self.target = target
        self._on_exit = on_exit
        self._on_identity = on_identity
        self._pid: int | None = None  # the tied process being watched
        self._fd: int | None = None
        self._started: float | None = None  # its start time (psutil), against pid reuse
        self._exited = False  # the tied process is gone (seen exiting, or found gone)
        self._thread_watch: asyncio.Future[None] | None = None
        self._use_pidfd = pidfds_supported() if use_pidfd is None else use_pidfd
        self._identity = tie(target, Candidate(None, "", "not resolved yet"), _NOT_HEARD)
        self._sender: int | None = _NOT_HEARD
        self._sender_wall = 0.0
        self._resolved_at = float("-inf")  # loop time of the last local re-resolve

    @property
    def pid(self) -> int | None:
        """The process tied to the trader (None when unknown): the only one ever signalled."""
        return self._pid

    @property
    def identity(self) -> Identity:
        return self._identity

    async def attach(self) -> int | None:
        """Resolve what the config names, tie it if something does, and watch it."""
        self._settle(await resolve(self.target))
        return self._pid

    def observe_sender(self, pid: int | None) -> bool:
        """The kernel's sender pid of an authentic datagram (None: it gave none). Ties or
        unties at once for a pid or pid file; True when a unit must be re-resolved (async)."""
        if not self.target.configured:
            return False  # nothing to tie: no pid, pid file or unit
        unchanged = pid == self._sender
        # The system's wall clock, not an injected one: it is compared with the kernel's
        # process start times (pid reuse), which are on that clock.
        self._sender, self._sender_wall = pid, time.time()
        if unchanged and self._identity.known and not self._exited:
            return False
        if self.target.unit is not None:
            return not self._identity.known
        now = asyncio.get_running_loop().time()
        if unchanged and now - self._resolved_at < _RESOLVE_EVERY_S:
            return False  # a flood from an untied sender costs one file read per interval
        self._resolved_at = now
        self._settle(resolve_local(self.target))
        return False

    def _settle(self, candidate: Candidate) -> None:
        identity = tie(self.target, candidate, self._sender)
        if not identity.known and self._exit_observed(candidate):
            return
        if identity.known and identity.pid is not None and self._needs_watch(identity.pid):
            self.close()
            identity = self._watch(identity, candidate.started)
        elif not identity.known:
            self.close()
        self._set_identity(identity)

    def _set_identity(self, identity: Identity) -> None:
        if identity != self._identity:
            self._identity = identity
            level = logging.INFO if identity.known or not identity.required else logging.ERROR
            log_event(_log, level, "trader_process_identity", **identity.as_dict())
            if self._on_identity is not None:
                self._on_identity(identity)

    def untie_exited(self) -> None:
        """The tied process has exited and no kill is verifying that exit (a re-arm, or a
        planned stop that ended): the trader's process is unknown again until one is tied,
        so a trader started again under the same pid file's old pid is never taken as
        watched."""
        pid = self._pid
        if not self._identity.known or pid is None or self.alive():
            return
        self.close()
        why = f"pid {pid}, the trader's tied process, has exited; no running process is tied"
        self._set_identity(Identity(False, pid, "", why))

    def _exit_observed(self, candidate: Candidate) -> bool:
        """Tied by its command line, the trader's process was seen to exit, and the config
        still names its pid: that exit stays the observed fact (the pid now names a zombie,
        nothing, or a stranger, none of them the trader) until another process is tied."""
        tied = self._pid
        return (
            self.target.cmdline is not None
            and tied is not None
            and candidate.pid == tied
            and self._identity.known
            and not self.alive()
        )

    def _needs_watch(self, pid: int) -> bool:
        """A newly tied pid, or the tied pid now naming a later process (reused by a trader
        that started again with the same pid)."""
        if pid != self._pid:
            return True
        return self._exited and _create_time(pid) not in (None, self._started)

    def _watch(self, identity: Identity, checked_started: float | None = None) -> Identity:
        """Pin the tied process (pidfd, or psutil) and check it is the one that was tied
        (`checked_started`: the start time of the process whose command line was checked)."""
        pid = identity.pid
        assert pid is not None
        try:
            process = psutil.Process(pid)
            started = process.create_time()
        except psutil.NoSuchProcess:
            return self._gone(identity)
        if identity.via == "sender_pid" and started > self._sender_wall + _PIDFILE_SLACK_S:
            why = f"pid {pid} was reused: its process started after the trader's last datagram"
            return Identity(False, pid, "", why)
        if identity.via == "cmdline" and started != checked_started:
            return Identity(False, pid, "", f"pid {pid} was reused after its command line was read")
        if self._use_pidfd:
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                return self._gone(identity)
            self._fd = fd
            asyncio.get_running_loop().add_reader(fd, self._pidfd_readable)
        else:
            loop = asyncio.get_running_loop()
            # The wait blocks a worker thread, never the loop; close() abandons it (it then
            # only ends with the process, holding nothing that matters).
            self._thread_watch = loop.run_in_executor(None, _wait_process, process)
            self._thread_watch.add_done_callback(lambda _: self._thread_exit(pid))
        now_started = _create_time(pid)  # None: it exited since, still pinned by the pidfd
        if self._fd is not None and now_started is not None and now_started != started:
            self.close()  # the pid was recycled between the check and the pidfd
            return Identity(False, pid, "", f"pid {pid} was reused while being watched")
        self._pid, self._started, self._exited = pid, started, False
        via = "pidfd" if self._fd is not None else "psutil"
        log_event(_log, logging.INFO, "watching_trader_process", pid=pid, via=via)
        return identity

    def _gone(self, identity: Identity) -> Identity:
        """The tied pid names no process: the trader's process has exited (a pid is reused
        only once its process is gone, and `alive` compares start times). Nothing to signal."""
        self._pid, self._started, self._exited = identity.pid, None, True
        log_event(_log, logging.WARNING, "trader_process_gone", pid=identity.pid)
        return identity

    def _pidfd_readable(self) -> None:
        pid = self._pid
        self._exited = True
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
        if pid is not None:
            self._on_exit(pid)

    def _thread_exit(self, pid: int) -> None:
        if self._pid == pid:
            self._exited = True
            self._on_exit(pid)

    def alive(self) -> bool:
        """Whether the tied process still runs (a zombie counts as dead; so does a pid that
        now names a later process)."""
        if self._fd is not None:
            return not pidfd_exited(self._fd)
        if self._pid is None:
            return False
        return _psutil_alive(self._pid) and _create_time(self._pid) == self._started

    async def wait_exit(self, wait_s: float) -> bool:
        """Wait up to `wait_s` for the tied process to exit; True if it has."""
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
        """Signal the tied process only: through its pidfd, which can never reach a recycled
        pid, or by pid after checking it still names the process that was tied."""
        with contextlib.suppress(ProcessLookupError):
            if self._fd is not None:
                signal.pidfd_send_signal(self._fd, signum)
            elif self._pid is not None and self.alive():
                os.kill(self._pid, signum)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
        self._fd, self._pid, self._started, self._thread_watch = None, None, None, None
        self._exited = False


def _create_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.NoSuchProcess:
        return None


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
