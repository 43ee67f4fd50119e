"""Order rate: sliding windows exact at the edge, halt on burst, kill when sustained."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from risk import OrderEventKind, TradingState
from risk.rules.order_rate import SlidingWindow

from .helpers import T0, VENUE, engine, limits, order

ONE_SECOND_10 = {
    "windows": [{"seconds": 1.0, "max_orders": 10}, {"seconds": 60.0, "max_orders": 1000}],
    "kill_after_s": 5.0,
    "cooldown_s": 2.0,
}


def test_an_order_exactly_window_seconds_old_has_left_the_window() -> None:
    window = SlidingWindow(1.0, 10, 0.8)
    window.add(T0)
    assert window.expire(T0 + 0.999999) == 1
    assert window.expire(T0 + 1.0) == 0


def test_orders_at_the_same_instant_all_count() -> None:
    window = SlidingWindow(1.0, 10, 0.8)
    for _ in range(5):
        window.add(T0)
    assert window.expire(T0) == 5


@given(
    steps=st.lists(st.integers(min_value=0, max_value=12), min_size=0, max_size=200),
    queries=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=20),
    seconds_quarters=st.integers(min_value=1, max_value=20),
)
def test_the_window_count_equals_a_brute_force_count(
    steps: list[int], queries: list[int], seconds_quarters: int
) -> None:
    # Quarter-second grid: exact in binary floating point, so edges are hit exactly.
    seconds = seconds_quarters / 4
    window = SlidingWindow(seconds, 1_000_000, 0.8)
    added: list[float] = []
    now = T0
    for step in steps:
        now += step / 4
        window.add(now)
        added.append(now)
        assert window.expire(now) == sum(1 for t in added if t <= now < t + seconds)
    for query in sorted(queries):
        at = now + query / 4
        assert window.expire(at) == sum(1 for t in added if t <= at < t + seconds)


def test_a_burst_over_the_limit_halts_and_names_the_window() -> None:
    eng = engine(limits(order_rate=ONE_SECOND_10))
    for i in range(10):
        state = eng.apply(order(T0 + 0.01 * i), T0 + 0.01 * i).state
    assert state is TradingState.WARN
    assessment = eng.apply(order(T0 + 0.5), T0 + 0.5)
    assert assessment.state is TradingState.HALTED
    decision = assessment.decisions[0]
    assert (decision.rule, decision.value, decision.limit) == ("order_rate", 11.0, 10.0)
    assert "in 1 s" in decision.reason


def test_the_halt_holds_for_the_cooldown_then_clears() -> None:
    eng = engine(limits(order_rate=ONE_SECOND_10))
    for i in range(11):
        eng.apply(order(T0 + 0.01 * i), T0 + 0.01 * i)
    # The first order leaves at T0 + 1.0: back to 10 (WARN level), so the hold starts.
    first_due = eng.assessment.next_due
    assert first_due == T0 + 1.0
    assert eng.evaluate(T0 + 1.0).state is TradingState.HALTED
    assert eng.assessment.next_due is not None
    assert eng.evaluate(T0 + 2.5).state is TradingState.HALTED
    assert eng.evaluate(T0 + 3.0).state is TradingState.ACTIVE


def test_a_burst_sustained_for_kill_after_s_kills() -> None:
    eng = engine(limits(order_rate=ONE_SECOND_10))
    state = TradingState.ACTIVE
    for i in range(110):  # 20 per second: double the limit; the 11th (T0 + 0.5) breaches
        now = T0 + i / 20
        state = eng.apply(order(now), now).state
    assert state is TradingState.HALTED
    assert eng.order_rate.over_since == T0 + 0.5
    assert eng.apply(order(T0 + 5.5), T0 + 5.5).state is TradingState.KILLED
    assert eng.latched


def test_a_dip_under_the_limit_restarts_the_sustain_clock() -> None:
    eng = engine(limits(order_rate=ONE_SECOND_10))
    for i in range(11):
        eng.apply(order(T0 + 0.01 * i), T0 + 0.01 * i)
    # At T0 + 1.0 the first order has left: 10 in the window, not over. Then burst again.
    for i in range(3):
        eng.apply(order(T0 + 1.2 + 0.01 * i), T0 + 1.2 + 0.01 * i)
    assert eng.order_rate.over_since > T0 + 1.0
    assert eng.evaluate(T0 + 5.5).state is not TradingState.KILLED


def test_venue_acks_count_as_venue_orders_and_telemetry_acks_do_not() -> None:
    # Anonymous venue ACKs are key misuse (a kill): this test is about the rate alone.
    eng = engine(limits(order_rate=ONE_SECOND_10, key_misuse={"enabled": False}))
    for i in range(11):
        eng.apply(order(T0 + 0.01 * i, OrderEventKind.ACK), T0 + 0.01 * i)
    assert eng.order_rate.count(0, 0, T0 + 0.2) == 0
    for i in range(11):
        eng.apply(order(T0 + 0.2 + 0.01 * i, OrderEventKind.ACK, source=VENUE), T0 + 0.2)
    assert eng.order_rate.count(1, 0, T0 + 0.2) == 11
    assert eng.state is TradingState.HALTED
    assert "venue" in eng.assessment.decisions[0].reason


def test_level_drop_at_names_when_the_count_falls_below_its_level() -> None:
    window = SlidingWindow(1.0, 10, 0.8)  # warn from 8
    for i in range(12):
        window.add(T0 + i / 16)
    # 12 > 10: two must leave, the second-oldest at T0 + 1/16 + 1.
    assert window.level_drop_at() == T0 + 1 / 16 + 1.0
    assert window.expire(T0 + 1 / 16 + 1.0) == 10
    # 10 >= 8 (WARN): three must leave to get under 8.
    assert window.level_drop_at() == T0 + 4 / 16 + 1.0
    assert window.expire(T0 + 4 / 16 + 1.0) == 7
    assert window.level_drop_at() == float("inf")


def test_a_steady_rate_at_warn_reuses_its_decision() -> None:
    eng = engine(limits(order_rate=ONE_SECOND_10))
    for i in range(9):
        eng.apply(order(T0 + i / 10), T0 + i / 10)
    first = eng.assessment
    assert first.state is TradingState.WARN
    # The count only falls below WARN once two orders have left: no timer before that.
    assert first.next_due == T0 + 1.1
    # One in, one out: the count stays 9, so the decision is the same object.
    assert eng.apply(order(T0 + 1.05), T0 + 1.05).decisions[0] is first.decisions[0]


def test_the_kill_happens_at_the_wake_up_it_scheduled_whatever_the_float_rounding() -> None:
    # At epoch-sized times `(since + k) - since` can round below k: deciding with one
    # expression and scheduling with the other left the shell's timer firing at `due` forever.
    since, kill_after = 1700134364.2441125, 0.1
    assert (since + kill_after) - since < kill_after
    one_per_second = {
        "windows": [{"seconds": 1.0, "max_orders": 1}],
        "kill_after_s": kill_after,
        "cooldown_s": 2.0,
    }
    eng = engine(limits(order_rate=one_per_second), now=since)
    eng.apply(order(since), since)
    assert eng.apply(order(since), since).state is TradingState.HALTED
    due = eng.next_due
    assert due == since + kill_after
    assessment = eng.evaluate(due)
    assert assessment.state is TradingState.KILLED
    assert assessment.next_due is None or assessment.next_due > due
