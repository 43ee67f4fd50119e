"""Price collar: each priced order against the venue's own mid, at the trader's SUBMIT and at
the venue's ACK; with no fresh mid the collar says it cannot judge."""

from __future__ import annotations

import pytest

from risk import EventSource, MarketEvent, OrderEventKind, RiskEngine, TradingState

from .helpers import T0, VENUE, engine, limits, order

SUBMIT = OrderEventKind.SUBMIT
ACK = OrderEventKind.ACK
COLLAR = {
    "collar_pct": 5,
    "max_mid_age_s": 2.0,
    "require_mid": False,
    "kill_multiple": 2.0,
    "cooldown_s": 30.0,
}


def collar_engine(**overrides: object) -> RiskEngine:
    eng = engine(limits(price_collar={**COLLAR, **overrides}))
    eng.apply(MarketEvent(T0, "BTCUSDT", 49_990.0, 50_010.0), T0)  # mid 50,000
    return eng


def priced(
    eng: RiskEngine,
    t: float,
    price: float,
    *,
    kind: OrderEventKind = SUBMIT,
    source: EventSource = EventSource.TELEMETRY,
    qty: float = 0.001,
    order_id: str = "",
) -> TradingState:
    event = order(t, kind, price=price, qty=qty, source=source, order_id=order_id)
    return eng.apply(event, t).state


def test_an_order_near_the_mid_changes_nothing() -> None:
    eng = collar_engine()
    assert priced(eng, T0 + 0.1, 50_500.0) is TradingState.ACTIVE
    assert eng.utilisation()["price_collar"] == 0.0


def test_an_order_past_the_warn_level_warns() -> None:
    eng = collar_engine()
    assert priced(eng, T0 + 0.1, 52_250.0) is TradingState.WARN  # 4.5% of a 5% collar
    assert eng.utilisation()["price_collar"] == pytest.approx(0.9)


def test_an_order_outside_the_collar_halts_naming_it_then_clears_after_the_cooldown() -> None:
    eng = collar_engine()
    assert priced(eng, T0 + 0.1, 47_000.0, order_id="fat") is TradingState.HALTED
    (decision,) = eng.assessment.decisions
    assert decision.rule == "price_collar"
    assert decision.value == pytest.approx(6.0)
    assert "order fat BTCUSDT BUY price 47000 is 6.00% from the venue's mid 50000" in (
        decision.reason
    )
    assert eng.evaluate(T0 + 30.1).state is TradingState.ACTIVE


def test_an_order_far_outside_the_collar_is_killed_at_the_venues_ack() -> None:
    eng = engine(limits(price_collar=COLLAR, key_misuse={"enabled": False}))
    eng.apply(MarketEvent(T0, "BTCUSDT", 49_990.0, 50_010.0), T0)
    assert priced(eng, T0 + 0.1, 60_000.0, kind=ACK, source=VENUE) is TradingState.KILLED
    assert "venue ACK" in eng.persisted().latch_reason


def test_a_market_order_is_not_collared() -> None:
    eng = collar_engine()
    assert priced(eng, T0 + 0.1, 0.0) is TradingState.ACTIVE


def test_without_a_mid_the_collar_cannot_judge_and_says_so() -> None:
    eng = engine(limits(price_collar=COLLAR))
    assert priced(eng, T0, 1.0, order_id="blind") is TradingState.ACTIVE
    assert eng.price_collar.unjudged == 1
    assert eng.price_collar.detail == (
        "no mid for BTCUSDT fresher than 2 s: order blind BTCUSDT BUY not collared"
    )


def test_a_mid_older_than_its_maximum_age_is_no_mid() -> None:
    eng = collar_engine()
    assert priced(eng, T0 + 2.5, 1.0) is TradingState.ACTIVE
    assert eng.price_collar.unjudged == 1


def test_require_mid_halts_an_order_the_collar_cannot_judge() -> None:
    eng = engine(limits(price_collar={**COLLAR, "require_mid": True}))
    assert priced(eng, T0, 50_000.0) is TradingState.HALTED
    assert "require_mid" in eng.assessment.decisions[0].reason


def test_an_older_quote_arriving_late_does_not_move_the_mid() -> None:
    eng = collar_engine()
    eng.apply(MarketEvent(T0 + 1, "BTCUSDT", 59_990.0, 60_010.0), T0 + 1)
    eng.apply(MarketEvent(T0 + 0.5, "BTCUSDT", 49_990.0, 50_010.0), T0 + 1.1)
    assert priced(eng, T0 + 1.2, 60_000.0) is TradingState.ACTIVE


def test_the_traders_own_quotes_never_become_the_mid() -> None:
    eng = engine(limits(price_collar=COLLAR))
    eng.apply(MarketEvent(T0, "BTCUSDT", 49_990.0, 50_010.0, EventSource.TELEMETRY), T0)
    assert eng.price_collar.mid("BTCUSDT", T0) == 0.0


def test_a_market_order_is_sized_at_the_mid() -> None:
    eng = collar_engine()  # the standard profile: 5% of 100,000 per order, killed at 2x
    state = priced(eng, T0 + 0.1, 0.0, qty=0.2)  # 0.2 x 50,000 = 10,000
    assert state is TradingState.KILLED
    assert "order_size" in eng.persisted().latch_reason


@pytest.mark.parametrize(
    ("bid", "ask", "words"),
    [
        (0.0, 1.0, "MarketEvent.bid is 0"),
        (2.0, 1.0, "MarketEvent is crossed: ask 1 below bid 2"),
        (float("nan"), 1.0, "MarketEvent.bid is nan"),
    ],
)
def test_a_bad_quote_halts_and_never_becomes_the_mid(bid: float, ask: float, words: str) -> None:
    eng = collar_engine()
    halted = eng.apply(MarketEvent(T0 + 0.1, "BTCUSDT", bid, ask, EventSource.VENUE), T0 + 0.1)
    assert halted.state is TradingState.HALTED
    assert words in halted.decisions[0].reason
    assert eng.price_collar.mid("BTCUSDT", T0 + 0.2) == 50_000.0
