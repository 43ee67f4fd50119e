"""Key misuse: an order the venue acknowledged and the trader never reported is a kill, and
data in flight (the report a little after the venue's ACK) is not."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from risk import OrderEventKind, RiskEngine, TradingState

from .helpers import T0, TELEMETRY, VENUE, engine, limits, order, rules_of, run_dues_before

ACK = OrderEventKind.ACK
SUBMIT = OrderEventKind.SUBMIT
REORDER_S = 0.5


def venue_ack(eng: RiskEngine, t: float, order_id: str) -> TradingState:
    return eng.apply(order(t, ACK, source=VENUE, order_id=order_id), t).state


def report(eng: RiskEngine, t: float, order_id: str, kind: OrderEventKind = SUBMIT) -> None:
    eng.apply(order(t, kind, source=TELEMETRY, order_id=order_id), t)


def test_a_venue_ack_the_trader_never_reported_is_killed_once_the_reorder_window_passes() -> None:
    eng = engine()
    assert venue_ack(eng, T0, "rogue-1") is TradingState.ACTIVE  # in flight for now
    due = eng.next_due
    assert due is not None
    assert T0 + REORDER_S < due < T0 + REORDER_S + 1e-6
    killed = eng.evaluate(due)
    assert killed.state is TradingState.KILLED
    assert killed.decisions[0].rule == "key_misuse"
    assert "rogue-1" in killed.decisions[0].reason
    assert "rogue-1" in eng.persisted().latch_reason  # what the audit of the kill carries


def test_a_submit_up_to_the_reorder_window_after_the_venue_ack_is_data_in_flight() -> None:
    eng = engine()
    venue_ack(eng, T0, "late")
    report(eng, T0 + REORDER_S, "late")  # exactly at the edge: still in time
    assert eng.evaluate(T0 + 60).state is TradingState.ACTIVE


def test_a_submit_long_before_the_venue_ack_authorises_it() -> None:
    eng = engine()
    report(eng, T0, "slow-venue")
    assert venue_ack(eng, T0 + 30, "slow-venue") is TradingState.ACTIVE
    assert eng.evaluate(T0 + 60).state is TradingState.ACTIVE


def test_the_traders_ack_authorises_an_order_whose_submit_was_lost() -> None:
    eng = engine()
    venue_ack(eng, T0, "a")
    report(eng, T0 + 0.2, "a", ACK)
    assert eng.evaluate(T0 + 60).state is TradingState.ACTIVE


def test_one_unreported_order_among_reported_ones_is_enough_and_is_named() -> None:
    eng = engine()
    for i in range(20):
        report(eng, T0 + i * 0.01, f"ok-{i}")
        venue_ack(eng, T0 + i * 0.01 + 0.005, f"ok-{i}")
    venue_ack(eng, T0 + 0.3, "intruder")
    killed = eng.evaluate(T0 + 1.0)
    assert killed.state is TradingState.KILLED
    (decision,) = [d for d in killed.decisions if d.rule == "key_misuse"]
    assert decision.value == 1.0
    assert "intruder" in decision.reason
    assert "ok-" not in decision.reason


def test_a_venue_ack_without_a_client_order_id_is_unreported_at_once() -> None:
    eng = engine()
    assert venue_ack(eng, T0, "") is TradingState.KILLED
    assert "without a client order id" in eng.assessment.decisions[0].reason


def test_a_report_without_an_id_authorises_nothing() -> None:
    eng = engine()
    report(eng, T0, "")
    venue_ack(eng, T0 + 0.1, "someone-else")
    assert eng.evaluate(T0 + 1).state is TradingState.KILLED


def test_a_reconnected_venue_stream_does_not_excuse_a_pending_rogue_order() -> None:
    eng = engine()
    venue_ack(eng, T0, "rogue")
    eng.restart_order_count(T0 + 0.1)
    assert eng.evaluate(T0 + 1).state is TradingState.KILLED


def test_a_rearm_forgets_the_orders_the_kill_was_about() -> None:
    eng = engine()
    venue_ack(eng, T0, "rogue")
    eng.evaluate(T0 + 1)
    result = eng.rearm(T0 + 2, "key rotated, rogue process found and stopped")
    assert result.accepted, result.reason
    assert eng.state is TradingState.ACTIVE


def test_turned_off_explicitly_it_is_not_composed_and_nothing_is_killed() -> None:
    eng = engine(limits(key_misuse={"enabled": False}))
    assert venue_ack(eng, T0, "unreported") is TradingState.ACTIVE
    assert eng.evaluate(T0 + 60).state is TradingState.ACTIVE
    assert "key_misuse" not in eng.utilisation()
    assert eng.key_misuse is None


def test_every_profile_turns_it_on() -> None:
    eng = engine()
    assert eng.key_misuse is not None
    assert "key_misuse" in eng.utilisation()
    assert rules_of(eng) == set()


# --- the matching under reordering ---------------------------------------------------------

# Per order: when the venue's ACK arrives, and the report's offset from it (negative: the
# trader reported first). Offsets up to the reorder window are data in flight.
ORDERS = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=5.0, allow_nan=False),
        st.floats(min_value=-5.0, max_value=REORDER_S, allow_nan=False),
        st.sampled_from([SUBMIT, ACK]),
    ),
    min_size=1,
    max_size=30,
)


def _play(
    orders: list[tuple[float, float, OrderEventKind]], rogue_at: float | None
) -> tuple[RiskEngine, list[TradingState]]:
    """Every event in time order, the shell's timer run at each due in between."""
    events: list[tuple[float, int, str, OrderEventKind | None]] = []
    for i, (venue_t, offset, reported_as) in enumerate(orders):
        events.append((T0 + 10 + venue_t, 1, f"o{i}", None))
        events.append((T0 + 10 + venue_t + offset, 0, f"o{i}", reported_as))
    if rogue_at is not None:
        events.append((T0 + 10 + rogue_at, 1, "rogue", None))
    events.sort(key=lambda e: (e[0], e[1]))
    eng = engine()
    states: list[TradingState] = []
    for t, venue_side, order_id, kind in events:
        run_dues_before(eng, t, lambda _: states.append(eng.state))
        if venue_side:
            states.append(venue_ack(eng, t, order_id))
        else:
            assert kind is not None
            report(eng, t, order_id, kind)
            states.append(eng.state)
    states.append(eng.evaluate(T0 + 100).state)
    return eng, states


