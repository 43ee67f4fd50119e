"""Divergence: the trader's telemetry against the venue's view, with a reorder window and a
grace period. Data in flight is not divergence; a difference that holds is."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from risk import EventSource, OpenOrdersSnapshot, OrderEventKind, RiskEngine, TradingState
from risk.limits import Limits
from risk.rules.order_match import MAX_UNMATCHED

from . import helpers
from .helpers import T0, TELEMETRY, VENUE, engine, order, position

ACK = OrderEventKind.ACK
REORDER_S = 2.0
DIVERGENCE = {
    "open_orders": 1,
    "position_qty": 0.001,
    "order_count": 2,
    "grace_s": 10.0,
    "grade": "halted",
    "reorder_s": REORDER_S,
}
EXACT = {**DIVERGENCE, "open_orders": 0, "order_count": 0}


def limits(**tables: object) -> Limits:
    """Divergence alone: these orders' reports come late or never on purpose, which the
    key-misuse rule (tests/risk/test_key_misuse.py) would rightly kill."""
    return helpers.limits(key_misuse={"enabled": False}, **tables)


def test_a_gap_that_holds_past_the_reorder_window_warns_then_is_graded() -> None:
    eng = engine(limits(divergence=DIVERGENCE))
    eng.apply(OpenOrdersSnapshot(T0, 3, TELEMETRY), T0)
    eng.apply(OpenOrdersSnapshot(T0 + 1, 6, VENUE), T0 + 1)
    assert eng.state is TradingState.ACTIVE  # in flight: the trader may not have reported yet
    assert eng.next_due == T0 + 1 + REORDER_S
    warned = eng.evaluate(T0 + 3)
    assert warned.state is TradingState.WARN
    assert warned.next_due == T0 + 13
    graded = eng.evaluate(T0 + 13)
    assert graded.state is TradingState.HALTED
    assert "open_orders" in graded.decisions[0].reason


def test_a_gap_closed_within_the_reorder_window_never_warns() -> None:
    eng = engine(limits(divergence=EXACT))
    eng.apply(OpenOrdersSnapshot(T0, 3, TELEMETRY), T0)
    eng.apply(OpenOrdersSnapshot(T0 + 1, 4, VENUE), T0 + 1)
    eng.apply(OpenOrdersSnapshot(T0 + 2.5, 4, TELEMETRY), T0 + 2.5)
    assert eng.evaluate(T0 + 20).state is TradingState.ACTIVE


def test_a_gap_that_keeps_changing_is_data_still_moving() -> None:
    eng = engine(limits(divergence=EXACT))
    for i in range(20):  # each side a step behind the other in turn: the gap never holds
        now = T0 + i * 0.5
        source = TELEMETRY if i % 2 else VENUE
        assert eng.apply(OpenOrdersSnapshot(now, i, source), now).state is TradingState.ACTIVE


def test_the_same_gap_held_while_both_sides_keep_reporting_is_a_divergence() -> None:
    eng = engine(limits(divergence=EXACT))
    states = []
    for i in range(6):  # the venue shows one more order than the trader knows of, throughout
        now = T0 + i * 0.5
        eng.apply(OpenOrdersSnapshot(now, 2, TELEMETRY), now)
        states.append(eng.apply(OpenOrdersSnapshot(now, 3, VENUE), now).state)
    assert states == [TradingState.ACTIVE] * 4 + [TradingState.WARN] * 2


def test_position_quantities_are_compared_per_symbol() -> None:
    eng = engine(limits(divergence={**DIVERGENCE, "grade": "killed"}))
    eng.apply(position(T0, "BTCUSDT", 0.1, 50_000.0, TELEMETRY), T0)
    eng.apply(position(T0, "BTCUSDT", 0.1, 50_000.0, VENUE), T0)
    eng.apply(position(T0, "ETHUSDT", 1.0, 2_000.0, VENUE), T0)  # the trader never said so
    assert eng.evaluate(T0 + REORDER_S).state is TradingState.WARN
    assert eng.evaluate(T0 + REORDER_S + 10).state is TradingState.KILLED


def test_float_rounding_is_not_divergence() -> None:
    eng = engine(limits(divergence={**DIVERGENCE, "position_qty": 0.0}))
    eng.apply(position(T0, "BTCUSDT", 0.1 + 0.2, 50_000.0, TELEMETRY), T0)
    eng.apply(position(T0, "BTCUSDT", 0.3, 50_000.0, VENUE), T0)
    assert eng.divergence.gaps == {}


def test_the_same_order_acknowledged_on_both_sides_matches_by_id_in_any_order() -> None:
    eng = engine(limits(divergence=EXACT))
    eng.apply(order(T0, ACK, source=VENUE, order_id="a"), T0)  # the stream is first
    eng.apply(order(T0 + 0.1, ACK, source=VENUE, order_id="b"), T0 + 0.1)
    eng.apply(order(T0 + 0.2, ACK, source=TELEMETRY, order_id="b"), T0 + 0.2)
    eng.apply(order(T0 + 1.5, ACK, source=TELEMETRY, order_id="a"), T0 + 1.5)
    assert eng.divergence.orders.count() == 0
    assert eng.evaluate(T0 + 30).state is TradingState.ACTIVE


def test_an_order_only_the_venue_acknowledged_is_named_once_the_window_passes() -> None:
    eng = engine(limits(divergence=EXACT))
    eng.apply(order(T0, ACK, source=TELEMETRY, order_id="mine"), T0)
    eng.apply(order(T0, ACK, source=VENUE, order_id="mine"), T0)
    eng.apply(order(T0 + 1, ACK, source=VENUE, order_id="intruder"), T0 + 1)
    assert eng.state is TradingState.ACTIVE
    assert eng.next_due == T0 + 1 + REORDER_S
    warned = eng.evaluate(T0 + 1 + REORDER_S)
    assert warned.state is TradingState.WARN
    assert warned.decisions[0].rule == "divergence"
    assert "venue only: intruder" in warned.decisions[0].reason
    assert eng.evaluate(T0 + 11 + REORDER_S).state is TradingState.HALTED


def test_the_reason_names_the_first_unmatched_orders_and_counts_the_rest() -> None:
    eng = engine(limits(divergence=EXACT))
    eng.apply(order(T0, ACK, source=TELEMETRY, order_id="mine"), T0)
    for i in range(7):
        eng.apply(order(T0, ACK, source=VENUE, order_id=f"v{i}"), T0)
    reason = eng.evaluate(T0 + REORDER_S).decisions[0].reason
    assert "trader only: mine; venue only: v0, v1, v2, v3, v4, 2 more" in reason


def test_an_order_the_venue_never_showed_is_a_divergence_too() -> None:
    eng = engine(limits(divergence=EXACT))
    eng.apply(order(T0, ACK, source=VENUE, order_id="x"), T0)
    eng.apply(order(T0, ACK, source=TELEMETRY, order_id="x"), T0)
    eng.apply(order(T0 + 1, ACK, source=TELEMETRY, order_id="ghost"), T0 + 1)
    warned = eng.evaluate(T0 + 1 + REORDER_S)
    assert "trader only: ghost" in warned.decisions[0].reason


def test_a_late_match_clears_the_divergence() -> None:
    eng = engine(limits(divergence=EXACT))
    eng.apply(order(T0, ACK, source=TELEMETRY, order_id="x"), T0)
    eng.apply(order(T0, ACK, source=VENUE, order_id="y"), T0)
    assert eng.evaluate(T0 + REORDER_S).state is TradingState.WARN
    eng.apply(order(T0 + 3, ACK, source=VENUE, order_id="x"), T0 + 3)
    eng.apply(order(T0 + 3, ACK, source=TELEMETRY, order_id="y"), T0 + 3)
    assert eng.state is TradingState.ACTIVE


def test_orders_without_ids_match_one_for_one() -> None:
    eng = engine(limits(divergence=DIVERGENCE))
    for i in range(5):
        eng.apply(order(T0 + i, ACK, source=VENUE), T0 + i)
    assert eng.state is TradingState.ACTIVE  # no telemetry ACK yet: nothing to compare
    eng.apply(order(T0 + 5, ACK, source=TELEMETRY), T0 + 5)  # matches the oldest
    warned = eng.assessment
    assert warned.state is TradingState.WARN  # three of the other four are past the window
    assert "venue only: 3 without id" in warned.decisions[0].reason


def test_the_unmatched_are_bounded_and_the_dropped_still_count() -> None:
    eng = engine(limits(divergence=EXACT))
    eng.apply(order(T0, ACK, source=VENUE, order_id="seen"), T0)
    for i in range(MAX_UNMATCHED + 3):
        eng.apply(order(T0, ACK, source=TELEMETRY, order_id=f"t{i}"), T0)
    orders = eng.divergence.orders
    assert len(orders.in_flight[TELEMETRY]) + len(orders.unmatched[TELEMETRY]) == MAX_UNMATCHED
    # "seen" matched nothing and one dropped the oldest: every unmatched order is counted.
    assert eng.evaluate(T0 + REORDER_S).decisions[0].value == MAX_UNMATCHED + 4


def test_a_trader_whose_venue_never_reports_is_not_divergent_however_much_it_trades() -> None:
    eng = engine(limits(divergence=EXACT))  # no venue view configured: nothing to compare
    for i in range(MAX_UNMATCHED + 5):
        eng.apply(order(T0, ACK, source=TELEMETRY, order_id=f"t{i}"), T0)
    assert eng.evaluate(T0 + 60).state is TradingState.ACTIVE


def test_the_daily_reset_restarts_the_order_matching() -> None:
    eng = engine(limits(divergence=EXACT))
    eng.apply(order(T0, ACK, source=TELEMETRY, order_id="a"), T0)
    for i in range(4):
        eng.apply(order(T0 + i, ACK, source=VENUE, order_id=f"v{i}"), T0 + i)
    assert eng.divergence.orders.count() > 0
    eng.daily_reset(T0 + 5)
    assert eng.divergence.orders.count() == 0
    assert eng.evaluate(T0 + 30).state is TradingState.ACTIVE


def test_orders_acked_before_the_venue_stream_connected_never_read_as_divergence() -> None:
    eng = engine(limits(divergence=DIVERGENCE))
    for i in range(5):  # the trader trades before the watchdog's venue stream is up
        eng.apply(order(T0 + i, ACK, source=TELEMETRY, order_id=f"o{i}"), T0 + i)
    eng.restart_order_count(T0 + 5)  # the stream connects
    for i in range(6, 9):  # from here both sides see every order
        eng.apply(order(T0 + i, ACK, source=TELEMETRY, order_id=f"o{i}"), T0 + i)
        eng.apply(order(T0 + i, ACK, source=VENUE, order_id=f"o{i}"), T0 + i)
    assert eng.divergence.orders.count() == 0
    assert eng.evaluate(T0 + 30).state is TradingState.ACTIVE


def test_an_order_acked_as_the_stream_reconnected_is_not_held_against_the_trader() -> None:
    eng = engine(limits(divergence=EXACT))
    eng.apply(order(T0, ACK, source=TELEMETRY, order_id="a"), T0)
    eng.apply(order(T0, ACK, source=VENUE, order_id="a"), T0)
    eng.restart_order_count(T0 + 10)  # the stream reconnects; "b" was new while it was away
    eng.apply(order(T0 + 10.01, ACK, source=TELEMETRY, order_id="b"), T0 + 10.01)
    eng.apply(order(T0 + 10.5, ACK, source=VENUE, order_id="c"), T0 + 10.5)
    eng.apply(order(T0 + 10.5, ACK, source=TELEMETRY, order_id="c"), T0 + 10.5)
    assert eng.evaluate(T0 + 20).state is TradingState.ACTIVE
    eng.apply(order(T0 + 21, ACK, source=TELEMETRY, order_id="d"), T0 + 21)  # well after
    assert "trader only: d" in eng.evaluate(T0 + 21 + REORDER_S).decisions[0].reason


def test_an_order_only_the_venue_shows_is_never_excused_by_a_reconnect() -> None:
    eng = engine(limits(divergence=EXACT))
    eng.apply(order(T0, ACK, source=TELEMETRY, order_id="a"), T0)
    eng.restart_order_count(T0 + 1)
    eng.apply(order(T0 + 1.01, ACK, source=TELEMETRY, order_id="b"), T0 + 1.01)
    eng.apply(order(T0 + 1.01, ACK, source=VENUE, order_id="b"), T0 + 1.01)
    eng.apply(order(T0 + 1.02, ACK, source=VENUE, order_id="intruder"), T0 + 1.02)
    assert "venue only: intruder" in eng.evaluate(T0 + 1.02 + REORDER_S).decisions[0].reason


def test_without_the_restart_the_same_history_is_a_divergence() -> None:
    eng = engine(limits(divergence=DIVERGENCE))
    for i in range(5):
        eng.apply(order(T0 + i, ACK, source=TELEMETRY, order_id=f"o{i}"), T0 + i)
    for i in range(6, 9):
        eng.apply(order(T0 + i, ACK, source=TELEMETRY, order_id=f"o{i}"), T0 + i)
        eng.apply(order(T0 + i, ACK, source=VENUE, order_id=f"o{i}"), T0 + i)
    assert eng.divergence.orders.count() == 5
    assert eng.evaluate(T0 + 30).state is TradingState.HALTED


# --- properties: reordering within the window never alarms; a real gap always does ----------


@dataclass(frozen=True)
class Seen:
    """One side seeing one order: its ACK, then that side's open-order count right after."""

    ts: float
    source: EventSource
    order_id: str
    counted: bool = True  # False: its side reports no open-order count after it


