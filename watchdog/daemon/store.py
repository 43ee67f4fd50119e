"""The watchdog's durable state: one SQLite database in WAL mode under the state dir.

Why synchronous calls on the event loop: a commit costs one fsync of the WAL (well under a
millisecond on an SSD), and the writes are rare: a decision *change*, a kill step result, a
re-arm. The per-event hot path (ingress -> risk) never touches the database; the risk
fields that move with every equity update are flushed by a throttled timer instead. The latch
write is synchronous on purpose: the kill must not start before the latch is durable.

`synchronous=FULL` makes every commit fsync the WAL, so a latch survives power loss, and WAL
keeps the file consistent when the process is killed at any instruction.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from killswitch_client.protocol import SESSION_ID_SIZE, GuardMark

from watchdog.daemon.errors import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS traders (
    trader TEXT PRIMARY KEY,
    latched INTEGER NOT NULL DEFAULT 0,
    latch_reason TEXT NOT NULL DEFAULT '',
    latch_ts REAL,
    high_water_mark REAL,
    day_start_equity REAL,
    day_start_ts REAL,
    maintenance_until REAL,
    maintenance_reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS kills (
    kill_id TEXT PRIMARY KEY,
    trader TEXT NOT NULL,
    reason TEXT NOT NULL,
    started_ts REAL NOT NULL,
    finished_ts REAL
);
CREATE TABLE IF NOT EXISTS kill_steps (
    kill_id TEXT NOT NULL REFERENCES kills(kill_id),
    step TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_detail TEXT NOT NULL DEFAULT '',
    verified_ts REAL,
    PRIMARY KEY (kill_id, step)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    trader TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_ts ON audit(ts);
CREATE TABLE IF NOT EXISTS sessions (
    trader TEXT PRIMARY KEY,
    session_id BLOB NOT NULL,
    seq_mark TEXT NOT NULL  -- a u64 as decimal text: SQLite integers are signed 64-bit
);
"""

# Columns added after the first release: a database from an older watchdog gains them at start.
_ADDED_TRADER_COLUMNS = {
    "maintenance_until": "REAL",
    "maintenance_reason": "TEXT NOT NULL DEFAULT ''",
}
_SELECT_TRADER = (
    "SELECT trader, latched, latch_reason, latch_ts, high_water_mark, day_start_equity,"
    " day_start_ts, maintenance_until, maintenance_reason FROM traders WHERE trader = ?"
)


@dataclass(frozen=True)
class TraderRow:
    trader: str
    latched: bool
    latch_reason: str
    latch_ts: float | None
    high_water_mark: float | None
    day_start_equity: float | None
    day_start_ts: float | None
    maintenance_until: float | None = None
    maintenance_reason: str = ""


@dataclass(frozen=True)
class KillStep:
    kill_id: str
    step: str
    status: str  # "pending" | "verified"
    attempts: int
    last_detail: str
    verified_ts: float | None


@dataclass(frozen=True)
class KillRecord:
    kill_id: str
    trader: str
    reason: str
    started_ts: float
    finished_ts: float | None
    steps: tuple[KillStep, ...]


@dataclass(frozen=True)
class AuditEntry:
    id: int
    ts: float
    trader: str
    kind: str
    detail: dict[str, Any]


