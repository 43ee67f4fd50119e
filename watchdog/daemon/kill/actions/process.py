"""Stop the trader: SIGTERM (+SIGCONT so a stopped process sees it), SIGKILL after the grace.

With a systemd unit the unit is stopped through systemctl, so systemd does not restart it and
its whole cgroup goes; the pid watch still confirms the main process is gone.

Only the process tied to the trader (`liveness.Identity`) is ever signalled, and only its
observed exit verifies the step: with the trader's process unknown the step fails, stays
unverified and escalates, whatever a pid file says.
"""

from __future__ import annotations

import signal

from watchdog.daemon.errors import KillStepError
from watchdog.daemon.kill.action import KillAction, KillContext
from watchdog.daemon.liveness import ProcessWatch, run_systemctl

_SIGKILL_WAIT_S = 2.0


class StopProcess:
    name = "stop_process"

    def __init__(self, process: ProcessWatch, grace_s: float) -> None:
        self._process = process
        self._grace_s = grace_s

    async def attempt(self) -> str:
        await self._process.attach()  # a pid file may name a newer process than we watch
        identity = self._process.identity
        pid = self._process.pid
        if not identity.known or pid is None:
            # Nothing tied to the trader: signalling a guess could hit an innocent process,
            # and "nothing running" would be a guess too.
            raise KillStepError(f"trader process unknown, nothing signalled: {identity.reason}")
        if not self._process.alive():
            return f"pid {pid} ({identity.via}) has exited"
        self._process.send_signal(signal.SIGTERM)
        self._process.send_signal(signal.SIGCONT)
        if await self._process.wait_exit(self._grace_s):
            return f"pid {pid} exited after SIGTERM"
        self._process.send_signal(signal.SIGKILL)
        if await self._process.wait_exit(_SIGKILL_WAIT_S):
            return f"pid {pid} killed by SIGKILL after {self._grace_s:g}s grace"
        raise KillStepError(f"pid {pid} still alive after SIGKILL")

    async def verify(self) -> bool:
        """Only the exit of the process tied to the trader is seen as the trader stopped."""
        return self._process.identity.known and not self._process.alive()


class StopUnit:
    name = "stop_unit"

    def __init__(self, unit: str, process: ProcessWatch, timeout_s: float) -> None:
        self._unit = unit
        self._process = process
        self._timeout_s = timeout_s

    async def attempt(self) -> str:
        if await run_systemctl(["stop", self._unit], self._timeout_s) is None:
            raise KillStepError(f"systemctl stop {self._unit} failed or timed out")
        return f"systemctl stop {self._unit}"

    async def verify(self) -> bool:
        """systemd says the unit is loaded and stopped, and its main process is gone. A unit
        systemd does not know (a typo) reads "inactive" too: that is not a stopped trader."""
        loaded = await run_systemctl(["show", "-p", "LoadState", "--value", self._unit], 5.0)
        if loaded is None or loaded.strip() != "loaded":
            return False
        state = await run_systemctl(["show", "-p", "ActiveState", "--value", self._unit], 5.0)
        if state is None:
            return False
        return state.strip() in ("inactive", "failed") and not self._process.alive()


def stop_process_factory(context: KillContext) -> KillAction | None:
    trader = context.trader
    if not trader.kill.stop_process or not trader.process.configured:
        return None
    if trader.process.unit is not None:
        return StopUnit(trader.process.unit, context.process, trader.kill.stop_grace_s + 5.0)
    return StopProcess(context.process, trader.kill.stop_grace_s)
