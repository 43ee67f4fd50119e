"""Venue blindness: without a fresh venue view for `max_venue_blind_s` the trader is HALTED, and
equity the venue showed before that is not used as if it were fresh."""

from __future__ import annotations

from risk import RiskEngine, TradingState

from .helpers import QUIET_HEARTBEAT, T0, TELEMETRY, VENUE, account, limits, rules_of

BLIND_S = 5.0


def venue_engine(max_blind_s: float | None = BLIND_S) -> RiskEngine:
    """Telemetry and the venue both show 100 000 at T0."""
    eng = RiskEngine(limits(), now=T0, max_venue_blind_s=max_blind_s)
    eng.apply(account(T0, 100_000.0, TELEMETRY), T0)
    eng.apply(account(T0, 100_000.0, VENUE), T0)
    return eng


def day_start(eng: RiskEngine) -> float | None:
    return eng.daily_loss.day_start_equity


def test_next_due_is_the_instant_the_view_goes_blind_and_it_halts_exactly_then() -> None:
    eng = venue_engine()
    assert eng.state is TradingState.ACTIVE
    assert eng.next_due == T0 + BLIND_S
    assert eng.evaluate(T0 + BLIND_S - 0.001).state is TradingState.ACTIVE
    assessment = eng.evaluate(T0 + BLIND_S)
    assert assessment.state is TradingState.HALTED
    blind = next(d for d in assessment.decisions if d.rule == "venue_blind")
    assert (blind.value, blind.limit) == (BLIND_S, BLIND_S)
    assert "no fresh venue view for 5.00 s (max 5 s)" in blind.reason


def test_each_fresh_view_pushes_the_instant_back() -> None:
    eng = venue_engine()
    for i in range(1, 20):
        now = T0 + i
        assert eng.apply(account(now, 100_000.0, VENUE), now).state is TradingState.ACTIVE
        assert eng.evaluate(now + BLIND_S - 0.001).state is TradingState.ACTIVE
    # The shell's early timers only ever yield a later next_due, never a false HALT.
    assert eng.next_due == T0 + 19 + BLIND_S


def test_telemetry_saying_all_is_well_does_not_keep_a_blind_trader_active() -> None:
    eng = venue_engine()
    for i in range(1, 12):
        now = T0 + i
        eng.apply(account(now, 101_000.0, TELEMETRY), now)
    assert eng.state is TradingState.HALTED
    assert "venue_blind" in rules_of(eng)


def test_a_fresh_view_releases_at_once() -> None:
    eng = venue_engine()
    eng.evaluate(T0 + 30.0)
    assert eng.state is TradingState.HALTED
    released = eng.apply(account(T0 + 31.0, 100_000.0, VENUE), T0 + 31.0)
    assert released.state is TradingState.ACTIVE
    assert released.decisions == ()
    assert released.next_due == T0 + 31.0 + BLIND_S


def test_the_view_counts_from_when_it_was_observed_not_when_it_was_applied() -> None:
    eng = venue_engine()
    eng.apply(account(T0 + 1.0, 100_000.0, VENUE), T0 + 3.0)  # read at 1, applied at 3
    assert eng.evaluate(T0 + 1.0 + BLIND_S).state is TradingState.HALTED


def test_a_venue_that_never_answers_is_blind_from_engine_start() -> None:
    eng = RiskEngine(limits(), now=T0, max_venue_blind_s=BLIND_S)
    eng.apply(account(T0, 100_000.0, TELEMETRY), T0)
    assert eng.state is TradingState.ACTIVE
    assert eng.evaluate(T0 + BLIND_S).state is TradingState.HALTED
    assert "venue_blind" in rules_of(eng)


def test_stale_venue_equity_is_not_a_measure_the_days_loss_is_unknown() -> None:
    eng = venue_engine()
    eng.evaluate(T0 + BLIND_S)
    by_rule = {d.rule: d for d in eng.assessment.decisions}
    assert by_rule["daily_loss"].state is TradingState.HALTED
    assert "the day's loss is unknown: the venue's equity is 5.00 s old" in (
        by_rule["daily_loss"].reason
    )
    assert "the telemetry alone shows a loss of 0.00" in by_rule["daily_loss"].reason
    assert eng.assessment.decisions[0].rule == "venue_blind"  # the cause is the reason shown
    assert eng.daily_loss.equity[VENUE] is None
    assert eng.drawdown.equity[VENUE] is None


