"""Start a child process, wait for its ready file, stop it (SIGTERM then SIGKILL), always reap it.

Tests never sleep to wait: ``wait_ready_file`` polls the file with a generous deadline and fails
fast, with the child's log tail, if the child dies first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
"""The source tree: the working directory of the ``python -m`` children."""

POLL_S = 0.02


class ChildNotReadyError(RuntimeError):
    """A child did not become ready: it died, or the deadline passed. The log tail is included."""


@dataclass
class Child:
    """A running child process whose stdout and stderr go to ``log_path``."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    name: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL; returns the exit code (reaped)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                pass
        return self.kill()

    def kill(self) -> int:
        """SIGKILL (if still running) and reap."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()


def stop_all(stops: Iterable[Callable[[], object]], what: str) -> None:
    """Run every stop, even after one has failed, then raise what failed: a process left
    running by a hidden error would hold its ports and files into the next test."""
    errors: list[Exception] = []
    for stop in stops:
        try:
            stop()
        except Exception as exc:  # collected, then raised below: never hidden
            errors.append(exc)
    if errors:
        raise ExceptionGroup(f"{what}: {len(errors)} stop(s) failed", errors)


def run_module(
    module: str, *args: str, timeout_s: float = 120.0, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` from the source tree, run to its end; its output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env=dict(env) if env is not None else None,
    )


def run_into_a_closed_pipe(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run `argv` from the source tree, its stdout a pipe whose reader has already gone: what
    `| head -1` does once it has its line, without the race of a real `head`."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            list(argv),
            cwd=REPO,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)


def start_child(
    argv: Sequence[str],
    *,
    log_path: Path,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Child:
    log = log_path.open("ab")
    try:
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,  # a Ctrl-C on the test run reaches the child only through us
        )
    finally:
        log.close()
    return Child(proc, log_path, name or Path(argv[0]).name)


def start_module(
    module: str,
    *args: str,
    log_path: Path,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Child:
    """``python -m module args`` from the source tree, as the suite's own programs run."""
    argv = [sys.executable, "-m", module, *args]
    return start_child(argv, log_path=log_path, name=name or module, env=env, cwd=REPO)


def wait_ready_file(path: Path, child: Child, deadline_s: float = 30.0) -> dict[str, Any]:
    """Poll until ``path`` holds a JSON object; fail if the child exits or the deadline passes."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = None  # written atomically, so this is another writer's partial file
            if isinstance(data, dict):
                return data
        if not child.alive():
            raise ChildNotReadyError(
                f"{child.name} exited with {child.proc.returncode} before it was ready:\n"
                + child.log_tail()
            )
        time.sleep(POLL_S)
    child.kill()
    raise ChildNotReadyError(
        f"{child.name} not ready after {deadline_s}s (killed):\n{child.log_tail()}"
    )


@contextmanager
def reaped(child: Child) -> Iterator[Child]:
    """Yield the child; stop and reap it whatever happens in the block."""
    try:
        yield child
    finally:
        child.stop()


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
