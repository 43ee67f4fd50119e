"""The kill pipeline: latch first, actions concurrently, retried until verified, resumable."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from risk.limits import parse_limits
from tests.support.logs import JsonLines
from watchdog.clock import SystemClock
from watchdog.daemon.alerts import Alerter
from watchdog.daemon.config import AlertConfig, KillConfig, ProcessTarget, TraderConfig, TraderKill
from watchdog.daemon.durable import Durable
from watchdog.daemon.errors import KillStepError
from watchdog.daemon.kill import KillAction, KillContext, KillPipeline
from watchdog.daemon.liveness import ProcessWatch
from watchdog.daemon.metrics import Metrics
from watchdog.daemon.store import Store

TRADER = TraderConfig(
    id="alpha",
    hmac_key=b"k" * 32,
    limits=parse_limits('profile = "standard"\n', "test"),
    process=ProcessTarget(),
    credential_file=None,
    kill_group=None,
    kill=TraderKill(),
    venue=None,
)


class RecordingAction:
    """Fails `failures` times, then verifies; records what it saw of the latch at each try."""

    def __init__(
        self, name: str, store: Store, failures: int = 0, gate: asyncio.Event | None = None
    ):
        self.name = name
        self._store = store
        self._failures = failures
        self._gate = gate
        self.attempts = 0
        self.latched_at_attempt: list[bool] = []
        self.done = False

    async def attempt(self) -> str:
        row = self._store.trader("alpha")
        self.latched_at_attempt.append(row is not None and row.latched)
        self.attempts += 1
        if self._gate is not None:
            await self._gate.wait()
        if self.attempts <= self._failures:
            raise KillStepError(f"{self.name} failed on try {self.attempts}")
        self.done = True
        return f"{self.name} done"

    async def verify(self) -> bool:
        return self.done


class Harness:
    def __init__(
        self, tmp_path: Path, deadline_s: float = 5.0, extra: tuple[Any, ...] = ()
    ) -> None:
        self.store = Store(tmp_path / "w.sqlite3", busy_timeout_ms=10)
        self.store_failures: list[str] = []
        self.durable = Durable(self.store, self.store_failures.append)
        self.actions: dict[str, RecordingAction] = {}
        self.group: asyncio.TaskGroup | None = None
        self.pipeline = KillPipeline(
            clock=SystemClock(),
            durable=self.durable,
            alerter=Alerter(AlertConfig(), SystemClock(), "test"),
            metrics=Metrics(),
            config=KillConfig(deadline_s=deadline_s, backoff_initial_s=0.001, backoff_max_s=0.01),
            factories=[self._factory("first"), self._factory("second"), *extra],
            spawn=self._spawn,
        )

    def _factory(self, name: str) -> Any:
        def build(context: KillContext) -> KillAction | None:
            return self.actions.get(name)

        return build

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        assert self.group is not None
        self.group.create_task(coroutine)

    def start(self) -> str:
        return self.pipeline.start(
            TRADER, ProcessWatch(ProcessTarget(), lambda pid: None), "manual", "test kill", 0.0
        ).kill_id


async def test_the_latch_is_durable_before_any_action_runs(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.actions = {
        "first": RecordingAction("first", h.store),
        "second": RecordingAction("second", h.store),
    }
    async with asyncio.TaskGroup() as h.group:
        kill_id = h.start()
    assert h.actions["first"].latched_at_attempt == [True]
    assert h.actions["second"].latched_at_attempt == [True]
    assert h.store.unfinished_kills() == []
    assert {s.status for s in h.store.kill(kill_id).steps} == {"verified"}


async def test_a_failing_action_is_retried_and_each_attempt_audited(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.actions = {"first": RecordingAction("first", h.store, failures=3)}
    async with asyncio.TaskGroup() as h.group:
        kill_id = h.start()
    assert h.actions["first"].attempts == 4
    (step,) = h.store.kill(kill_id).steps
    assert (step.status, step.attempts) == ("verified", 4)
    kinds = [e.kind for e in h.store.audit_since(0)]
    assert kinds.count("kill_step_attempt") == 3
    assert kinds[-2:] == ["kill_step_verified", "kill_finished"]
    failed = [e.detail for e in h.store.audit_since(0) if e.kind == "kill_step_attempt"]
    assert failed[0]["result"] == "failed"
    assert "try 1" in failed[0]["detail"]
    assert all(d["duration_s"] >= 0 for d in failed)


async def test_actions_run_concurrently_so_a_stuck_one_does_not_delay_the_others(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    gate = asyncio.Event()
    h.actions = {
        "first": RecordingAction("first", h.store, gate=gate),
        "second": RecordingAction("second", h.store),
    }
    async with asyncio.TaskGroup() as h.group:
        kill_id = h.start()
        await wait_for(lambda: h.actions["second"].done)
        assert not h.actions["first"].done
        assert h.pipeline.running("alpha")
        gate.set()
    assert not h.pipeline.running("alpha")
    assert h.store.kill(kill_id).finished_ts is not None


class BuggyAction:
    """Raises something no action should (a bug) twice, then works."""

    name = "buggy"

    def __init__(self) -> None:
        self.attempts = 0

    async def attempt(self) -> str:
        self.attempts += 1
        if self.attempts <= 2:
            raise ZeroDivisionError("a bug in the action")
        return "fine now"

    async def verify(self) -> bool:
        return self.attempts > 2


async def test_a_buggy_action_neither_stops_the_others_nor_is_abandoned(tmp_path: Path) -> None:
    buggy = BuggyAction()
    h = Harness(tmp_path, extra=(lambda context: buggy,))
    h.actions = {"second": RecordingAction("second", h.store)}
    async with asyncio.TaskGroup() as h.group:
        kill_id = h.start()
    assert h.actions["second"].done
    assert buggy.attempts == 3
    steps = {s.step: s for s in h.store.kill(kill_id).steps}
    assert (steps["buggy"].status, steps["buggy"].attempts) == ("verified", 3)
    errors = [e.detail for e in h.store.audit_since(0) if e.detail.get("result") == "error"]
    assert errors[0]["detail"] == "ZeroDivisionError: a bug in the action"


async def test_a_step_past_its_deadline_escalates_once_and_keeps_trying(tmp_path: Path) -> None:
    h = Harness(tmp_path, deadline_s=0.001)
    h.actions = {"first": RecordingAction("first", h.store, failures=8)}
    async with asyncio.TaskGroup() as h.group:
        h.start()
    kinds = [e.kind for e in h.store.audit_since(0)]
    assert kinds.count("kill_step_escalated") == 1
    assert h.actions["first"].attempts == 9


async def test_a_resumed_kill_runs_only_the_unverified_steps(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.store.begin_kill("k1", "alpha", "drawdown", 1.0, ["first", "second"], {})
    h.store.record_step("k1", "alpha", "first", 2.0, True, {"detail": "done before restart"})
    h.actions = {
        "first": RecordingAction("first", h.store),
        "second": RecordingAction("second", h.store),
    }
    (record,) = h.store.unfinished_kills()
    async with asyncio.TaskGroup() as h.group:
        h.pipeline.resume(record, TRADER, ProcessWatch(ProcessTarget(), lambda pid: None))
    assert h.actions["first"].attempts == 0
    assert h.actions["second"].attempts == 1
    assert h.store.unfinished_kills() == []


async def test_a_resumed_kill_with_a_step_it_cannot_run_is_never_finished(
    tmp_path: Path,
) -> None:
    # The step's action is no longer configured: nothing verified it, so nothing says "done".
    h = Harness(tmp_path)
    h.store.begin_kill("k1", "alpha", "drawdown", 1.0, ["first", "gone"], {})
    h.actions = {"first": RecordingAction("first", h.store)}
    (record,) = h.store.unfinished_kills()
    async with asyncio.TaskGroup() as h.group:
        h.pipeline.resume(record, TRADER, ProcessWatch(ProcessTarget(), lambda pid: None))
    assert h.actions["first"].done
    (unfinished,) = h.store.unfinished_kills()
    assert {s.step: s.status for s in unfinished.steps}["gone"] != "verified"
    (incomplete,) = [e.detail for e in h.store.audit_since(0) if e.kind == "kill_incomplete"]
    assert incomplete["steps"] == ["gone"]


async def test_a_kill_with_no_action_at_all_is_never_reported_verified(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    async with asyncio.TaskGroup() as h.group:
        h.start()
    assert len(h.store.unfinished_kills()) == 1
    kinds = [e.kind for e in h.store.audit_since(0)]
    assert "kill_incomplete" in kinds
    assert "kill_finished" not in kinds


async def test_a_store_failure_during_the_kill_does_not_stop_it(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.actions = {"first": RecordingAction("first", h.store)}
    # Another writer holds the database: every write of ours now fails (SQLITE_BUSY).
    locker = sqlite3.connect(tmp_path / "w.sqlite3", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    async with asyncio.TaskGroup() as h.group:
        h.start()
    locker.execute("ROLLBACK")
    assert h.actions["first"].done
    assert not h.durable.healthy
    assert len(h.store_failures) == 1  # reported once, not per write
    assert "locked" in h.durable.last_error


async def wait_for(condition: Any, within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.005)


async def test_every_line_of_a_kill_names_its_trader_and_kill_id(
    tmp_path: Path, json_logs: JsonLines
) -> None:
    h = Harness(tmp_path)
    h.actions = {"first": RecordingAction("first", h.store, failures=1)}
    async with asyncio.TaskGroup() as h.group:
        kill_id = h.start()
    lines = [line for line in json_logs() if line["event"] in ("kill_step", "kill_verified")]
    assert [line["event"] for line in lines] == ["kill_step", "kill_step", "kill_verified"]
    assert {(line["trader"], line["kill_id"]) for line in lines} == {("alpha", kill_id)}
