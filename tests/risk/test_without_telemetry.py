"""An engine for a trader that sends no telemetry: the venue-side rules judge, the rules only
the trader's reports feed are left out (they would read its silence as a hang)."""

from __future__ import annotations

from risk import TELEMETRY_ONLY_RULES, OrderEventKind, RiskEngine, TradingState

from .helpers import LIVE_HEARTBEAT, T0, VENUE, account, limits, order

DIVERGENCE = {"order_count": 0, "reorder_s": 0.5, "grace_s": 1.0}


def _silent_engine(**tables: object) -> RiskEngine:
    eng = RiskEngine(
        limits(heartbeat=LIVE_HEARTBEAT, **tables), now=T0, max_venue_blind_s=5.0, telemetry=False
    )
    eng.apply(account(T0, 100_000.0, VENUE), T0)
    return eng


def test_the_rules_only_telemetry_feeds_are_left_out() -> None:
    names = {rule.name for rule in _silent_engine().rules}
    assert names.isdisjoint(TELEMETRY_ONLY_RULES)
    assert {"venue_blind", "daily_loss", "drawdown", "order_rate", "position"} <= names


def test_silence_far_past_the_heartbeat_kill_deadline_stays_active() -> None:
    eng = _silent_engine()
    now = T0
    while now < T0 + 4 * LIVE_HEARTBEAT["kill_after_s"]:
        now += 1.0
        eng.apply(account(now, 100_000.0, VENUE), now)  # the venue view stays fresh
        eng.evaluate(now)
    assert eng.state is TradingState.ACTIVE, eng.assessment.decisions


def test_orders_only_the_venue_saw_are_not_judged_as_divergence() -> None:
    eng = _silent_engine(divergence=DIVERGENCE)
    for i in range(3):
        eng.apply(order(T0 + 0.1 * i, OrderEventKind.ACK, source=VENUE), T0 + 0.1 * i)
    eng.apply(account(T0 + 4, 100_000.0, VENUE), T0 + 4)
    assert eng.evaluate(T0 + 4).state is TradingState.ACTIVE, eng.assessment.decisions


def test_a_loss_the_venue_shows_still_kills() -> None:
    eng = _silent_engine()
    assert eng.apply(account(T0 + 1, 90_000.0, VENUE), T0 + 1).state is TradingState.KILLED


def test_a_planned_stop_is_not_refused_for_silence() -> None:
    eng = _silent_engine()
    eng.apply(account(T0 + 100, 100_000.0, VENUE), T0 + 100)
    assert eng.begin_maintenance(T0 + 100, T0 + 200, "deploy").accepted
    assert eng.end_maintenance(T0 + 150, "deployed").accepted
