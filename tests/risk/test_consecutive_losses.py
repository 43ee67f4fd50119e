"""Consecutive losing trades pause new orders for pause_s, then the count restarts."""

from __future__ import annotations

from risk import OrderEventKind, TradingState

from .helpers import T0, engine, limits, order

FILL = OrderEventKind.FILL


def test_a_run_of_losses_pauses_then_resumes() -> None:
    eng = engine(limits(consecutive_losses={"max_count": 3, "pause_s": 300.0}))
    eng.apply(order(T0 + 1, FILL, pnl=-5.0), T0 + 1)
    eng.apply(order(T0 + 2, FILL, pnl=-5.0), T0 + 2)
    paused = eng.apply(order(T0 + 3, FILL, pnl=-5.0), T0 + 3)
    assert paused.state is TradingState.HALTED
    assert paused.next_due == T0 + 303
    assert eng.evaluate(T0 + 302.9).state is TradingState.HALTED
    assert eng.evaluate(T0 + 303).state is TradingState.ACTIVE
    assert eng.consecutive_losses.counts == [0, 0]


def test_a_win_ends_the_run_and_breakeven_changes_nothing() -> None:
    eng = engine(limits(consecutive_losses={"max_count": 3, "pause_s": 300.0}))
    for i, pnl in enumerate([-1.0, -1.0, 2.0, -1.0, 0.0, -1.0]):
        eng.apply(order(T0 + i, FILL, pnl=pnl), T0 + i)
    assert eng.consecutive_losses.counts[0] == 2
    assert eng.state is not TradingState.HALTED


def test_fills_without_realized_pnl_are_not_trades() -> None:
    eng = engine(limits(consecutive_losses={"max_count": 1, "pause_s": 10.0}))
    assert eng.apply(order(T0, FILL), T0).state is TradingState.ACTIVE
