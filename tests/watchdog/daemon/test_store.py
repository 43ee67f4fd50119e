"""The store: latch, risk references, kill progress and audit survive restarts and kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from killswitch_client.protocol import GuardMark

from watchdog.daemon.errors import StoreError
from watchdog.daemon.store import Store


def test_a_kill_latches_the_trader_and_records_its_steps(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.sqlite3")
    store.begin_kill("k1", "alpha", "drawdown: hard", 100.0, ["stop_process", "alert"], {})
    store.record_step("k1", "alpha", "stop_process", 101.0, True, {"detail": "pid 7 exited"})
    store.close()

    reopened = Store(tmp_path / "w.sqlite3")
    row = reopened.trader("alpha")
    assert row is not None
    assert (row.latched, row.latch_reason) == (True, "drawdown: hard")
    (kill,) = reopened.unfinished_kills()
    steps = {step.step: step for step in kill.steps}
    assert steps["stop_process"].status == "verified"
    assert steps["stop_process"].attempts == 1
    assert steps["alert"].status == "pending"
    kinds = [entry.kind for entry in reopened.audit_since(0)]
    assert kinds == ["kill_started", "kill_step_verified"]


def test_finishing_a_kill_leaves_the_latch_until_it_is_cleared(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.sqlite3")
    store.begin_kill("k1", "alpha", "manual", 1.0, [], {})
    store.finish_kill("k1", "alpha", 2.0)
    assert store.unfinished_kills() == []
    row = store.trader("alpha")
    assert row is not None
    assert row.latched
    store.clear_latch("alpha", 3.0, {"operator": "ops"})
    row = store.trader("alpha")
    assert row is not None
    assert not row.latched
    assert store.audit_since(2.5)[0].kind == "rearm_accepted"


def test_a_rearm_closes_a_kill_left_open_and_records_what_was_never_verified(
    tmp_path: Path,
) -> None:
    # Without it, a kill a person finished by hand would be resumed (and alerted) forever.
    store = Store(tmp_path / "w.sqlite3")
    store.begin_kill("k1", "alpha", "manual", 1.0, ["stop_process", "revoke_credential"], {})
    store.record_step("k1", "alpha", "revoke_credential", 2.0, True, {"detail": "replaced"})
    store.clear_latch("alpha", 3.0, {"operator": "ops", "reason": "stopped it by hand"})
    assert store.unfinished_kills() == []
    (closed,) = [e.detail for e in store.audit_since(0) if e.kind == "kill_closed_by_rearm"]
    assert closed == {"kill_id": "k1", "unverified": ["stop_process"]}
    store.close()


def test_risk_references_are_saved_without_touching_the_latch(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.sqlite3")
    store.begin_kill("k1", "alpha", "manual", 1.0, [], {})
    store.save_risk("alpha", 1200.0, 1000.0, 50.0)
    row = store.trader("alpha")
    assert row is not None
    assert (row.latched, row.high_water_mark, row.day_start_equity) == (True, 1200.0, 1000.0)


def test_a_maintenance_window_is_saved_with_its_audit_and_closed(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.sqlite3")
    store.save_risk("alpha", 1200.0, 1000.0, 50.0)
    store.save_maintenance("alpha", 900.0, "deploy", 300.0, "maintenance_started", {"x": 1})
    store.close()
    reopened = Store(tmp_path / "w.sqlite3")
    row = reopened.trader("alpha")
    assert row is not None
    assert (row.maintenance_until, row.maintenance_reason) == (900.0, "deploy")
    assert row.high_water_mark == 1200.0  # the window leaves the risk references alone
    reopened.save_maintenance("alpha", None, "", 400.0, "maintenance_ended", {})
    row = reopened.trader("alpha")
    assert row is not None
    assert row.maintenance_until is None
    kinds = [entry.kind for entry in reopened.audit_since(0)]
    assert kinds == ["maintenance_started", "maintenance_ended"]


def test_a_database_from_before_maintenance_windows_gains_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE traders (
            trader TEXT PRIMARY KEY, latched INTEGER NOT NULL DEFAULT 0,
            latch_reason TEXT NOT NULL DEFAULT '', latch_ts REAL, high_water_mark REAL,
            day_start_equity REAL, day_start_ts REAL
        );
        INSERT INTO traders (trader, latched, latch_reason) VALUES ('alpha', 1, 'manual');
        """
    )
    old.close()
    store = Store(path)
    row = store.trader("alpha")
    assert row is not None
    assert (row.latched, row.latch_reason, row.maintenance_until) == (True, "manual", None)


def test_the_database_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    Store(tmp_path / "w.sqlite3").close()
    db = sqlite3.connect(tmp_path / "w.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_state_dir_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open or write"):
        Store(tmp_path / "file" / "w.sqlite3")


def test_one_store_per_state_dir(tmp_path: Path) -> None:
    first = Store(tmp_path / "w.sqlite3")
    with pytest.raises(StoreError, match="another watchdog process holds its lock"):
        Store(tmp_path / "w.sqlite3")
    first.close()
    Store(tmp_path / "w.sqlite3").close()


def test_a_database_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    (tmp_path / "w.sqlite3").write_bytes(b"garbage" * 1000)
    with pytest.raises(StoreError, match=r"w\.sqlite3"):
        Store(tmp_path / "w.sqlite3")


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from watchdog.daemon.store import Store

    store = Store(Path(sys.argv[1]))
    n = 0
    while True:
        n += 1
        store.begin_kill(f"k{n}", f"t{n}", "r", float(n), ["a", "b"], {})
        store.record_step(f"k{n}", f"t{n}", "a", float(n), True, {"detail": "x" * 200})
        if n == 20:
            print("writing", flush=True)
    """
)


def test_kill_9_in_the_middle_of_writes_leaves_a_consistent_database(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "writing"
    time.sleep(0.2)  # let it get well into a stream of commits: the kill lands mid-write
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    store = Store(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kills = db.execute("SELECT COUNT(*) FROM kills").fetchone()[0]
    latched = db.execute("SELECT COUNT(*) FROM traders WHERE latched = 1").fetchone()[0]
    steps = db.execute("SELECT COUNT(*) FROM kill_steps").fetchone()[0]
    assert kills >= 20
    # Each kill's latch, row and steps were committed together or not at all.
    assert latched == kills
    assert steps == 2 * kills
    assert len(store.unfinished_kills()) == kills


def test_session_marks_survive_a_reopen_and_a_u64_mark_fits(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.sqlite3")
    assert store.session_marks() == {}
    store.save_session_mark("alpha", GuardMark(b"\x01" * 16, 1024))
    store.save_session_mark("alpha", GuardMark(b"\x02" * 16, 2**64 - 1))
    store.save_session_mark("beta", GuardMark(b"\x03" * 16, 7))
    store.close()
    reopened = Store(tmp_path / "w.sqlite3")
    assert reopened.session_marks() == {
        "alpha": GuardMark(b"\x02" * 16, 2**64 - 1),
        "beta": GuardMark(b"\x03" * 16, 7),
    }
    reopened.close()


def test_a_corrupt_session_mark_is_a_store_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.sqlite3")
    store.close()
    with sqlite3.connect(tmp_path / "w.sqlite3") as db:
        db.execute("INSERT INTO sessions VALUES ('alpha', x'01', 'many')")
    reopened = Store(tmp_path / "w.sqlite3")
    with pytest.raises(StoreError, match="sessions row 'alpha' is corrupt"):
        reopened.session_marks()
    reopened.close()
