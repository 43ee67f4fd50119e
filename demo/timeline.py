"""The kill as a timeline: pure functions from the evidence the parts keep to aligned rows.

Every stamp ends up on CLOCK_MONOTONIC, which is system-wide, so stamps from different
processes compare directly:

- the demo's own trigger stamp (``time.monotonic()`` just before it acts);
- the sim's request journal (``mono``: when the venue received a request or did something);
- the watchdog's ``kill_timing`` in ``/status`` (when it saw the cause, and when the latch was
  durable);
- the watchdog's audit (SQLite; ``ts`` is wall time, mapped onto the monotonic clock with the
  offset the demo measured: exact to well under a millisecond unless the clock is stepped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.sim import CANCEL_ALL_ENDPOINT


@dataclass(frozen=True)
class Row:
    mono: float  # seconds, CLOCK_MONOTONIC
    milestone: str  # "trigger", "detection", ...
    detail: str
    source: str  # where the stamp comes from


@dataclass(frozen=True)
class Evidence:
    trigger_mono: float
    trigger_detail: str
    wall_minus_mono: float  # time.time() - time.monotonic(), measured by the demo
    journal: Sequence[Mapping[str, Any]]  # the sim's entries since just before the trigger
    audit: Sequence[Mapping[str, Any]]  # the watchdog's entries for this trader
    kill_timing: Mapping[str, Any] | None  # /status kill_timing
    watchdog_key: str
    trader_key: str
    venue: str = "binance"  # the sim's protocol: the journal's endpoint names are its own


# The milestones a kill must show, in the order a reader expects them.
KILL_MILESTONES = (
    "trigger",
    "detection",
    "latch persisted",
    "cancel-all sent",
    "no open orders",
    "trader key refused",
    "trader stopped",
)


# A venue whose cancels go order by order (OKX: no cancel-all call) sends none when the
# watchdog's listing shows an empty book: that verified listing stands for the cancel.
NOTHING_TO_CANCEL = "nothing to cancel"
_STANDS_FOR = {"cancel-all sent": NOTHING_TO_CANCEL}
# Every request that cancels orders, in each venue's words (a dead man's switch refresh, which
# cancels nothing now, is not one).
_ORDER_CANCELS = frozenset(
    {*CANCEL_ALL_ENDPOINT.values(), "DELETE /fapi/v1/order", "POST /v5/order/cancel",
     "POST /api/v5/trade/cancel-order"}
)  # fmt: skip


def kill_rows(ev: Evidence) -> list[Row]:
    """Every milestone found in the evidence, in time order. Missing ones are left out (the
    proof names them; the timeline never invents a stamp)."""
    rows = [Row(ev.trigger_mono, "trigger", ev.trigger_detail, "demo")]
    rows += _watchdog_timing(ev.kill_timing, ev.trigger_mono)
    rows += _journal_rows(ev)
    rows += _audit_rows(ev)
    rows += _nothing_to_cancel(rows, ev)
    return sorted(rows, key=lambda r: r.mono)


def missing(rows: Iterable[Row], wanted: Sequence[str] = KILL_MILESTONES) -> list[str]:
    seen = {r.milestone for r in rows}
    return [m for m in wanted if m not in seen and _STANDS_FOR.get(m) not in seen]


def _nothing_to_cancel(rows: Sequence[Row], ev: Evidence) -> list[Row]:
    """The empty book's row: the cancel step verified while the watchdog's key sent no cancel
    of any kind after the trigger (a cancel-all venue always sends its call)."""
    milestones = {r.milestone: r for r in rows}
    verified = milestones.get("no open orders")
    if verified is None or "cancel-all sent" in milestones:
        return []
    cancels = [
        e for e in ev.journal
        if float(e["mono"]) >= ev.trigger_mono and e.get("api_key") == ev.watchdog_key
        and e["endpoint"] in _ORDER_CANCELS
    ]  # fmt: skip
    if cancels:
        return []
    detail = "the venue listed no open order: no cancel was due (it cancels order by order)"
    return [Row(verified.mono, NOTHING_TO_CANCEL, detail, "watchdog audit")]


def _watchdog_timing(timing: Mapping[str, Any] | None, since: float) -> list[Row]:
    if not timing or float(timing.get("trigger_monotonic", 0.0)) < since:
        return []  # no kill, or an older one
    reason = str(timing.get("reason", ""))
    return [
        Row(float(timing["trigger_monotonic"]), "detection", reason, "watchdog status"),
        Row(
            float(timing["latched_monotonic"]),
            "latch persisted",
            "latch fsynced to SQLite, kill actions launched",
            "watchdog status",
        ),
    ]


def _journal_rows(ev: Evidence) -> list[Row]:
    rows: list[Row] = []
    after = [e for e in ev.journal if float(e["mono"]) >= ev.trigger_mono]
    cancel_all = CANCEL_ALL_ENDPOINT[ev.venue]
    cancel = _first(
        after, lambda e: e["endpoint"] == cancel_all and e.get("api_key") == ev.watchdog_key
    )
    if cancel is not None:
        rows.append(
            Row(float(cancel["mono"]), "cancel-all sent",
                f"{cancel_all} {cancel.get('detail') or ''}".strip(), "venue journal")
        )  # fmt: skip
    deleted = _first(
        after, lambda e: e["endpoint"] == "key_deleted" and e.get("api_key") == ev.trader_key
    )
    if deleted is not None:
        rows.append(
            Row(float(deleted["mono"]), "trader key refused",
                "key deleted with the master key: refused from here on", "venue journal")
        )  # fmt: skip
    return rows


def _audit_rows(ev: Evidence) -> list[Row]:
    labels = {
        "venue_cancel_all": ("no open orders", "the venue lists no open orders (verified)"),
        "stop_process": ("trader stopped", "the trader's process has exited (verified)"),
    }
    rows: list[Row] = []
    since_wall = ev.trigger_mono + ev.wall_minus_mono
    for entry in ev.audit:
        detail = entry.get("detail") or {}
        step = detail.get("step") if isinstance(detail, Mapping) else None
        ts = float(entry["ts"])
        if entry.get("kind") != "kill_step_verified" or step not in labels or ts < since_wall:
            continue
        milestone, text = labels[step]
        if milestone not in {r.milestone for r in rows}:
            rows.append(Row(ts - ev.wall_minus_mono, milestone, text, "watchdog audit"))
    return rows


def _first(entries: Iterable[Mapping[str, Any]], match: Any) -> Mapping[str, Any] | None:
    return next((e for e in entries if match(e)), None)


def stages(rows: Sequence[Row], origin: float) -> list[dict[str, Any]]:
    """The rows as data (``--json``): each milestone with its milliseconds after ``origin``."""
    return [
        {
            "stage": row.milestone,
            "ms": round((row.mono - origin) * 1000.0, 3),
            "source": row.source,
            "detail": row.detail,
        }
        for row in rows
    ]


def render(rows: Sequence[Row], origin: float) -> list[str]:
    """Aligned lines: milliseconds after ``origin``, milestone, source, detail."""
    width = max((len(r.milestone) for r in rows), default=0)
    source_width = max((len(r.source) for r in rows), default=0)
    lines = []
    for row in rows:
        ms = (row.mono - origin) * 1000.0
        lines.append(
            f"  {ms:+9.1f} ms  {row.milestone:<{width}}  {row.source:<{source_width}}  {row.detail}"
        )
    return lines
