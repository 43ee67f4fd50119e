"""Child processes of the demo: each in its own process group, logging to a file.

Children get their own session so a Ctrl-C on the terminal reaches only the demo, which then
stops them in order. ``stop`` is idempotent and always reaps: nothing outlives the demo.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from demo.errors import StartError
from harness.wait import NotReachedError, wait_until

T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], within: float, what: str) -> T:
    """Poll ``condition`` until it returns a truthy value; a generous ``within`` is the cap. A
    timeout is the demo's ``StartError``, which the command line reports in one line."""
    try:
        return wait_until(condition, within, what)
    except NotReachedError as exc:
        raise StartError(str(exc)) from None


class Proc:
    """One started part: its ``Popen``, name and log file."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, cwd: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603 - argv is built by the demo, no shell
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, signum: signal.Signals) -> None:
        """Signal the process itself (not its group): what a crash or a hang looks like."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.popen.pid, signum)

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 5.0) -> int | None:
        """SIGCONT + SIGTERM to the group, SIGKILL after ``grace_s``; reaped either way."""
        if self.popen.poll() is None:
            self._signal_group(signal.SIGCONT)  # a stopped process must see the SIGTERM
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait()
        # Whatever the main process left in its group goes too.
        self._signal_group(signal.SIGKILL)
        return self.popen.returncode

    def _signal_group(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)


def wait_ready_file(path: Path, proc: Proc, within: float) -> dict[str, Any]:
    """The JSON a part writes once it listens; fails at once if the part exits first."""

    def ready() -> dict[str, Any] | None:
        if not proc.alive():
            raise StartError(f"{proc.name} exited with {proc.popen.returncode} while starting")
        try:
            value = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    return wait_for(ready, within, f"{proc.name} to be ready")
