"""Bad data fails safe: never applied, always HALTED, the bad field named."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from risk import (
    AccountSnapshot,
    FeedStatus,
    Heartbeat,
    MarketEvent,
    OpenOrdersSnapshot,
    OrderEventKind,
    RiskEvent,
    TradingState,
)

from .helpers import T0, VENUE, account, engine, order, position

GOOD_EVENTS: list[RiskEvent] = [
    Heartbeat(T0),
    account(T0, 100_000.0),
    position(T0, "BTCUSDT", 0.1, 50_000.0),
    order(T0, OrderEventKind.SUBMIT),
    order(T0, OrderEventKind.FILL, pnl=-1.0),
    FeedStatus(T0, "BTCUSDT", T0),
    OpenOrdersSnapshot(T0, 2, VENUE),
    MarketEvent(T0, "BTCUSDT", 49_999.0, 50_001.0),
]
NUMERIC_FIELDS = [
    (event, field.name)
    for event in GOOD_EVENTS
    for field in dataclasses.fields(event)
    if isinstance(getattr(event, field.name), float)
]
NON_FINITE = st.sampled_from([float("nan"), float("inf"), float("-inf")])


def assert_halted_naming(event: Any, field: str) -> None:
    eng = engine()
    assessment = eng.apply(event, T0)
    assert assessment.state >= TradingState.HALTED
    bad = [d for d in assessment.decisions if d.rule == "bad_data"]
    assert bad, assessment
    assert f"{type(event).__name__}.{field}" in bad[0].reason


@given(case=st.sampled_from(NUMERIC_FIELDS), value=NON_FINITE)
def test_a_non_finite_number_anywhere_is_never_active(
    case: tuple[RiskEvent, str], value: float
) -> None:
    event, field = case
    broken: Any = event  # replace() on the union needs a concrete type; any works here
    assert_halted_naming(dataclasses.replace(broken, **{field: value}), field)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (account(T0, -1.0), "equity"),
        (position(T0, "BTCUSDT", 0.1, -5.0), "mark_price"),
        (position(T0, "BTCUSDT", 0.1, 0.0), "mark_price"),
        (order(T0, qty=-1.0), "qty"),
        (order(T0, price=-1.0), "price"),
        (order(T0, symbol=""), "symbol"),
        (order(T0, order_id="x" * 65), "order_id"),
        (order(T0, order_id=7), "order_id"),  # type: ignore[arg-type]
        (account(T0, 1e20), "equity"),
        (account(T0 + 60, 100_000.0), "ts"),  # from the future
        (account(T0 - 3600, 100_000.0), "ts"),  # from the far past
        (Heartbeat(T0 + 30), "ts"),
        (FeedStatus(T0, "BTCUSDT", T0 + 60), "last_event_ts"),
        (OpenOrdersSnapshot(T0, -1), "count"),
        (AccountSnapshot(T0, "100", 0.0, 0.0), "equity"),  # type: ignore[arg-type]
    ],
)
def test_invalid_values_halt_and_name_the_field(event: Any, field: str) -> None:
    assert_halted_naming(event, field)


def test_a_bad_fact_is_not_applied() -> None:
    eng = engine()
    eng.apply(account(T0 + 1, float("nan")), T0 + 1)
    assert eng.daily_loss.current == 100_000.0
    assert eng.drawdown.high_water_mark == 100_000.0


def test_a_good_fact_of_the_same_kind_clears_the_halt_after_the_cooldown() -> None:
    eng = engine()  # bad_data cool-down: 5 s
    eng.apply(account(T0 + 1, float("nan")), T0 + 1)
    # Good data from another kind does not clear it.
    assert eng.apply(Heartbeat(T0 + 2), T0 + 2).state is TradingState.HALTED
    assert eng.apply(account(T0 + 2, float("nan"), VENUE), T0 + 2).state is TradingState.HALTED
    eng.apply(account(T0 + 3, 100_000.0), T0 + 3)
    assert eng.state is TradingState.HALTED  # the venue's bad snapshot is still pending
    eng.apply(account(T0 + 3, 100_000.0, VENUE), T0 + 3)
    assert eng.assessment.next_due == T0 + 8
    assert eng.evaluate(T0 + 8).state is TradingState.ACTIVE


def test_an_unknown_event_type_halts() -> None:
    eng = engine()
    assessment = eng.apply("not an event", T0)  # type: ignore[arg-type]
    assert assessment.state is TradingState.HALTED
    assert "unknown event type str" in assessment.decisions[0].reason


def test_a_non_finite_now_halts_and_a_step_back_is_clamped() -> None:
    eng = engine()
    assert eng.apply(Heartbeat(T0), float("nan")).state is TradingState.HALTED
    assert "now is nan" in eng.assessment.decisions[0].reason
    eng.apply(Heartbeat(T0 + 1), T0 + 1)
    eng.apply(Heartbeat(T0), T0 + 0.5)  # the wall clock stepped back half a second
    assert eng.heartbeat.last == T0 + 1


def test_bad_data_blocks_a_rearm() -> None:
    eng = engine()
    eng.trip(T0, "drill")
    eng.apply(account(T0 + 1, float("inf")), T0 + 1)
    result = eng.rearm(T0 + 2, "drill over")
    assert not result.accepted
    assert "AccountSnapshot.equity" in result.reason


ANY_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(min_value=T0 - 300, max_value=T0 + 300),
    st.none(),
    st.text(max_size=3),
)
ANY_EVENT = st.one_of(
    st.builds(Heartbeat, ANY_NUMBER),
    st.builds(AccountSnapshot, ANY_NUMBER, ANY_NUMBER, ANY_NUMBER, ANY_NUMBER),
    st.builds(
        position,
        ANY_NUMBER,
        st.text(max_size=3),
        ANY_NUMBER,
        ANY_NUMBER,
    ),
    st.builds(
        order,
        ANY_NUMBER,
        st.sampled_from(list(OrderEventKind)),
        pnl=ANY_NUMBER,
        qty=ANY_NUMBER,
        price=ANY_NUMBER,
        symbol=st.text(max_size=3),
    ),
    st.builds(FeedStatus, ANY_NUMBER, st.text(max_size=3), ANY_NUMBER),
    st.builds(OpenOrdersSnapshot, ANY_NUMBER, ANY_NUMBER),
)


@given(st.lists(st.tuples(ANY_EVENT, ANY_NUMBER), max_size=30))
def test_no_input_makes_apply_raise(inputs: list[tuple[Any, Any]]) -> None:
    eng = engine()
    for event, now in inputs:
        assessment = eng.apply(event, now)
        assert assessment is eng.assessment