def test_a_breach_the_telemetry_shows_while_blind_still_kills() -> None:
    eng = venue_engine()
    eng.evaluate(T0 + BLIND_S)
    killed = eng.apply(account(T0 + 6.0, 90_000.0, TELEMETRY), T0 + 6.0)
    assert killed.state is TradingState.KILLED
    assert eng.latched


def test_when_the_view_returns_its_equity_is_measured_again() -> None:
    eng = venue_engine()
    eng.evaluate(T0 + BLIND_S)
    # The venue shows the loss the telemetry hid; the first fresh view kills on it.
    assert eng.apply(account(T0 + 9.0, 95_000.0, VENUE), T0 + 9.0).state is TradingState.KILLED
    assert eng.persisted().latch_reason.startswith("daily_loss")


def test_a_rearm_while_blind_is_refused_and_does_not_make_the_view_fresh() -> None:
    eng = venue_engine()
    eng.trip(T0 + 1.0, "drill")
    eng.evaluate(T0 + BLIND_S + 1.0)
    result = eng.rearm(T0 + BLIND_S + 2.0, "drill over")
    assert not result.accepted
    assert "no fresh venue view" in result.reason
    eng.apply(account(T0 + 8.0, 100_000.0, VENUE), T0 + 8.0)
    assert eng.rearm(T0 + 8.0, "drill over").accepted
    assert eng.state is TradingState.ACTIVE


def test_maintenance_does_not_suspend_blindness() -> None:
    eng = RiskEngine(limits(heartbeat=QUIET_HEARTBEAT), now=T0, max_venue_blind_s=BLIND_S)
    eng.apply(account(T0, 100_000.0, VENUE), T0)
    assert eng.begin_maintenance(T0 + 1.0, T0 + 600.0, "upgrade").accepted
    eng.evaluate(T0 + 1.0 + BLIND_S)
    assert {"maintenance", "venue_blind"} <= rules_of(eng)


def test_a_trader_without_a_venue_view_has_no_blindness_rule() -> None:
    eng = venue_engine(max_blind_s=None)
    assert eng.evaluate(T0 + 3_600.0).state is TradingState.ACTIVE
    assert "venue_blind" not in eng.utilisation()


def test_utilisation_is_the_views_age_over_the_limit() -> None:
    eng = venue_engine()
    eng.evaluate(T0 + BLIND_S)
    assert eng.utilisation()["venue_blind"] == 1.0


def test_a_daily_reset_while_blind_leaves_the_day_start_unknown_until_the_view_returns() -> None:
    eng = venue_engine()
    eng.evaluate(T0 + BLIND_S)
    eng.apply(account(T0 + 6.0, 130_000.0, TELEMETRY), T0 + 6.0)  # the trader's word only
    eng.daily_reset(T0 + 7.0)
    assert day_start(eng) is None
    eng.apply(account(T0 + 8.0, 130_000.0, TELEMETRY), T0 + 8.0)
    assert day_start(eng) is None  # still not on the trader's word alone
    assert eng.assessment.state is TradingState.HALTED
    returned = eng.apply(account(T0 + 9.0, 100_000.0, VENUE), T0 + 9.0)
    assert day_start(eng) == 100_000.0  # the worse of the two, once both known
    assert returned.state is TradingState.ACTIVE


def test_a_venue_never_seen_leaves_a_fresh_day_start_unknown_once_blind() -> None:
    eng = RiskEngine(limits(), now=T0, max_venue_blind_s=BLIND_S)
    eng.evaluate(T0 + BLIND_S)
    eng.apply(account(T0 + 6.0, 130_000.0, TELEMETRY), T0 + 6.0)
    assert day_start(eng) is None
    daily = next(d for d in eng.assessment.decisions if d.rule == "daily_loss")
    assert "the day's loss is unknown: the venue's equity is 5.00 s old" in daily.reason
