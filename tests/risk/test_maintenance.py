"""Maintenance windows: a planned stop holds HALTED, suspends the liveness rules, ends on time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from risk import FeedStatus, PersistedRisk, RiskEngine, TradingState

from .helpers import LIVE_HEARTBEAT as HEARTBEAT
from .helpers import T0, account, beat, limits, order

STALE = {"max_age_s": 5.0, "cooldown_s": 1.0, "kill_after_s": 10.0}
FLOOD = {"windows": [{"seconds": 1.0, "max_orders": 5}], "kill_after_s": 0.0, "cooldown_s": 1.0}


def live_engine(**tables: object) -> RiskEngine:
    eng = RiskEngine(limits(heartbeat=HEARTBEAT, stale_data=STALE, **tables), now=T0)
    eng.apply(account(T0, 100_000.0), T0)
    eng.apply(FeedStatus(T0, "BTCUSDT", T0), T0)
    return eng


def rules(eng: RiskEngine) -> list[str]:
    return [d.rule for d in eng.assessment.decisions]


def test_a_window_holds_the_trader_halted_and_says_why() -> None:
    eng = live_engine()
    result = eng.begin_maintenance(T0 + 1, T0 + 601, "deploy v1.2")
    assert result.accepted
    assert eng.state is TradingState.HALTED
    assert rules(eng) == ["maintenance"]
    assert "deploy v1.2" in eng.assessment.decisions[0].reason


def test_silence_and_stale_data_never_kill_inside_the_window() -> None:
    eng = live_engine()
    eng.begin_maintenance(T0 + 1, T0 + 601, "deploy")
    assert eng.evaluate(T0 + 300).state is TradingState.HALTED
    assert rules(eng) == ["maintenance"]
    assert not eng.latched
    assert eng.utilisation()["heartbeat"] == 0.0


def test_the_window_ends_on_its_own_and_the_heartbeat_clock_counts_from_then() -> None:
    eng = live_engine()
    eng.begin_maintenance(T0 + 1, T0 + 601, "deploy")
    assert eng.assessment.next_due == T0 + 601
    assert eng.evaluate(T0 + 601).state is TradingState.ACTIVE
    assert eng.maintenance is None
    # Nobody came back: the ordinary deadlines apply from the end of the window.
    assert eng.evaluate(T0 + 606.0).state is TradingState.HALTED
    assert eng.evaluate(T0 + 616).state is TradingState.KILLED


def test_other_limits_still_kill_inside_the_window_and_the_kill_ends_it() -> None:
    eng = live_engine(order_rate=FLOOD)
    eng.begin_maintenance(T0 + 1, T0 + 601, "deploy")
    for i in range(10):
        eng.apply(order(T0 + 2 + i * 0.01), T0 + 2 + i * 0.01)
    assert eng.state is TradingState.KILLED
    assert eng.maintenance is None
    assert "maintenance" not in rules(eng)


def test_a_trip_ends_the_window() -> None:
    eng = live_engine()
    eng.begin_maintenance(T0 + 1, T0 + 601, "deploy")
    eng.trip(T0 + 2, "operator drill")
    assert eng.maintenance is None
    assert eng.persisted().maintenance_until is None


def test_ending_needs_a_heartbeating_trader() -> None:
    eng = live_engine()
    eng.begin_maintenance(T0 + 1, T0 + 601, "deploy")
    refused = eng.end_maintenance(T0 + 100, "done")
    assert not refused.accepted
    assert "start the trader first" in refused.reason
    assert eng.state is TradingState.HALTED
    eng.apply(beat(T0 + 120), T0 + 120)  # the new trader is up
    ended = eng.end_maintenance(T0 + 121, "deployed")
    assert ended.accepted
    assert ended.assessment.state is TradingState.ACTIVE
    assert eng.maintenance is None


def test_a_forced_end_resumes_watching_even_without_a_trader() -> None:
    eng = live_engine()
    eng.begin_maintenance(T0 + 1, T0 + 601, "deploy")
    assert eng.end_maintenance(T0 + 100, "store failed", require_heartbeat=False).accepted
    assert eng.evaluate(T0 + 115).state is TradingState.KILLED


def test_reports_from_before_the_stop_are_forgotten() -> None:
    eng = live_engine()
    eng.begin_maintenance(T0 + 1, T0 + 601, "deploy: symbols change")
    eng.apply(beat(T0 + 500), T0 + 500)
    eng.end_maintenance(T0 + 500, "deployed")
    # BTCUSDT was last reported 500 s ago, by the trader that was stopped: not stale now.
    assert eng.state is TradingState.ACTIVE
    eng.apply(FeedStatus(T0 + 501, "ETHUSDT", T0 + 501), T0 + 501)
    for second in range(502, 507):
        eng.apply(beat(T0 + second), T0 + second)
    assert eng.evaluate(T0 + 506.5).state is TradingState.HALTED
    assert rules(eng) == ["stale_data"]


def test_a_silent_trader_cannot_be_stood_down() -> None:
    eng = live_engine()
    result = eng.begin_maintenance(T0 + 4, T0 + 604, "deploy")
    assert not result.accepted
    assert "may be hung" in result.reason
    assert eng.maintenance is None


def test_a_latched_trader_cannot_be_stood_down() -> None:
    eng = live_engine()
    eng.trip(T0 + 1, "drill")
    result = eng.begin_maintenance(T0 + 1, T0 + 601, "deploy")
    assert not result.accepted
    assert "KILLED" in result.reason


def test_an_open_window_can_be_extended_while_the_trader_is_down() -> None:
    eng = live_engine()
    eng.begin_maintenance(T0 + 1, T0 + 601, "deploy")
    assert eng.begin_maintenance(T0 + 500, T0 + 1200, "deploy: slow migration").accepted
    assert eng.evaluate(T0 + 700).state is TradingState.HALTED
    assert eng.assessment.next_due == T0 + 1200


def test_bad_requests_are_refused_naming_what_is_wrong() -> None:
    eng = live_engine()
    assert "after now" in eng.begin_maintenance(T0 + 1, T0, "x").reason
    assert "reason" in eng.begin_maintenance(T0 + 1, T0 + 60, " ").reason
    assert "no maintenance window" in eng.end_maintenance(T0 + 1, "x").reason
    assert eng.state is TradingState.ACTIVE


def test_an_open_window_survives_a_restart_and_an_expired_one_does_not() -> None:
    eng = live_engine()
    eng.begin_maintenance(T0 + 1, T0 + 601, "deploy")
    record = eng.persisted()
    assert (record.maintenance_until, record.maintenance_reason) == (T0 + 601, "deploy")
    again = PersistedRisk.from_dict(record.as_dict())
    restored = RiskEngine(limits(heartbeat=HEARTBEAT), now=T0 + 300, persisted=again)
    assert restored.maintenance is not None
    assert restored.evaluate(T0 + 400).state is TradingState.HALTED
    assert not restored.latched
    late = RiskEngine(limits(heartbeat=HEARTBEAT), now=T0 + 700, persisted=again)
    assert late.maintenance is None


@settings(max_examples=200, deadline=None)
@given(
    start=st.floats(0.0, 2.9),
    length=st.floats(1.0, 10_000.0),
    checks=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20),
)
def test_no_silence_inside_a_window_ever_kills(
    start: float, length: float, checks: list[float]
) -> None:
    eng = live_engine()
    assert eng.begin_maintenance(T0 + start, T0 + start + length, "deploy").accepted
    for f in sorted(checks):
        now = T0 + start + f * length
        if now < T0 + start + length:
            assert eng.evaluate(now).state is TradingState.HALTED
    assert not eng.latched