class Store:
    """Synchronous access to the database; every error becomes `StoreError`."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 2000) -> None:
        self.path = path
        self._lock_fd: int | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock()
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE) below.
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            self._db.executescript(_SCHEMA)
            self._migrate()
            self._probe_write()
        except (sqlite3.Error, OSError) as exc:
            self.close_lock()
            raise StoreError(f"state database {path}: cannot open or write: {exc}") from exc

    def close(self) -> None:
        self._db.close()
        self.close_lock()

    def close_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _lock(self) -> None:
        """One watchdog per state dir: a second one must not resume or start kills."""
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(
                f"state database {self.path}: another watchdog process holds its lock"
            ) from None
        self._lock_fd = fd

    def _migrate(self) -> None:
        present = {row[1] for row in self._db.execute("PRAGMA table_info(traders)")}
        with self._tx() as db:
            for column, kind in _ADDED_TRADER_COLUMNS.items():
                if column not in present:
                    db.execute(f"ALTER TABLE traders ADD COLUMN {column} {kind}")

    def _probe_write(self) -> None:
        """Prove now, not at the first kill, that the file is writable."""
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS probe (n INTEGER)")
            db.execute("DELETE FROM probe")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"state database {self.path}: {exc}") from exc

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"state database {self.path}: {exc}") from exc

    # -- traders -------------------------------------------------------------------------

    def trader(self, trader: str) -> TraderRow | None:
        rows = self._read(_SELECT_TRADER, (trader,))
        if not rows:
            return None
        t, latched, reason, ts, hwm, dse, dst, until, why = rows[0]
        return TraderRow(t, bool(latched), reason, ts, hwm, dse, dst, until, why)

    def save_risk(
        self, trader: str, high_water_mark: float | None, equity: float | None, ts: float | None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO traders (trader, high_water_mark, day_start_equity, day_start_ts)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(trader) DO UPDATE SET"
                " high_water_mark = excluded.high_water_mark,"
                " day_start_equity = excluded.day_start_equity,"
                " day_start_ts = excluded.day_start_ts",
                (trader, high_water_mark, equity, ts),
            )

    def save_maintenance(
        self,
        trader: str,
        until: float | None,
        reason: str,
        ts: float,
        kind: str,
        detail: dict[str, Any],
    ) -> None:
        """Open (`until`) or close (None) a maintenance window, audited in the same commit."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO traders (trader, maintenance_until, maintenance_reason)"
                " VALUES (?, ?, ?) ON CONFLICT(trader) DO UPDATE SET"
                " maintenance_until = excluded.maintenance_until,"
                " maintenance_reason = excluded.maintenance_reason",
                (trader, until, reason),
            )
            self._audit(db, ts, trader, kind, detail)

    def begin_kill(
        self,
        kill_id: str,
        trader: str,
        reason: str,
        ts: float,
        steps: list[str],
        detail: dict[str, Any],
    ) -> None:
        """Latch the trader and record the kill and its steps in one durable transaction."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO traders (trader, latched, latch_reason, latch_ts) VALUES (?, 1, ?, ?)"
                " ON CONFLICT(trader) DO UPDATE SET latched = 1,"
                " latch_reason = excluded.latch_reason, latch_ts = excluded.latch_ts",
                (trader, reason, ts),
            )
            db.execute(
                "INSERT INTO kills (kill_id, trader, reason, started_ts) VALUES (?, ?, ?, ?)",
                (kill_id, trader, reason, ts),
            )
            db.executemany(
                "INSERT INTO kill_steps (kill_id, step, status) VALUES (?, ?, 'pending')",
                [(kill_id, step) for step in steps],
            )
            self._audit(
                db,
                ts,
                trader,
                "kill_started",
                {"kill_id": kill_id, "reason": reason, "steps": steps, **detail},
            )

    def clear_latch(self, trader: str, ts: float, detail: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE traders SET latched = 0, latch_reason = '', latch_ts = NULL"
                " WHERE trader = ?",
                (trader,),
            )
            self._audit(db, ts, trader, "rearm_accepted", detail)
            # A kill left open (a step it could not run or verify, finished by a person) is
            # closed by the re-arm, with what was never verified on record.
            for (kill_id,) in db.execute(
                "SELECT kill_id FROM kills WHERE trader = ? AND finished_ts IS NULL", (trader,)
            ).fetchall():
                unverified = [
                    step
                    for (step,) in db.execute(
                        "SELECT step FROM kill_steps WHERE kill_id = ? AND status != 'verified'",
                        (kill_id,),
                    )
                ]
                db.execute("UPDATE kills SET finished_ts = ? WHERE kill_id = ?", (ts, kill_id))
                closed = {"kill_id": kill_id, "unverified": unverified}
                self._audit(db, ts, trader, "kill_closed_by_rearm", closed)

    # -- telemetry sessions (the replay guard's memory) ----------------------------------

    def session_marks(self) -> dict[str, GuardMark]:
        """Each trader's current session and sequence mark; a corrupt row is a StoreError."""
        marks: dict[str, GuardMark] = {}
        for trader, session_id, mark in self._read("SELECT * FROM sessions"):
            if not (
                isinstance(session_id, bytes)
                and len(session_id) == SESSION_ID_SIZE
                and isinstance(mark, str)
                and mark.isdigit()
                and int(mark) < 2**64
            ):
                raise StoreError(f"state database {self.path}: sessions row {trader!r} is corrupt")
            marks[trader] = GuardMark(session_id, int(mark))
        return marks

    def save_session_mark(self, trader: str, mark: GuardMark) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO sessions (trader, session_id, seq_mark) VALUES (?, ?, ?)"
                " ON CONFLICT(trader) DO UPDATE SET session_id = excluded.session_id,"
                " seq_mark = excluded.seq_mark",
                (trader, mark.session_id, str(mark.seq_mark)),
            )

    # -- kills ---------------------------------------------------------------------------

    def record_step(
        self,
        kill_id: str,
        trader: str,
        step: str,
        ts: float,
        verified: bool,
        detail: dict[str, Any],
    ) -> None:
        """One attempt of a step: its counter, its last answer and its audit entry."""
        with self._tx() as db:
            db.execute(
                "UPDATE kill_steps SET attempts = attempts + 1, last_detail = ?,"
                " status = CASE WHEN ? THEN 'verified' ELSE status END,"
                " verified_ts = CASE WHEN ? THEN ? ELSE verified_ts END"
                " WHERE kill_id = ? AND step = ?",
                (str(detail.get("detail", "")), verified, verified, ts, kill_id, step),
            )
            kind = "kill_step_verified" if verified else "kill_step_attempt"
            self._audit(db, ts, trader, kind, {"kill_id": kill_id, "step": step, **detail})

    def finish_kill(self, kill_id: str, trader: str, ts: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE kills SET finished_ts = ? WHERE kill_id = ?", (ts, kill_id))
            self._audit(db, ts, trader, "kill_finished", {"kill_id": kill_id})

    def unfinished_kills(self) -> list[KillRecord]:
        rows = self._read("SELECT kill_id FROM kills WHERE finished_ts IS NULL ORDER BY rowid")
        return [self.kill(kill_id) for (kill_id,) in rows]

    def kill(self, kill_id: str) -> KillRecord:
        rows = self._read("SELECT * FROM kills WHERE kill_id = ?", (kill_id,))
        if not rows:
            raise StoreError(f"state database {self.path}: no kill {kill_id!r}")
        steps = self._read("SELECT * FROM kill_steps WHERE kill_id = ? ORDER BY rowid", (kill_id,))
        kill, trader, reason, started, finished = rows[0]
        return KillRecord(
            kill, trader, reason, started, finished, tuple(KillStep(*row) for row in steps)
        )

    def latest_kill(self, trader: str) -> KillRecord | None:
        rows = self._read(
            "SELECT kill_id FROM kills WHERE trader = ? ORDER BY started_ts DESC LIMIT 1",
            (trader,),
        )
        return self.kill(rows[0][0]) if rows else None

    # -- audit ---------------------------------------------------------------------------

    def audit(self, ts: float, trader: str, kind: str, detail: dict[str, Any]) -> None:
        with self._tx() as db:
            self._audit(db, ts, trader, kind, detail)

    def audit_many(self, entries: list[tuple[float, str, str, dict[str, Any]]]) -> None:
        with self._tx() as db:
            for ts, trader, kind, detail in entries:
                self._audit(db, ts, trader, kind, detail)

    @staticmethod
    def _audit(
        db: sqlite3.Connection, ts: float, trader: str, kind: str, detail: dict[str, Any]
    ) -> None:
        db.execute(
            "INSERT INTO audit (ts, trader, kind, detail) VALUES (?, ?, ?, ?)",
            (ts, trader, kind, orjson.dumps(detail, option=orjson.OPT_NON_STR_KEYS).decode()),
        )

    def audit_since(self, since: float, limit: int = 1000) -> list[AuditEntry]:
        rows = self._read(
            "SELECT id, ts, trader, kind, detail FROM audit WHERE ts >= ? ORDER BY ts, id LIMIT ?",
            (since, limit),
        )
        return [AuditEntry(i, ts, t, k, orjson.loads(d)) for i, ts, t, k, d in rows]
