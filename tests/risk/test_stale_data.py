"""Stale market data: the oldest watched symbol's age against a maximum."""

from __future__ import annotations

from risk import FeedStatus, TradingState

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
