"""Drawdown from the marked-equity high-water mark: soft reduces, hard kills."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from risk import TradingState

from .helpers import T0, VENUE, account, engine, limits

WIDE_DAILY = {"max_loss": {"pct": 100}}


def test_soft_drawdown_reduces_then_cools_down_after_recovery() -> None:
    eng = engine(limits(daily_loss=WIDE_DAILY, drawdown={"cooldown_s": 60.0}))
    eng.apply(account(T0 + 1, 120_000.0), T0 + 1)  # new high-water mark
    reduced = eng.apply(account(T0 + 2, 107_000.0), T0 + 2)  # 10.8% < 15% hard
    assert reduced.state is TradingState.REDUCING
    assert reduced.decisions[0].limit == 12_000.0
    recovered = eng.apply(account(T0 + 3, 119_000.0), T0 + 3)
    assert recovered.state is TradingState.REDUCING
    assert recovered.next_due == T0 + 63
    assert eng.evaluate(T0 + 63).state is TradingState.ACTIVE


def test_hard_drawdown_kills_and_refuses_rearm_until_the_mark_is_reset() -> None:
    eng = engine(limits(daily_loss=WIDE_DAILY))
    assert eng.apply(account(T0 + 1, 84_000.0), T0 + 1).state is TradingState.KILLED
    refused = eng.rearm(T0 + 2, "operator checked the book")
    assert not refused.accepted
    assert "drawdown" in refused.reason
    accepted = eng.rearm(T0 + 3, "accept the loss", reset_high_water_mark=True)
    assert accepted.accepted
    assert eng.drawdown.high_water_mark == 84_000.0


def test_drawdown_is_measured_on_the_worse_source() -> None:
    eng = engine(limits(daily_loss=WIDE_DAILY))
    eng.apply(account(T0 + 1, 100_000.0, VENUE), T0 + 1)
    assert eng.apply(account(T0 + 2, 89_000.0, VENUE), T0 + 2).state is TradingState.REDUCING
    assert eng.drawdown.drawdown == 11_000.0


@given(st.lists(st.floats(min_value=0.0, max_value=1e12), min_size=1, max_size=60))
def test_drawdown_is_never_negative(equities: list[float]) -> None:
    eng = engine(limits(daily_loss=WIDE_DAILY), equity=None)
    for i, equity in enumerate(equities):
        source = VENUE if i % 3 == 0 else account(0, 0).source
        eng.apply(account(T0 + i * 0.01, equity, source), T0 + i * 0.01)
        assert eng.drawdown.drawdown >= 0.0
        assert eng.drawdown.high_water_mark == max(equities[: i + 1])


def test_a_rearm_after_recovery_under_the_hard_limit_does_not_relatch() -> None:
    eng = engine(limits(daily_loss=WIDE_DAILY, drawdown={"cooldown_s": 600.0}))
    eng.apply(account(T0 + 1, 84_000.0), T0 + 1)  # hard: killed
    eng.apply(account(T0 + 2, 95_000.0), T0 + 2)  # back under soft; the cool-down holds
    result = eng.rearm(T0 + 3, "recovered")
    assert result.accepted
    assert result.assessment.state is TradingState.ACTIVE


def test_a_rise_one_source_has_not_reported_yet_is_not_a_fall() -> None:
    # The sources report at different moments: the lagging one must not read the other's new
    # peak as drawdown (found by the chaos suite: a +6 % rise killed a trader on drawdown).
    eng = engine(limits(daily_loss=WIDE_DAILY))
    eng.apply(account(T0 + 1, 100_000.0, source=VENUE), T0 + 1)
    rose = eng.apply(account(T0 + 2, 120_000.0), T0 + 2)  # telemetry first: +20 %
    assert rose.state is TradingState.ACTIVE
    assert eng.drawdown.drawdown == 0.0
    caught_up = eng.apply(account(T0 + 3, 120_000.0, source=VENUE), T0 + 3)
    assert caught_up.state is TradingState.ACTIVE
    fell = eng.apply(account(T0 + 4, 100_000.0, source=VENUE), T0 + 4)  # the venue sees a fall
    assert fell.state is TradingState.KILLED  # 16.7 % from its own 120,000 peak: past 15 %
