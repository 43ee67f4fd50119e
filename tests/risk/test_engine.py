"""The engine: composition, the latch, re-arm, next_due, and restarts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from risk import EventSource, MarketEvent, OrderEventKind, RiskEngine, TradingState
from risk.rules import Recovery

from .helpers import T0, account, beat, engine, limits, order

HEARTBEAT = {"interval_s": 1.0, "warn_after_s": 3.0, "halt_after_s": 5.0, "kill_after_s": 15.0}
RATE = {
    "windows": [{"seconds": 1.0, "max_orders": 10}],
    "kill_after_s": 3.0,
    "cooldown_s": 2.0,
}


def test_decisions_are_listed_worst_first_with_their_measures() -> None:
    eng = engine(limits(order_rate=RATE))
    for i in range(9):
        eng.apply(order(T0 + 0.01 * i), T0 + 0.01 * i)  # order rate WARN
    assessment = eng.apply(account(T0 + 1, 96_000.0), T0 + 0.5)  # daily loss: KILLED
    states = [d.state for d in assessment.decisions]
    assert states == sorted(states, reverse=True)
    assert assessment.state is TradingState.KILLED
    assert {d.rule for d in assessment.decisions} == {"daily_loss", "latch", "order_rate"}
    utilisation = eng.utilisation()
    assert utilisation["daily_loss"] > 1.0
    assert 0.8 < utilisation["order_rate"] < 1.0


def test_a_manual_trip_latches_and_a_rearm_needs_a_reason() -> None:
    eng = engine()
    assert eng.trip(T0 + 1, "operator drill").state is TradingState.KILLED
    assert not eng.rearm(T0 + 2, "  ").accepted
    result = eng.rearm(T0 + 3, "drill over")
    assert result.accepted
    assert result.assessment.state is TradingState.ACTIVE
    assert not eng.rearm(T0 + 4, "again").accepted  # nothing to re-arm


def test_a_daily_loss_kill_cannot_be_rearmed_before_the_daily_reset() -> None:
    eng = engine()
    eng.apply(account(T0 + 1, 96_000.0), T0 + 1)
    refused = eng.rearm(T0 + 2, "operator looked")
    assert not refused.accepted
    assert refused.reason.startswith("hard limit still breached: daily_loss")
    reset_at = eng.next_daily_reset(T0 + 2)
    eng.evaluate(reset_at)
    assert eng.state is TradingState.KILLED  # the reset clears the breach, not the latch
    assert eng.rearm(reset_at + 1, "new day").accepted


def test_a_rearm_before_any_equity_is_refused() -> None:
    eng = RiskEngine(limits(), now=T0)
    eng.trip(T0, "start latched")
    assert "equity unknown" in eng.rearm(T0 + 1, "go").reason


# --- properties -------------------------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("account"), st.floats(min_value=80_000, max_value=120_000)),
        st.tuples(st.just("burst"), st.integers(min_value=1, max_value=25)),
        st.tuples(st.just("beat"), st.just(0)),
        st.tuples(st.just("advance"), st.floats(min_value=0.0, max_value=20.0)),
        st.tuples(st.just("trip"), st.just(0)),
        st.tuples(st.just("rearm"), st.booleans()),
        st.tuples(st.just("nan"), st.just(0)),
        st.tuples(st.just("loss_fill"), st.just(0)),
        st.tuples(st.just("maintenance"), st.floats(min_value=0.5, max_value=60.0)),
        st.tuples(st.just("end_maintenance"), st.booleans()),
    ),
    max_size=40,
)


def _run(eng: RiskEngine, op: tuple[str, object], now: float) -> tuple[float, bool]:
    """Apply one operation; return the new time and whether it was an accepted re-arm."""
    kind, arg = op
    if kind == "account":
        assert isinstance(arg, float)
        eng.apply(account(now, arg), now)
    elif kind == "burst":
        assert isinstance(arg, int)
        for _ in range(arg):
            now += 0.01
            eng.apply(order(now), now)
    elif kind == "beat":
        eng.apply(beat(now), now)
    elif kind == "advance":
        assert isinstance(arg, float)
        now += arg
        eng.evaluate(now)
    elif kind == "trip":
        eng.trip(now, "property")
    elif kind == "rearm":
        return now, eng.rearm(now, "property", reset_high_water_mark=bool(arg)).accepted
    elif kind == "nan":
        eng.apply(account(now, float("nan")), now)
    elif kind == "loss_fill":
        eng.apply(order(now, OrderEventKind.FILL, pnl=-10.0), now)
    elif kind == "maintenance":
        assert isinstance(arg, float)
        eng.begin_maintenance(now, now + arg, "property")
    elif kind == "end_maintenance":
        eng.end_maintenance(now, "property", require_heartbeat=bool(arg))
    return now, False


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_the_state_never_leaves_killed_without_an_accepted_rearm(
    ops: list[tuple[str, object]],
) -> None:
    eng = engine(limits(heartbeat=HEARTBEAT, order_rate=RATE))
    now = T0
    for op in ops:
        was_killed = eng.state is TradingState.KILLED
        now, rearmed = _run(eng, op, now)
        if rearmed:
            assert was_killed
            assert eng.state is not TradingState.KILLED
            assert not eng.persisted().latched
        elif was_killed:
            assert eng.state is TradingState.KILLED
            assert eng.persisted().latched


@settings(max_examples=150, deadline=None)
@given(OPS, st.floats(min_value=0.0, max_value=0.999))
def test_no_transition_happens_before_next_due(ops: list[tuple[str, object]], f: float) -> None:
    eng = engine(limits(heartbeat=HEARTBEAT, order_rate=RATE))
    now = T0
    for op in ops:
        now, _ = _run(eng, op, now)
        before = eng.assessment
        due = before.next_due
        assert due is not None
        probe = now + (due - now) * f
        if now <= probe < due:  # rounding at epoch magnitudes can land on `due` itself
            after = eng.evaluate(probe)
            assert [d.state for d in after.decisions] == [d.state for d in before.decisions]
            now = probe


@settings(max_examples=100, deadline=None)
@given(OPS)
def test_restoring_from_persisted_keeps_the_latch(ops: list[tuple[str, object]]) -> None:
    eng = engine(limits(heartbeat=HEARTBEAT, order_rate=RATE))
    now = T0
    for op in ops:
        now, _ = _run(eng, op, now)
    restored = RiskEngine(eng.limits, now=now, persisted=eng.persisted())
    assert (restored.state is TradingState.KILLED) == eng.latched
    assert restored.maintenance == eng.maintenance  # restored at the same `now`: still open
    assert restored.persisted().high_water_mark == eng.persisted().high_water_mark


def test_every_rule_states_its_recovery_kind_and_a_unique_name() -> None:
    eng = engine()
    names = [rule.name for rule in eng.rules]
    assert len(set(names)) == len(names)
    kinds = {rule.name: rule.recovery for rule in eng.rules}
    assert kinds["daily_loss"] is Recovery.STICKY
    assert all(isinstance(kind, Recovery) for kind in kinds.values())
    assert set(eng.utilisation()) == set(names)


def test_the_engine_exposes_next_due_for_the_shells_timer() -> None:
    eng = engine(limits(heartbeat=HEARTBEAT))
    assert eng.next_due == eng.assessment.next_due == T0 + 3.0


def test_a_healthy_traders_orders_seen_from_both_sides_stay_active() -> None:
    # The whole path a quoting trader takes under the standard profile: the venue's quotes,
    # its SUBMIT, the venue's ACK (before or after the trader's own), fills and cancels.
    eng = engine()
    now = T0
    for i in range(400):
        now = T0 + i * 0.05
        mid = 50_000.0 + (i % 13)
        eng.apply(MarketEvent(now, "BTCUSDT", mid - 0.5, mid + 0.5), now)
        eng.apply(beat(now), now)
        oid = f"q-{i}"
        eng.apply(order(now, OrderEventKind.SUBMIT, price=mid - 25, qty=0.002, order_id=oid), now)
        venue_first = i % 2 == 0
        t_venue, t_trader = (now + 0.001, now + 0.002)[:: 1 if venue_first else -1]
        eng.apply(order(t_venue, OrderEventKind.ACK, price=mid - 25, qty=0.002,
                        source=EventSource.VENUE, order_id=oid), t_venue)  # fmt: skip
        eng.apply(order(t_trader, OrderEventKind.ACK, price=mid - 25, qty=0.002, order_id=oid),
                  max(t_venue, t_trader))  # fmt: skip
        if i >= 3:  # requoted: the quote before last leaves the book, filled or cancelled
            old, end = f"q-{i - 3}", OrderEventKind.FILL if i % 3 else OrderEventKind.CANCEL
            for source in EventSource:
                eng.apply(order(now + 0.003, end, qty=0.002, source=source, order_id=old),
                          now + 0.003)  # fmt: skip
        assert eng.state is TradingState.ACTIVE, eng.assessment
    assert eng.evaluate(now + 60).state is TradingState.ACTIVE
    assert eng.price_collar.unjudged == 0
    assert {"key_misuse", "order_size", "price_collar", "open_orders"} <= set(eng.utilisation())
    assert [len(book.get("BTCUSDT", {})) for book in eng.open_orders.books] == [3, 3]
