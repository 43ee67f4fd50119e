"""Daemons sysprep must tell about a change: irqbalance reads its banned CPUs only at start.

Behind the :class:`Services` seam so that tests record the calls instead of restarting
anything on the machine that runs them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Protocol

import psutil

from sysprep.errors import SysprepError

_TIMEOUT_S = 60.0


class ServiceError(SysprepError, OSError):
    """A service could not be checked or restarted; the message says what to do."""


class Services(Protocol):
    def running(self, name: str) -> bool: ...
    def restart(self, name: str) -> None: ...
    def started(self, name: str) -> float | None:
        """When the oldest process of that name started (epoch seconds); None: not running."""
        ...

    def manager_affinity(self) -> frozenset[int] | None:
        """The CPUs systemd (PID 1) may run services on; None when PID 1 is not systemd."""
        ...


def _see_everyone() -> None:
    """Under hidepid= or systemd's ProtectProc= other users' processes are invisible: an
    absent irqbalance would look the same as a hidden one."""
    if not Path("/proc/1").exists():
        raise ServiceError(
            "other users' processes are hidden here (hidepid= or ProtectProc=): run "
            "sysprep verify as root outside the unit to check"
        )


class RealServices:
    """Processes of this host; restarts through systemd when it is the init system."""

    def running(self, name: str) -> bool:
        return self.started(name) is not None

    def started(self, name: str) -> float | None:
        _see_everyone()
        try:
            times = [
                proc.info["create_time"]
                for proc in psutil.process_iter(["name", "create_time"])
                if proc.info["name"] == name
            ]
        except psutil.Error as err:
            raise ServiceError(f"cannot list processes to find {name}: {err}") from None
        return min(times) if times else None

    def manager_affinity(self) -> frozenset[int] | None:
        _see_everyone()
        try:
            init = psutil.Process(1)
            if init.name() != "systemd":
                return None
            return frozenset(init.cpu_affinity() or ())
        except psutil.Error as err:
            raise ServiceError(f"cannot read PID 1's CPU affinity: {err}") from None

    def restart(self, name: str) -> None:
        if not Path("/run/systemd/system").is_dir():
            raise ServiceError(
                f"{name} runs but systemd is not the init system here: restart {name} by hand"
            )
        try:
            done = subprocess.run(  # noqa: S603 (fixed argv, the name is ours)
                ["systemctl", "try-restart", f"{name}.service"],  # noqa: S607 (admin tool on PATH)
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise ServiceError(f"systemctl try-restart {name}.service: {err}") from None
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise ServiceError(f"systemctl try-restart {name}.service failed: {why}")
