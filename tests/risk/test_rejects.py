"""Rejects: a run of consecutive rejects, or the windowed ratio with a minimum sample."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from risk import AccountSnapshot, OrderEventKind, TradingState

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
        for t, r in reversed(seen):
            if not r or now >= t + 60.0:
                break
            run += 1
        assert state.consecutive == run


KILLING = {**REJECTS, "kill_after_s": 10.0}
KILLED, HALTED = TradingState.KILLED, TradingState.HALTED


def test_a_reject_storm_never_kills_without_kill_after_s() -> None:
    eng = engine(limits(rejects=REJECTS))
    for i in range(5):
        eng.apply(order(T0 + i, REJECT), T0 + i)
    assert eng.evaluate(T0 + 30).state is HALTED
    assert not eng.latched


def test_a_run_of_rejects_ends_as_its_rejects_leave_the_window() -> None:
    # A halted trader places nothing, so no ACK will ever end the run: the window must.
    eng = engine(limits(rejects=REJECTS))
    for i in range(5):
        eng.apply(order(T0 + i, REJECT), T0 + i)
    assert eng.state is HALTED
    assert eng.evaluate(T0 + 61).state is HALTED  # one reject has left: 4 in a row, cool-down
    due = eng.next_due
    assert due is not None
    while due is not None and due < T0 + 200:
        eng.evaluate(due)
        due = eng.next_due
    assert eng.state is TradingState.ACTIVE
    assert eng.rejects.sources[0].consecutive == 0


def test_a_sustained_run_of_rejects_kills_at_exactly_kill_after_s() -> None:
    eng = engine(limits(rejects=KILLING))
    for i in range(5):
        eng.apply(order(T0 + i, REJECT), T0 + i)
    assert eng.state is HALTED
    assert eng.assessment.next_due == T0 + 4 + 10.0  # the escalation is scheduled, not polled
    assert eng.evaluate(T0 + 13.999).state is HALTED
    killed = eng.evaluate(T0 + 14.0)
    assert killed.state is KILLED
    assert eng.latched
    reason = next(d.reason for d in killed.decisions if d.rule == "rejects")
    assert "5 consecutive rejects" in reason
    assert "held 10.0 s (kill after 10 s)" in reason


def test_an_ack_before_kill_after_s_ends_the_escalation() -> None:
    eng = engine(limits(rejects={**KILLING, "min_sample": 1000}))  # the run alone
    for i in range(5):
        eng.apply(order(T0 + i, REJECT), T0 + i)
    eng.apply(order(T0 + 9, ACK), T0 + 9)  # the run is over
    assert eng.rejects.sustain.since == float("inf")
    assert eng.evaluate(T0 + 14.0).state is HALTED  # cool-down, not a kill
    for i in range(5):
        eng.apply(order(T0 + 20 + i, REJECT), T0 + 20 + i)
    assert eng.evaluate(T0 + 33.9).state is HALTED  # a new breach gets a full kill_after_s
    assert eng.evaluate(T0 + 34.0).state is KILLED


def test_a_ratio_breach_kills_once_sustained_and_a_rearm_restarts_the_clock() -> None:
    eng = engine(limits(rejects={**KILLING, "max_consecutive": 1000}))
    for i, kind in enumerate([REJECT, ACK] * 5):
        eng.apply(order(T0 + i, kind), T0 + i)
    assert eng.state is HALTED  # 50% of 10 > 30%
    assert eng.evaluate(T0 + 19.0).state is KILLED  # breached since T0 + 9
    eng.apply(AccountSnapshot(T0 + 19, 100_000.0, 0.0, 0.0), T0 + 19)
    result = eng.rearm(T0 + 20, "venue fixed")
    assert result.accepted
    assert result.assessment.state is HALTED  # still breached: a fresh kill_after_s
    assert eng.assessment.next_due is not None
    assert eng.assessment.next_due <= T0 + 30.0


def test_a_ratio_rising_as_accepted_orders_expire_is_seen_when_it_happens() -> None:
    """ACKs first, then rejects: the ratio crosses the limit when ACKs leave the window, with
    no event at that time; the rule wakes for it, and the breach ends the same way."""
    eng = engine(limits(rejects={**KILLING, "max_consecutive": 1000, "window_s": 10.0}))
    for i in range(13):
        eng.apply(order(T0 + i * 0.1, ACK), T0 + i * 0.1)
    for i in range(4):
        eng.apply(order(T0 + 5 + i * 0.1, REJECT), T0 + 5 + i * 0.1)
    assert eng.state is TradingState.ACTIVE  # 4 of 17 = 23.5%, under the 24% warn level
    assert eng.assessment.next_due == pytest.approx(T0 + 10.0, abs=1e-6)  # 4 of 16 = 25%: WARN
    seen: list[tuple[float, TradingState]] = []
    while len(seen) < 12:
        due = eng.assessment.next_due
        assert due is not None
        if due > T0 + 30:
            break
        seen.append((due, eng.evaluate(due).state))
    first_halt = next(t for t, state in seen if state is HALTED)
    assert first_halt == pytest.approx(T0 + 10.3, abs=1e-6)  # 4 of 13 = 30.8% > 30%
    # ... and at T0 + 10.7 only 9 outcomes remain: under the minimum sample, no ratio.
    assert eng.rejects.sustain.since == float("inf")
    assert all(state is not KILLED for _, state in seen)
    assert not eng.latched


def test_without_a_warn_level_a_run_of_rejects_still_halts_at_its_limit() -> None:
    # warn_at_pct = 100 means no WARN level: the limits themselves must still be checked.
    eng = engine(limits(warn_at_pct=100, rejects={**REJECTS, "min_sample": 20}))
    for i in range(4):
        assert eng.apply(order(T0 + i, REJECT), T0 + i).state is TradingState.ACTIVE
    halted = eng.apply(order(T0 + 4, REJECT), T0 + 4)
    assert halted.state is HALTED
    assert "5 consecutive rejects" in halted.decisions[0].reason


def test_without_a_warn_level_an_ack_completing_the_sample_halts_on_the_ratio() -> None:
    eng = engine(limits(warn_at_pct=100, rejects={**REJECTS, "max_consecutive": 1000}))
    for i, kind in enumerate([REJECT, ACK] * 4 + [REJECT]):
        eng.apply(order(T0 + i, kind), T0 + i)
    assert eng.state is TradingState.ACTIVE  # 5 of 9: under the minimum sample of 10
    assessment = eng.apply(order(T0 + 9, ACK), T0 + 9)
    assert assessment.state is HALTED  # 5 of 10 = 50% > 30%
    assert assessment.decisions[0].value == 50.0
