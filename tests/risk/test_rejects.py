"""Rejects: a run of consecutive rejects, or the windowed ratio with a minimum sample."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from risk import OrderEventKind, TradingState

from .helpers import T0, engine, limits, order

REJECTS = {
    "max_consecutive": 5,
    "max_ratio_pct": 30,
    "window_s": 60.0,
    "min_sample": 10,
    "cooldown_s": 10.0,
}
ACK, REJECT = OrderEventKind.ACK, OrderEventKind.REJECT


def test_consecutive_rejects_halt_and_an_ack_ends_the_run() -> None:
    eng = engine(limits(rejects=REJECTS))
    for i in range(4):
        eng.apply(order(T0 + i, REJECT), T0 + i)
    assert eng.state is TradingState.WARN
    halted = eng.apply(order(T0 + 4, REJECT), T0 + 4)
    assert halted.state is TradingState.HALTED
    assert "5 consecutive rejects" in halted.decisions[0].reason
    assert eng.apply(order(T0 + 5, ACK), T0 + 5).state is TradingState.HALTED  # cool-down
    assert eng.evaluate(T0 + 15).state is TradingState.ACTIVE


def test_the_ratio_waits_for_the_minimum_sample() -> None:
    eng = engine(limits(rejects=REJECTS))
    for i, kind in enumerate([REJECT, REJECT, ACK, REJECT, ACK, REJECT, ACK, REJECT, ACK]):
        eng.apply(order(T0 + i, kind), T0 + i)
    assert eng.state is not TradingState.HALTED  # 5 of 9: under the minimum sample of 10
    assessment = eng.apply(order(T0 + 9, ACK), T0 + 9)
    assert assessment.state is TradingState.HALTED  # 5 of 10 = 50% > 30%
    assert assessment.decisions[0].value == 50.0


def test_old_outcomes_leave_the_ratio_window() -> None:
    eng = engine(limits(rejects=REJECTS))
    kinds = [REJECT, ACK] * 5
    for i, kind in enumerate(kinds):
        eng.apply(order(T0 + i, kind), T0 + i)
    assert eng.state is TradingState.HALTED
    for i in range(10):
        eng.apply(order(T0 + 61 + i, ACK), T0 + 61 + i)
    assert eng.rejects.sources[0].rejected == 0
    assert eng.evaluate(T0 + 200).state is TradingState.ACTIVE


@given(outcomes=st.lists(st.tuples(st.integers(0, 8), st.booleans()), min_size=1, max_size=120))
def test_the_reject_ratio_and_run_equal_a_brute_force_count(
    outcomes: list[tuple[int, bool]],
) -> None:
    eng = engine(limits(rejects={**REJECTS, "max_consecutive": 1000, "max_ratio_pct": 100}))
    seen: list[tuple[float, bool]] = []
    now = T0
    for step, rejected in outcomes:
        now += step / 4
        eng.apply(order(now, REJECT if rejected else ACK), now)
        seen.append((now, rejected))
        inside = [r for t, r in seen if now < t + 60.0]
        state = eng.rejects.sources[0]
        assert (len(state.outcomes), state.rejected) == (len(inside), sum(inside))
        run = 0
        for _, r in reversed(seen):
            if not r:
                break
            run += 1
        assert state.consecutive == run
