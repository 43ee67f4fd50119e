"""Divergence: the trader's telemetry against the venue's view, with a grace period."""

from __future__ import annotations

from risk import OpenOrdersSnapshot, OrderEventKind, TradingState

from .helpers import T0, TELEMETRY, VENUE, engine, limits, order, position

DIVERGENCE = {
    "open_orders": 1,
    "position_qty": 0.001,
    "order_count": 2,
    "grace_s": 10.0,
    "grade": "halted",
}


def test_a_gap_warns_during_grace_and_is_graded_after() -> None:
    eng = engine(limits(divergence=DIVERGENCE))
    eng.apply(OpenOrdersSnapshot(T0, 3, TELEMETRY), T0)
    warned = eng.apply(OpenOrdersSnapshot(T0 + 1, 6, VENUE), T0 + 1)
    assert warned.state is TradingState.WARN
    assert warned.next_due == T0 + 11
    graded = eng.evaluate(T0 + 11)
    assert graded.state is TradingState.HALTED
    assert "open_orders" in graded.decisions[0].reason


def test_a_gap_closed_within_grace_never_halts() -> None:
    eng = engine(limits(divergence=DIVERGENCE))
    eng.apply(OpenOrdersSnapshot(T0, 3, TELEMETRY), T0)
    eng.apply(OpenOrdersSnapshot(T0 + 1, 6, VENUE), T0 + 1)
    eng.apply(OpenOrdersSnapshot(T0 + 5, 6, TELEMETRY), T0 + 5)
    assert eng.evaluate(T0 + 20).state is TradingState.ACTIVE


def test_position_quantities_are_compared_per_symbol() -> None:
    eng = engine(limits(divergence={**DIVERGENCE, "grade": "killed"}))
    eng.apply(position(T0, "BTCUSDT", 0.1, 50_000.0, TELEMETRY), T0)
    eng.apply(position(T0, "BTCUSDT", 0.1, 50_000.0, VENUE), T0)
    eng.apply(position(T0, "ETHUSDT", 1.0, 2_000.0, VENUE), T0)  # the trader never said so
    assert eng.state is TradingState.WARN
    assert eng.evaluate(T0 + 10).state is TradingState.KILLED


def test_acknowledged_order_counts_are_compared_once_both_report() -> None:
    eng = engine(limits(divergence=DIVERGENCE))
    for i in range(5):
        eng.apply(order(T0 + i, OrderEventKind.ACK, source=VENUE), T0 + i)
    assert eng.state is TradingState.ACTIVE  # no telemetry ACK yet: nothing to compare
    warned = eng.apply(order(T0 + 5, OrderEventKind.ACK, source=TELEMETRY), T0 + 5)
    assert warned.state is TradingState.WARN
    assert "order_count" in eng.assessment.decisions[0].reason


def test_float_rounding_is_not_divergence() -> None:
    eng = engine(limits(divergence={**DIVERGENCE, "position_qty": 0.0}))
    eng.apply(position(T0, "BTCUSDT", 0.1 + 0.2, 50_000.0, TELEMETRY), T0)
    eng.apply(position(T0, "BTCUSDT", 0.3, 50_000.0, VENUE), T0)
    assert eng.divergence.gaps == {}


def test_the_daily_reset_restarts_the_order_count_comparison() -> None:
    eng = engine(limits(divergence=DIVERGENCE))
    eng.apply(order(T0, OrderEventKind.ACK, source=TELEMETRY), T0)
    for i in range(4):
        eng.apply(order(T0 + i, OrderEventKind.ACK, source=VENUE), T0 + i)
    assert "order_count" in eng.divergence.gaps
    eng.daily_reset(T0 + 5)
    assert eng.divergence.gaps == {}
    assert eng.divergence.acks == [0, 0]


def test_orders_acked_before_the_venue_stream_connected_never_read_as_divergence() -> None:
    eng = engine(limits(divergence=DIVERGENCE))
    for i in range(5):  # the trader trades before the watchdog's venue stream is up
        eng.apply(order(T0 + i, OrderEventKind.ACK, source=TELEMETRY), T0 + i)
    eng.restart_order_count(T0 + 5)  # the stream connects
    for i in range(6, 9):  # from here both sides see every order
        eng.apply(order(T0 + i, OrderEventKind.ACK, source=TELEMETRY), T0 + i)
        eng.apply(order(T0 + i, OrderEventKind.ACK, source=VENUE), T0 + i)
    assert eng.divergence.gaps == {}
    assert eng.evaluate(T0 + 30).state is TradingState.ACTIVE


def test_without_the_restart_the_same_history_is_a_divergence() -> None:
    eng = engine(limits(divergence=DIVERGENCE))
    for i in range(5):
        eng.apply(order(T0 + i, OrderEventKind.ACK, source=TELEMETRY), T0 + i)
    for i in range(6, 9):
        eng.apply(order(T0 + i, OrderEventKind.ACK, source=TELEMETRY), T0 + i)
        eng.apply(order(T0 + i, OrderEventKind.ACK, source=VENUE), T0 + i)
    assert "order_count" in eng.divergence.gaps
    assert eng.evaluate(T0 + 30).state is TradingState.HALTED
