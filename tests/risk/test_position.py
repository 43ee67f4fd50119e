"""Position size: per-symbol quantity and notional, total gross and net notional."""

from __future__ import annotations

from risk import TradingState

from .helpers import T0, VENUE, engine, limits, position

POSITION = {
    "max_symbol_notional": {"pct": 15},  # 15 000 of 100 000
    "max_gross_notional": {"quote": 25_000},
    "max_net_notional": {"quote": 20_000},
    "symbols": {"ETHUSDT": {"max_qty": 4}},
    "cooldown_s": 5.0,
}


def test_a_symbol_over_its_notional_reduces() -> None:
    eng = engine(limits(position=POSITION))
    assert eng.apply(position(T0, "BTCUSDT", 0.2, 50_000.0), T0).state is TradingState.ACTIVE
    reduced = eng.apply(position(T0 + 1, "BTCUSDT", -0.31, 50_000.0), T0 + 1)
    assert reduced.state is TradingState.REDUCING
    assert reduced.decisions[0].value == 15_500.0
    assert "BTCUSDT notional" in reduced.decisions[0].reason


def test_gross_counts_both_sides_and_net_offsets() -> None:
    eng = engine(limits(position=POSITION))
    eng.apply(position(T0, "BTCUSDT", 0.25, 50_000.0), T0)  # +12 500
    state = eng.apply(position(T0, "SOLUSDT", -100.0, 130.0), T0).state  # -13 000
    assert state is TradingState.REDUCING  # gross 25 500 > 25 000, net only -500
    assert "gross notional" in eng.assessment.decisions[0].reason


def test_a_per_symbol_quantity_limit_applies() -> None:
    eng = engine(limits(position=POSITION))
    state = eng.apply(position(T0, "ETHUSDT", 4.5, 2_000.0), T0).state
    assert state is TradingState.REDUCING
    assert "ETHUSDT quantity" in eng.assessment.decisions[0].reason


def test_the_venue_book_is_graded_too_and_flat_positions_leave() -> None:
    eng = engine(limits(position=POSITION))
    assert eng.apply(position(T0, "BTCUSDT", 0.4, 50_000.0, VENUE), T0).state is (
        TradingState.REDUCING
    )
    eng.apply(position(T0 + 1, "BTCUSDT", 0.0, 50_000.0, VENUE), T0 + 1)
    assert eng.evaluate(T0 + 6).state is TradingState.ACTIVE
    assert eng.position.books[1] == {}


def test_a_per_symbol_notional_overrides_the_general_one_and_follows_the_equity() -> None:
    lim = limits(
        position={**POSITION, "symbols": {"BTCUSDT": {"max_notional": {"pct": 5}}}},
        drawdown={"soft": {"pct": 90}, "hard": {"pct": 100}},
        daily_loss={"max_loss": {"pct": 100}},
    )
    eng = engine(lim)  # day start 100 000: BTC may hold 5 000
    assert eng.apply(position(T0, "BTCUSDT", 0.11, 50_000.0), T0).state is TradingState.REDUCING
    assert eng.apply(position(T0, "ETHUSDT", 5.0, 2_000.0), T0).state is TradingState.REDUCING
    eng.apply(position(T0 + 1, "BTCUSDT", 0.0, 50_000.0), T0 + 1)
    assert eng.position.symbol_notional_max["BTCUSDT"] == 5_000.0
