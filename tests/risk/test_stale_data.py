"""Stale market data: the oldest watched symbol's age against a maximum."""

from __future__ import annotations

from risk import AccountSnapshot, FeedStatus, TradingState

from .helpers import T0, engine, limits

STALE = {"max_age_s": 5.0, "cooldown_s": 1.0}


def test_no_feed_reported_means_nothing_to_judge() -> None:
    eng = engine(limits(stale_data=STALE))
    assert eng.evaluate(T0 + 100).state is TradingState.ACTIVE


def test_age_escalates_at_exact_times_and_recovers_after_cooldown() -> None:
    eng = engine(limits(stale_data=STALE))
    eng.apply(FeedStatus(T0, "BTCUSDT", T0), T0)
    assert eng.assessment.next_due == T0 + 4.0  # 80% of 5 s
    assert eng.evaluate(T0 + 4.0).state is TradingState.WARN
    assert eng.evaluate(T0 + 5.0).state is TradingState.WARN  # at the max, not past it
    halted = eng.evaluate(T0 + 5.5)
    assert halted.state is TradingState.HALTED
    assert "BTCUSDT" in halted.decisions[0].reason
    eng.apply(FeedStatus(T0 + 6, "BTCUSDT", T0 + 6), T0 + 6)
    assert eng.state is TradingState.HALTED
    assert eng.evaluate(T0 + 7).state is TradingState.ACTIVE


def test_the_oldest_symbol_is_the_one_judged() -> None:
    eng = engine(limits(stale_data=STALE))
    eng.apply(FeedStatus(T0, "BTCUSDT", T0), T0)
    eng.apply(FeedStatus(T0, "ETHUSDT", T0 - 3), T0)
    eng.apply(FeedStatus(T0 + 2.5, "BTCUSDT", T0 + 2.5), T0 + 2.5)
    assessment = eng.evaluate(T0 + 2.6)
    assert assessment.state is TradingState.HALTED
    assert "ETHUSDT" in assessment.decisions[0].reason


def test_a_dead_feed_never_kills_without_kill_after_s() -> None:
    eng = engine(limits(stale_data=STALE))
    eng.apply(FeedStatus(T0, "BTCUSDT", T0), T0)
    assert eng.evaluate(T0 + 10_000).state is TradingState.HALTED
    assert not eng.latched


def test_a_feed_stale_for_kill_after_s_past_the_max_kills_on_schedule() -> None:
    eng = engine(limits(stale_data={**STALE, "kill_after_s": 30.0}))
    eng.apply(FeedStatus(T0, "BTCUSDT", T0), T0)
    assert eng.evaluate(T0 + 5.5).state is TradingState.HALTED
    assert eng.assessment.next_due == T0 + 35.0  # stale since T0 + 5 (age past 5 s)
    assert eng.evaluate(T0 + 34.9).state is TradingState.HALTED
    killed = eng.evaluate(T0 + 35.0)
    assert killed.state is TradingState.KILLED
    assert eng.latched
    reason = next(d.reason for d in killed.decisions if d.rule == "stale_data")
    assert "held 30.0 s (kill after 30 s)" in reason


def test_a_fresh_report_ends_the_escalation_and_a_rearm_restarts_it() -> None:
    eng = engine(limits(stale_data={**STALE, "kill_after_s": 30.0}))
    eng.apply(FeedStatus(T0, "BTCUSDT", T0), T0)
    eng.apply(FeedStatus(T0 + 20, "BTCUSDT", T0 + 20), T0 + 20)  # fresh again before the kill
    assert eng.evaluate(T0 + 35.0).state is not TradingState.KILLED
    assert eng.evaluate(T0 + 55.0).state is TradingState.KILLED  # stale again since T0 + 25
    eng.apply(AccountSnapshot(T0 + 56, 100_000.0, 0.0, 0.0), T0 + 56)
    result = eng.rearm(T0 + 60, "feed provider restarted")
    assert result.accepted
    assert result.assessment.state is TradingState.HALTED  # still stale: a fresh 30 s
    assert eng.assessment.next_due == T0 + 90.0


def test_warn_off_still_schedules_the_halt() -> None:
    eng = engine(limits(warn_at_pct=100, stale_data=STALE))
    eng.apply(FeedStatus(T0, "BTCUSDT", T0), T0)
    due = eng.assessment.next_due
    assert due is not None
    assert T0 + 5.0 < due < T0 + 5.001
    assert eng.evaluate(due).state is TradingState.HALTED
