"""Small builders for risk tests: limits with overrides, events at explicit times."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from risk import (
    AccountSnapshot,
    EventSource,
    Heartbeat,
    OrderEvent,
    OrderEventKind,
    PositionSnapshot,
    RiskEngine,
    Side,
)
from risk.limits import Limits, limits_from_mapping

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
TELEMETRY = EventSource.TELEMETRY
VENUE = EventSource.VENUE


QUIET_HEARTBEAT = {
    "interval_s": 1.0,
    "warn_after_s": 10_000.0,
    "halt_after_s": 20_000.0,
    "kill_after_s": 30_000.0,
}

# Deadlines a few seconds apart, for the tests of liveness itself.
LIVE_HEARTBEAT = {
    "interval_s": 1.0,
    "warn_after_s": 3.0,
    "halt_after_s": 5.0,
    "kill_after_s": 15.0,
    "cooldown_s": 2.0,
}


def limits(**tables: Any) -> Limits:
    """The standard profile with some tables overridden (keys replace the profile's).

    Heartbeat deadlines are pushed far out unless given, so that tests of other rules need
    not send heartbeats.
    """
    tables.setdefault("heartbeat", QUIET_HEARTBEAT)
    return limits_from_mapping({"profile": "standard", **tables}, "test")


def engine(
    lim: Limits | None = None, *, now: float = T0, equity: float | None = 100_000.0
) -> RiskEngine:
    """An engine that has seen its first account snapshot (so it is not HALTED for it)."""
    eng = RiskEngine(lim or limits(), now=now)
    if equity is not None:
        eng.apply(AccountSnapshot(now, equity, 0.0, 0.0), now)
    return eng


def account(
    ts: float, equity: float, source: EventSource = TELEMETRY, unrealized: float = 0.0
) -> AccountSnapshot:
    return AccountSnapshot(ts, equity, 0.0, unrealized, source)


def order(
    ts: float,
    kind: OrderEventKind = OrderEventKind.SUBMIT,
    *,
    source: EventSource = TELEMETRY,
    pnl: float | None = None,
    symbol: str = "BTCUSDT",
    qty: float = 0.01,
    price: float = 50_000.0,
    order_id: str = "",
) -> OrderEvent:
    return OrderEvent(ts, kind, symbol, Side.BUY, qty, price, "", pnl, source, order_id)


def position(
    ts: float,
    symbol: str,
    qty: float,
    mark: float,
    source: EventSource = TELEMETRY,
) -> PositionSnapshot:
    return PositionSnapshot(ts, symbol, qty, mark, source)


def beat(ts: float) -> Heartbeat:
    return Heartbeat(ts)


def rules_of(eng: RiskEngine) -> set[str]:
    return {d.rule for d in eng.assessment.decisions}


def run_dues_before(eng: RiskEngine, t: float, check: Callable[[float], object]) -> None:
    """Evaluate at every due before `t`, as the shell's timer would, checking each."""
    for _ in range(10_000):
        due = eng.assessment.next_due
        if due is None or due >= t:
            return
        eng.evaluate(due)
        after = eng.assessment.next_due
        assert after is None or after > due, f"next_due does not advance past {due}"
        check(due)
    raise AssertionError("too many wake-ups")
