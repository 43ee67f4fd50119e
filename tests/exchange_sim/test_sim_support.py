"""The helpers other tests rely on: child processes are always reaped, readiness fails fast."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness.procs import ChildNotReadyError, pid_exists, start_child, wait_ready_file
from harness.sim import SimProcess


def test_a_child_that_dies_before_ready_fails_fast_with_its_log(tmp_path: Path) -> None:
    child = start_child(
        [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], log_path=tmp_path / "log"
    )
    start = time.monotonic()
    with pytest.raises(ChildNotReadyError, match="exited with 3") as err:
        wait_ready_file(tmp_path / "never", child, deadline_s=30)
    assert "boom" in str(err.value)
    assert time.monotonic() - start < 20


def test_a_child_that_ignores_sigterm_is_killed_and_reaped(tmp_path: Path) -> None:
    code = "import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    code += f"pathlib.Path({str(tmp_path / 'r')!r}).write_text('{{}}'); time.sleep(60)"
    child = start_child([sys.executable, "-c", code], log_path=tmp_path / "log")
    wait_ready_file(tmp_path / "r", child)
    assert child.stop(timeout_s=0.5) == -9
    assert not pid_exists(child.pid)


def test_sim_stop_exits_cleanly_and_kill_reaps(tmp_path: Path) -> None:
    sim = SimProcess.start(tmp_path / "a")
    assert sim.admin.key_status(sim.trader_key.api_key)["status"] == "active"
    assert sim.stop() == 0
    other = SimProcess.start(tmp_path / "b")
    assert other.kill() == -9
    assert not pid_exists(other.pid)


async def test_the_async_admin_client(sim_process: SimProcess) -> None:
    async with sim_process.async_admin() as admin:
        await admin.set_fault(reject_orders=True)
        assert (await admin.key_status(sim_process.watchdog_key.api_key))["label"] == "watchdog"
        assert await admin.open_orders("trader1") == []
        assert len(await admin.positions("trader1")) == 2
        assert await admin.streams("stall", "market") == 0
        jumped = await admin.price_jump("ETHUSDT", 1)
        assert float(jumped["bid"]) > 0
        await admin.clear_faults()
        assert await admin.countdowns() == []
        found = await admin.wait_for_journal(lambda e: e["endpoint"] == "price_jump")
        assert found["detail"] == "ETHUSDT +1.0%"
        assert await admin.last_seq() >= found["seq"]
        entries = await admin.journal(since=0)
        assert [e["endpoint"] for e in entries if e["kind"] == "event"][:1] == ["faults_set"]