@settings(max_examples=200, deadline=None)
@given(ORDERS)
def test_no_false_kill_when_every_venue_ack_has_a_report_in_time(
    orders: list[tuple[float, float, OrderEventKind]],
) -> None:
    _, states = _play(orders, rogue_at=None)
    # A SUBMIT without the trader's ACK may diverge (the divergence rule's business, graded
    # HALTED); it is never misuse.
    assert TradingState.KILLED not in states


@settings(max_examples=200, deadline=None)
@given(ORDERS, st.floats(min_value=0.0, max_value=5.0, allow_nan=False))
def test_one_order_never_reported_is_killed_whatever_the_interleaving(
    orders: list[tuple[float, float, OrderEventKind]], rogue_at: float
) -> None:
    eng, states = _play(orders, rogue_at=rogue_at)
    assert states[-1] is TradingState.KILLED
    assert eng.persisted().latch_reason.startswith("key_misuse: ")
    assert eng.persisted().latch_reason.endswith(f"within {REORDER_S:g} s): rogue")


def test_a_flood_of_unreported_orders_is_counted_and_only_its_first_ids_named() -> None:
    eng = engine()
    for i in range(500):
        venue_ack(eng, T0 + i * 0.001, f"flood-{i}")
    killed = eng.evaluate(T0 + 2)
    (decision,) = [d for d in killed.decisions if d.rule == "key_misuse"]
    assert decision.value == 500.0
    assert decision.reason.endswith("flood-0, flood-1, flood-2, flood-3, flood-4, 495 more")
    assert eng.key_misuse is not None
    assert len(eng.key_misuse.misused) == 100
