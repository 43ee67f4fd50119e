"""Daily loss: against day-start equity, sticky until the configurable daily reset."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from risk import AccountSnapshot, RiskEngine, TradingState
from risk.rules.daily_loss import next_reset

from .helpers import T0, VENUE, account, engine, limits

DAY = 86_400.0


def test_a_fresh_engine_halts_until_equity_is_known() -> None:
    eng = RiskEngine(limits(), now=T0)
    assert eng.state is TradingState.HALTED
    assert eng.assessment.decisions[0].rule == "daily_loss"
    assert "equity unknown" in eng.assessment.decisions[0].reason
    assert eng.apply(account(T0, 100_000.0), T0).state is TradingState.ACTIVE


def test_a_loss_past_the_limit_kills_and_warns_before() -> None:
    eng = engine()  # 3% of 100 000 = 3 000
    assert eng.apply(account(T0 + 1, 97_700.0), T0 + 1).state is TradingState.ACTIVE
    warned = eng.apply(account(T0 + 2, 97_600.0), T0 + 2)
    assert warned.state is TradingState.WARN
    assert (warned.decisions[0].value, warned.decisions[0].limit) == (2_400.0, 3_000.0)
    killed = eng.apply(account(T0 + 3, 96_999.0), T0 + 3)
    assert killed.state is TradingState.KILLED
    assert killed.decisions[0].rule == "daily_loss"


def test_unrealized_losses_count_because_equity_is_marked() -> None:
    eng = engine()
    snapshot = AccountSnapshot(T0 + 1, 96_000.0, 500.0, -4_500.0)
    assert eng.apply(snapshot, T0 + 1).state is TradingState.KILLED


def test_the_worse_source_is_measured() -> None:
    eng = engine()
    eng.apply(account(T0 + 1, 100_500.0), T0 + 1)
    assert eng.apply(account(T0 + 1, 96_500.0, VENUE), T0 + 1).state is TradingState.KILLED


def test_halted_action_is_sticky_until_the_daily_reset() -> None:
    lim = limits(
        daily_loss={"max_loss": {"quote": 1000}, "action": "halted", "reset_time": "00:00"}
    )
    eng = engine(lim)
    assert eng.apply(account(T0 + 1, 98_900.0), T0 + 1).state is TradingState.HALTED
    # Equity recovers, but the halt holds.
    assert eng.apply(account(T0 + 2, 100_000.0), T0 + 2).state is TradingState.HALTED
    assert not eng.latched
    reset_at = eng.next_daily_reset(T0 + 2)
    assert eng.assessment.next_due == reset_at
    assert eng.evaluate(reset_at).state is TradingState.ACTIVE
    assert eng.persisted().day_start_ts == reset_at
    assert eng.persisted().day_start_equity == 100_000.0


def test_the_daily_reset_happens_inside_apply_when_due() -> None:
    eng = engine(limits(daily_loss={"max_loss": {"quote": 1000}, "action": "halted"}))
    eng.apply(account(T0 + 1, 98_900.0), T0 + 1)
    later = eng.next_daily_reset(T0) + 1
    assert eng.apply(account(later, 98_900.0), later).state is TradingState.ACTIVE


def test_a_percent_limit_follows_the_new_day_start_equity() -> None:
    eng = engine(
        limits(
            daily_loss={"max_loss": {"pct": 10}, "action": "halted"},
            drawdown={"soft": {"pct": 90}, "hard": {"pct": 100}},
        )
    )
    eng.apply(account(T0 + 1, 50_000.0), T0 + 1)  # halted: lost 50%
    eng.daily_reset(T0 + 2)
    assert eng.daily_loss.limit == 5_000.0
    assert eng.apply(account(T0 + 3, 45_500.0), T0 + 3).state is TradingState.WARN


def test_next_reset_is_strictly_after_now_in_the_configured_zone() -> None:
    lim = limits(daily_loss={"reset_time": "17:00", "timezone": "America/New_York"}).daily_loss
    zone = ZoneInfo("America/New_York")
    at_five = datetime(2024, 7, 1, 17, 0, tzinfo=zone).timestamp()
    assert next_reset(at_five - 1, lim) == at_five
    assert next_reset(at_five, lim) == datetime(2024, 7, 2, 17, 0, tzinfo=zone).timestamp()


@pytest.mark.parametrize(
    ("before", "after", "hours"),
    [((2024, 3, 9), (2024, 3, 10), 23), ((2024, 11, 2), (2024, 11, 3), 25)],
)
def test_next_reset_follows_daylight_saving_changes(
    before: tuple[int, int, int], after: tuple[int, int, int], hours: int
) -> None:
    lim = limits(daily_loss={"reset_time": "12:00", "timezone": "America/New_York"}).daily_loss
    zone = ZoneInfo("America/New_York")
    first = datetime(*before, 12, 0, tzinfo=zone).timestamp()
    second = next_reset(first, lim)
    assert second == datetime(*after, 12, 0, tzinfo=zone).timestamp()
    assert second - first == hours * 3600


def test_a_persisted_day_start_from_yesterday_resets_at_start() -> None:
    eng = engine()
    eng.apply(account(T0 + 1, 99_000.0), T0 + 1)
    stored = eng.persisted()
    restored = RiskEngine(limits(), now=T0 + 2 * DAY, persisted=stored)
    assert restored.persisted().day_start_ts == T0 + 2 * DAY
    restored.apply(account(T0 + 2 * DAY, 99_000.0), T0 + 2 * DAY)
    assert restored.daily_loss.day_start_equity == 99_000.0
