"""Order size: each order judged as the trader submits it and as the venue acknowledges it;
a fat finger halts, a runaway far past the limit kills, at its acknowledgement."""

from __future__ import annotations

from risk import OrderEventKind, TradingState

from .helpers import T0, TELEMETRY, VENUE, engine, limits, order

ACK = OrderEventKind.ACK
SUBMIT = OrderEventKind.SUBMIT
# 5% of the 100,000 day-start equity: 5,000 per order; BTCUSDT also at most 0.1.
SIZE = {
    "max_notional": {"pct": 5},
    "symbols": {"BTCUSDT": {"max_qty": 0.1}},
    "kill_multiple": 2.0,
    "cooldown_s": 30.0,
}


def test_an_order_within_its_limits_changes_nothing() -> None:
    eng = engine(limits(order_size=SIZE))
    state = eng.apply(order(T0, SUBMIT, symbol="ETHUSDT", qty=1.0, price=3_000.0), T0).state
    assert state is TradingState.ACTIVE
    assert eng.utilisation()["order_size"] == 0.0


def test_an_order_past_the_warn_level_warns() -> None:
    eng = engine(limits(order_size=SIZE))
    warned = eng.apply(order(T0, SUBMIT, symbol="ETHUSDT", qty=1.5, price=3_000.0), T0)
    assert warned.state is TradingState.WARN
    assert "ETHUSDT" in warned.decisions[0].reason
    assert eng.utilisation()["order_size"] == 4_500.0 / 5_000.0


def test_an_order_over_its_notional_halts_for_the_cooldown_then_clears() -> None:
    eng = engine(limits(order_size=SIZE))
    halted = eng.apply(
        order(T0, SUBMIT, symbol="ETHUSDT", qty=2.0, price=3_000.0, order_id="f"), T0
    )
    assert halted.state is TradingState.HALTED
    (decision,) = halted.decisions
    assert (decision.rule, decision.value, decision.limit) == ("order_size", 6_000.0, 5_000.0)
    assert "order f ETHUSDT BUY notional" in decision.reason
    assert "trader SUBMIT" in decision.reason
    assert halted.next_due == T0 + 30
    assert eng.evaluate(T0 + 30).state is TradingState.ACTIVE


def test_a_symbols_own_quantity_limit_replaces_the_default() -> None:
    eng = engine(limits(order_size=SIZE))
    halted = eng.apply(order(T0, SUBMIT, qty=0.15, price=1.0), T0)  # tiny notional, big qty
    assert halted.state is TradingState.HALTED
    assert "quantity 0.15 vs max 0.1" in halted.decisions[0].reason


def test_an_order_far_past_its_limit_is_killed_at_the_venues_ack() -> None:
    eng = engine(limits(order_size=SIZE, key_misuse={"enabled": False}))
    killed = eng.apply(order(T0, ACK, source=VENUE, qty=0.5, price=50_000.0, order_id="x"), T0)
    assert killed.state is TradingState.KILLED
    assert "venue ACK" in eng.persisted().latch_reason


def test_the_traders_own_ack_is_not_judged_twice() -> None:
    eng = engine(limits(order_size=SIZE))
    state = eng.apply(order(T0, ACK, source=TELEMETRY, qty=0.5, price=50_000.0), T0).state
    assert state is TradingState.ACTIVE


def test_a_milder_order_does_not_replace_a_worse_one_inside_the_hold() -> None:
    eng = engine(limits(order_size=SIZE))
    eng.apply(order(T0, SUBMIT, symbol="ETHUSDT", qty=2.0, price=3_000.0), T0)
    warned = eng.apply(order(T0 + 1, SUBMIT, symbol="ETHUSDT", qty=1.5, price=3_000.0), T0 + 1)
    assert warned.state is TradingState.HALTED
    assert warned.next_due == T0 + 31  # the hold runs from the latest order at warn level


def test_percent_limits_wait_for_the_day_start_equity() -> None:
    eng = engine(limits(order_size=SIZE), equity=None)
    eng.apply(order(T0, SUBMIT, symbol="ETHUSDT", qty=100.0, price=3_000.0), T0)
    assert "order_size" not in {d.rule for d in eng.assessment.decisions}


def test_a_market_order_is_judged_by_its_quantity() -> None:
    eng = engine(limits(order_size=SIZE))
    assert eng.apply(order(T0, SUBMIT, qty=0.2, price=0.0), T0).state is TradingState.KILLED