def _history(seeds: list[tuple[float, float]], ids: str = "both") -> list[Seen]:
    """Each order acknowledged by the trader at `gap`-spaced times and seen by the venue
    `skew` later or earlier (within the window). `ids`: which sides name the order: "both",
    "venue" (a bot that sends no ids: matched one for one) or "none"."""
    events: list[Seen] = []
    ts = T0 + REORDER_S
    for i, (gap, skew) in enumerate(seeds):
        ts += gap
        oid = f"c{i}"
        events += [
            Seen(ts, TELEMETRY, oid if ids == "both" else ""),
            Seen(ts + skew, VENUE, oid if ids != "none" else ""),
        ]
    return sorted(events, key=lambda e: e.ts)


def _replay(eng: RiskEngine, events: list[Seen]) -> list[TradingState]:
    counts = {TELEMETRY: 0, VENUE: 0}
    states = []
    for e in events:
        states.append(eng.apply(order(e.ts, ACK, source=e.source, order_id=e.order_id), e.ts).state)
        if e.counted:
            counts[e.source] += 1
            snapshot = OpenOrdersSnapshot(e.ts, counts[e.source], e.source)
            states.append(eng.apply(snapshot, e.ts).state)
    return states


_SEEDS = st.lists(
    st.tuples(
        st.floats(0.0, 3.0),  # time to the next order
        st.floats(-0.99 * REORDER_S, 0.99 * REORDER_S),  # the venue's lag behind the trader
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_SEEDS, st.sampled_from(["both", "venue", "none"]))
def test_events_reordered_within_the_window_never_leave_active(
    seeds: list[tuple[float, float]], ids: str
) -> None:
    history = _history(seeds, ids)
    eng = engine(limits(divergence=EXACT), now=T0)
    states = _replay(eng, history)
    assert set(states) == {TradingState.ACTIVE}
    assert eng.evaluate(history[-1].ts + 60).state is TradingState.ACTIVE


@settings(max_examples=300, deadline=None)
@given(_SEEDS, st.integers(0, 79), st.sampled_from([TELEMETRY, VENUE]))
def test_an_order_seen_on_one_side_only_past_the_window_always_warns(
    seeds: list[tuple[float, float]], which: int, only: EventSource
) -> None:
    history = _history(seeds)
    lone = history[which % len(history)]
    stray = Seen(lone.ts, only, "stray", counted=False)  # no counterpart on the other side
    eng = engine(limits(divergence=EXACT), now=T0)
    _replay(eng, sorted([*history, stray], key=lambda e: e.ts))
    due = max(history[-1].ts, stray.ts + REORDER_S)
    assessment = eng.evaluate(due)
    assert assessment.state >= TradingState.WARN
    assert any("stray" in d.reason for d in assessment.decisions)
