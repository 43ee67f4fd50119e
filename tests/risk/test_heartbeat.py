"""Heartbeat deadlines: WARN, HALTED, KILLED at exact times; timed by send time, bounded by
arrival."""

from __future__ import annotations

from risk import RiskEngine, TradingState

from .helpers import LIVE_HEARTBEAT as HEARTBEAT
from .helpers import T0, account, beat, limits


def live_engine() -> RiskEngine:
    eng = RiskEngine(limits(heartbeat=HEARTBEAT), now=T0)
    eng.apply(account(T0, 100_000.0), T0)
    return eng


def test_each_escalation_is_due_exactly_and_next_due_says_when() -> None:
    eng = live_engine()
    assert eng.assessment.next_due == T0 + 3.0
    assert eng.evaluate(T0 + 2.999).state is TradingState.ACTIVE
    assert eng.evaluate(T0 + 3.0).state is TradingState.WARN
    assert eng.assessment.next_due == T0 + 5.0
    assert eng.evaluate(T0 + 5.0).state is TradingState.HALTED
    assert eng.assessment.next_due == T0 + 15.0
    assert eng.evaluate(T0 + 15.0).state is TradingState.KILLED
    assert eng.latched


def test_a_heartbeat_keeps_the_trader_active() -> None:
    eng = live_engine()
    for i in range(1, 30):
        assert eng.apply(beat(T0 + i), T0 + i).state is TradingState.ACTIVE


def test_a_stamp_ahead_of_arrival_counts_only_from_arrival() -> None:
    eng = live_engine()
    eng.apply(beat(T0 + 1.5), T0 + 0.5)  # trader clock 1 s ahead: within tolerance
    assert eng.heartbeat.last == T0 + 0.5


def test_a_held_back_heartbeat_counts_from_when_it_was_sent_not_when_it_arrived() -> None:
    eng = live_engine()
    # Sent at T0 + 1, held back on the way, delivered at T0 + 4: life ended at T0 + 1.
    assessment = eng.apply(beat(T0 + 1.0), T0 + 4.0)
    assert eng.heartbeat.last == T0 + 1.0
    assert assessment.state is TradingState.WARN
    assert eng.assessment.next_due == T0 + 6.0  # HALTED at sent + halt_after_s
    assert eng.evaluate(T0 + 16.0).state is TradingState.KILLED  # sent + kill_after_s


def test_an_older_heartbeat_arriving_after_a_newer_one_moves_nothing() -> None:
    eng = live_engine()
    eng.apply(beat(T0 + 2.0), T0 + 2.0)
    eng.apply(beat(T0 + 1.0), T0 + 2.1)
    assert eng.heartbeat.last == T0 + 2.0


def test_a_halt_cools_down_after_heartbeats_return() -> None:
    eng = live_engine()
    eng.evaluate(T0 + 6.0)
    assert eng.apply(beat(T0 + 6.5), T0 + 6.5).state is TradingState.HALTED
    assert eng.assessment.next_due == T0 + 8.5
    assert eng.evaluate(T0 + 8.5).state is TradingState.ACTIVE


def test_a_rearm_restarts_the_heartbeat_clock() -> None:
    eng = live_engine()
    eng.evaluate(T0 + 20.0)
    result = eng.rearm(T0 + 30.0, "trader restarted by the operator")
    assert result.accepted
    assert result.assessment.state is TradingState.ACTIVE
    assert result.assessment.next_due == T0 + 33.0


def test_an_early_timer_gets_a_fresh_next_due() -> None:
    eng = live_engine()
    eng.apply(beat(T0 + 2.0), T0 + 2.0)
    # The old deadline may stand (early is allowed); waking then yields the real one.
    assert eng.assessment.next_due is not None
    assert eng.assessment.next_due <= T0 + 5.0
    assert eng.evaluate(T0 + 3.0).next_due == T0 + 5.0
