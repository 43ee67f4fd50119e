"""The trader world stops every process it started, and says which stop failed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.procs import Child, start_child
from harness.trader_world import TraderProc, World


class FailingStop(Child):
    """A real child whose stop reports an error after the process is gone."""

    def stop(self, timeout_s: float = 10.0) -> int:
        super().stop(timeout_s)
        raise ChildProcessError(f"{self.name}: exit status unreadable")


def sleeper(tmp_path: Path, name: str) -> Child:
    argv = [sys.executable, "-c", "import time; time.sleep(600)"]
    return start_child(argv, log_path=tmp_path / f"{name}.log", name=name)


def test_a_failed_stop_is_raised_after_every_other_process_is_stopped(tmp_path: Path) -> None:
    world = World(tmp_path)
    trader = sleeper(tmp_path, "trader")
    world.trader = TraderProc(FailingStop(trader.proc, trader.log_path, trader.name), 0)
    world.watchdog = watchdog = sleeper(tmp_path, "watchdog")
    with pytest.raises(ExceptionGroup) as raised:
        world.stop()
    assert [str(e) for e in raised.value.exceptions] == ["trader: exit status unreadable"]
    assert not trader.alive()
    assert not watchdog.alive()
    assert not world.sim.child.alive()


def test_a_clean_stop_raises_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.watchdog = watchdog = sleeper(tmp_path, "watchdog")
    world.stop()
    assert not watchdog.alive()
    assert not world.sim.child.alive()
