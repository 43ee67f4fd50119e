"""Key misuse: an order the venue acknowledged and the trader never reported is a kill, once
the trader is heard again (a silent trader is the heartbeat deadline's to judge), and data in
flight (the report a little after the venue's ACK) is not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import Heartbeat, OrderEvent, OrderEventKind, RiskEngine, TradingState
from risk.rules.order_match import LAG_EDGES_S

from .helpers import (
    LIVE_HEARTBEAT,
    T0,
    TELEMETRY,
    VENUE,
    beat,
    engine,
    limits,
    order,
    rules_of,
    run_dues_before,
)

ACK = OrderEventKind.ACK
SUBMIT = OrderEventKind.SUBMIT
REORDER_S = limits().key_misuse.reorder_s  # the profile's window


def venue_ack(eng: RiskEngine, t: float, order_id: str) -> TradingState:
    return eng.apply(order(t, ACK, source=VENUE, order_id=order_id), t).state


def report(eng: RiskEngine, t: float, order_id: str, kind: OrderEventKind = SUBMIT) -> None:
    eng.apply(order(t, kind, source=TELEMETRY, order_id=order_id), t)


def heard(eng: RiskEngine, t: float) -> TradingState:
    return eng.apply(beat(t), t).state


def killed_by_misuse(eng: RiskEngine, ack_at: float) -> TradingState:
    """Hear the trader one window after `ack_at` and let its report deadline pass."""
    heard(eng, ack_at + REORDER_S)
    return eng.evaluate(ack_at + 2 * REORDER_S + 1e-3).state


def test_a_venue_ack_the_trader_never_reported_is_killed_once_heard_past_the_window() -> None:
    eng = engine()
    assert venue_ack(eng, T0, "rogue-1") is TradingState.ACTIVE  # in flight for now
    assert heard(eng, T0 + REORDER_S) is TradingState.ACTIVE  # its report may still come
    due = eng.next_due
    assert due is not None
    assert T0 + 2 * REORDER_S < due < T0 + 2 * REORDER_S + 1e-6
    killed = eng.evaluate(due)
    assert killed.state is TradingState.KILLED
    assert killed.decisions[0].rule == "key_misuse"
    assert "rogue-1" in killed.decisions[0].reason
    assert "rogue-1" in eng.persisted().latch_reason  # what the audit of the kill carries


def test_an_order_waiting_for_the_trader_to_be_heard_wakes_no_timer() -> None:
    eng = engine()
    venue_ack(eng, T0, "rogue")
    assert heard(eng, T0 + REORDER_S / 2) is TradingState.ACTIVE  # heard too soon to judge
    due = eng.next_due
    assert due is not None
    assert due > T0 + 3600  # the daily reset, not a wake-up per pending order
    assert eng.evaluate(T0 + 60).state is TradingState.ACTIVE


def test_a_submit_up_to_the_reorder_window_after_the_venue_ack_is_data_in_flight() -> None:
    eng = engine()
    venue_ack(eng, T0, "late")
    report(eng, T0 + REORDER_S, "late")  # exactly at the edge: still in time
    heard(eng, T0 + 2 * REORDER_S)
    assert eng.evaluate(T0 + 60).state is TradingState.ACTIVE


def test_a_report_up_to_the_window_after_the_hearing_that_judges_it_is_in_time() -> None:
    # A flush of several datagrams: the first (a heartbeat) is heard before the report.
    eng = engine()
    venue_ack(eng, T0, "split")
    heard(eng, T0 + 1.0)
    report(eng, T0 + 1.0 + REORDER_S, "split")  # exactly at its deadline
    assert eng.evaluate(T0 + 60).state is TradingState.ACTIVE


def test_a_late_datagram_made_before_the_window_ended_judges_nothing() -> None:
    # A link that delays everything 1.6 s, in order: the heartbeat the trader made before the
    # venue's ACK arrives long after it, and the SUBMIT the trader made next arrives after that.
    eng = engine()
    venue_ack(eng, T0, "slow-link")
    eng.apply(beat(T0 - 0.6), T0 + 1.0)
    eng.apply(order(T0 - 0.001, SUBMIT, source=TELEMETRY, order_id="slow-link"), T0 + 1.599)
    assert eng.evaluate(T0 + 60).state is TradingState.ACTIVE


def test_a_cut_link_with_orders_placed_during_the_cut_ends_as_the_heartbeat_kill() -> None:
    # The trader's telemetry link is cut at T0 + 1: the orders it places until its own
    # fail-closed halt reach the venue, their reports do not. It is never heard again.
    eng = engine(limits(heartbeat=LIVE_HEARTBEAT))
    t = T0
    while t < T0 + 1:
        heard(eng, t)
        t += 0.1
    for i in range(10):  # the venue acknowledges them during the cut
        venue_ack(eng, T0 + 1.2 + i * 0.1, f"cut-{i}")
    states: list[TradingState] = []
    run_dues_before(eng, T0 + 60, lambda _: states.append(eng.state))
    assert eng.state is TradingState.KILLED
    assert eng.persisted().latch_reason.startswith("heartbeat: ")
    assert "key_misuse" not in rules_of(eng)
    assert states.count(TradingState.KILLED) == 1  # killed once, at the deadline


def test_a_rogue_order_while_the_trader_keeps_heartbeating_is_a_kill_naming_it() -> None:
    eng = engine(limits(heartbeat=LIVE_HEARTBEAT))
    t = T0
    while t < T0 + 1:
        heard(eng, t)
        t += 0.1
    venue_ack(eng, T0 + 1.05, "rogue-7")
    while t < T0 + 3:
        run_dues_before(eng, t, lambda _: None)
        heard(eng, t)
        t += 0.1
    assert eng.state is TradingState.KILLED
    assert eng.persisted().latch_reason.startswith("key_misuse: ")
    assert eng.persisted().latch_reason.endswith("rogue-7")


def test_a_trader_heard_again_after_a_silence_is_judged_for_what_it_left_unreported() -> None:
    eng = engine(limits(heartbeat=LIVE_HEARTBEAT))
    venue_ack(eng, T0 + 0.1, "rogue")
    assert eng.evaluate(T0 + 2).state is TradingState.ACTIVE  # silent: not judged here
    heard(eng, T0 + 2)
    assert eng.evaluate(T0 + 2 + REORDER_S + 1e-3).state is TradingState.KILLED
    assert eng.persisted().latch_reason.startswith("key_misuse: ")


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
    assert killed_by_misuse(eng, T0 + 0.3) is TradingState.KILLED
    killed = eng.assessment
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
    assert killed_by_misuse(eng, T0 + 0.1) is TradingState.KILLED


def test_a_reconnected_venue_stream_does_not_excuse_a_pending_rogue_order() -> None:
    eng = engine()
    venue_ack(eng, T0, "rogue")
    eng.restart_order_count(T0 + 0.1)
    assert killed_by_misuse(eng, T0) is TradingState.KILLED


def test_a_rearm_forgets_the_orders_the_kill_was_about() -> None:
    eng = engine()
    venue_ack(eng, T0, "rogue")
    assert killed_by_misuse(eng, T0) is TradingState.KILLED
    result = eng.rearm(T0 + 2, "key rotated, rogue process found and stopped")
    assert result.accepted, result.reason
    assert eng.state is TradingState.ACTIVE


def test_turned_off_explicitly_it_is_not_composed_and_nothing_is_killed() -> None:
    eng = engine(limits(key_misuse={"enabled": False}))
    assert venue_ack(eng, T0, "unreported") is TradingState.ACTIVE
    assert killed_by_misuse(eng, T0) is TradingState.ACTIVE
    assert "key_misuse" not in eng.utilisation()
    assert eng.key_misuse is None


def test_every_profile_turns_it_on() -> None:
    eng = engine()
    assert eng.key_misuse is not None
    assert "key_misuse" in eng.utilisation()
    assert rules_of(eng) == set()


def test_how_far_reports_lead_the_venue_acks_is_measured_where_it_is_judged() -> None:
    eng = engine()
    report(eng, T0, "first")
    venue_ack(eng, T0 + 0.002, "first")  # the report led by 2 ms
    venue_ack(eng, T0 + 0.01, "acked-first")
    report(eng, T0 + 0.013, "acked-first")  # the ACK led by 3 ms
    report(eng, T0 + 0.014, "acked-first", ACK)  # a second report matches nothing more
    assert eng.key_misuse is not None
    lead = eng.key_misuse.orders.lead
    assert (lead.orders, lead.ack_first) == (2, 1)
    assert lead.worst_s == pytest.approx(0.003, abs=1e-6)  # wall seconds near T0
    assert [edge for edge, n in zip(LAG_EDGES_S, lead.counts, strict=True) if n] == [0.005]
    shown = lead.as_dict()
    assert shown["report_first_min_ms"] == 2.0
    assert shown["ack_first_max_ms"] == 3.0
    assert [5.0, 1] in shown["ack_first_lag_ms"]  # type: ignore[operator]  # a list of pairs


# --- the matching under reordering ---------------------------------------------------------

# Per order: when the venue's ACK arrives, and the report's offset from it (negative: the
# trader reported first; None: never reported).
ORDERS = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=5.0, allow_nan=False),
        st.one_of(st.none(), st.floats(min_value=-5.0, max_value=5.0, allow_nan=False)),
        st.sampled_from([SUBMIT, ACK]),
    ),
    min_size=1,
    max_size=30,
)
BEATS = st.lists(st.floats(min_value=0.0, max_value=12.0, allow_nan=False), max_size=30)
Orders = list[tuple[float, float | None, OrderEventKind]]


def _at(t: float) -> float:
    return T0 + 10 + t


def _reported_at(venue_t: float, offset: float | None) -> float | None:
    return None if offset is None else _at(venue_t) + offset


def _misused(orders: Orders, beats: list[float]) -> set[str]:
    """The model: an order is misuse when the trader was heard (a heartbeat or any report)
    at least the window after the venue's ACK and had not reported it by that hearing plus
    the window. A report at the ACK's instant is applied first."""
    reports = [_reported_at(venue_t, offset) for venue_t, offset, _ in orders]
    hearings = sorted([*map(_at, beats), *(r for r in reports if r is not None)])
    misused = set()
    for i, (venue_t, _, _) in enumerate(orders):
        acked, reported = _at(venue_t), reports[i]
        if reported is not None and reported <= acked:
            continue
        judged = [h for h in hearings if h >= acked + REORDER_S]
        if judged and (reported is None or reported > judged[0] + REORDER_S):
            misused.add(f"o{i}")
    return misused


def _play(orders: Orders, beats: list[float]) -> tuple[RiskEngine, list[TradingState]]:
    """Every event in time order (the trader's before the venue's at one instant), the
    shell's timer run at each due in between."""
    events: list[tuple[float, int, str, OrderEventKind | None]] = []
    for i, (venue_t, offset, reported_as) in enumerate(orders):
        events.append((_at(venue_t), 1, f"o{i}", None))
        reported = _reported_at(venue_t, offset)
        if reported is not None:
            events.append((reported, 0, f"o{i}", reported_as))
    events += [(_at(t), 0, "", None) for t in beats]
    events.sort(key=lambda e: (e[0], e[1]))
    eng = engine()
    states: list[TradingState] = []
    for t, venue_side, order_id, kind in events:
        run_dues_before(eng, t, lambda _: states.append(eng.state))
        if venue_side:
            states.append(venue_ack(eng, t, order_id))
        elif kind is None:
            states.append(heard(eng, t))
        else:
            report(eng, t, order_id, kind)
            states.append(eng.state)
    run_dues_before(eng, T0 + 100, lambda _: states.append(eng.state))
    states.append(eng.evaluate(T0 + 100).state)
    return eng, states


@settings(max_examples=300, deadline=None)
@given(ORDERS, BEATS)
def test_an_order_is_killed_exactly_when_the_heard_trader_left_it_unreported(
    orders: Orders, beats: list[float]
) -> None:
    eng, states = _play(orders, beats)
    misused = _misused(orders, beats)
    # A SUBMIT without the trader's ACK may diverge (the divergence rule's business, graded
    # HALTED); only misuse kills.
    assert (TradingState.KILLED in states) is bool(misused)
    assert eng.key_misuse is not None
    assert set(eng.key_misuse.misused) == misused
    if misused:
        assert eng.persisted().latch_reason.startswith("key_misuse: ")


@settings(max_examples=200, deadline=None)
@given(ORDERS, BEATS, st.floats(min_value=0.0, max_value=5.0, allow_nan=False))
def test_one_order_never_reported_is_killed_once_the_trader_is_heard_after_it(
    orders: Orders, beats: list[float], rogue_at: float
) -> None:
    orders = [*orders, (rogue_at, None, SUBMIT)]
    rogue = f"o{len(orders) - 1}"
    eng, states = _play(orders, [*beats, rogue_at + 2 * REORDER_S])
    assert states[-1] is TradingState.KILLED
    assert eng.key_misuse is not None
    assert rogue in eng.key_misuse.misused
    assert eng.persisted().latch_reason.startswith("key_misuse: ")


def test_a_flood_of_unreported_orders_is_counted_and_only_its_first_ids_named() -> None:
    eng = engine()
    for i in range(500):
        venue_ack(eng, T0 + i * 0.001, f"flood-{i}")
    killed_by_misuse(eng, T0 + 0.499)
    killed = eng.assessment
    (decision,) = [d for d in killed.decisions if d.rule == "key_misuse"]
    assert decision.value == 500.0
    assert decision.reason.endswith("flood-0, flood-1, flood-2, flood-3, flood-4, 495 more")
    assert eng.key_misuse is not None
    assert len(eng.key_misuse.misused) == 100


# A link that delays each datagram on its own (a relay, UDP): a SUBMIT sent before its order
# may arrive after datagrams the trader sent later. Up to twice the window is tolerated.
DELAY = st.floats(min_value=0.0, max_value=2 * REORDER_S * 0.999, allow_nan=False)
SENT_ORDERS = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=3.0, allow_nan=False),  # the SUBMIT made
        st.floats(min_value=0.0, max_value=0.05, allow_nan=False),  # until the venue's ACK
        DELAY,  # the SUBMIT's datagram on the way
    ),
    min_size=1,
    max_size=20,
)
DELAYED_BEATS = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=4.0, allow_nan=False), DELAY), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(SENT_ORDERS, DELAYED_BEATS)
def test_a_trader_whose_link_reorders_by_up_to_twice_the_window_is_never_killed(
    orders: list[tuple[float, float, float]], beats: list[tuple[float, float]]
) -> None:
    # (arrival, side: 0 trader / 1 venue, made, order id or "" for a heartbeat)
    events: list[tuple[float, int, float, str]] = []
    for i, (made, venue_s, delay) in enumerate(orders):
        events.append((_at(made) + delay, 0, _at(made), f"o{i}"))
        events.append((_at(made) + venue_s, 1, _at(made) + venue_s, f"o{i}"))
    events += [(_at(made) + delay, 0, _at(made), "") for made, delay in beats]
    events.sort(key=lambda e: (e[0], e[1]))
    eng = engine()
    states: list[TradingState] = []
    for arrival, venue_side, made, order_id in events:
        run_dues_before(eng, arrival, lambda _: states.append(eng.state))
        event: OrderEvent | Heartbeat
        if venue_side:
            event = order(made, ACK, source=VENUE, order_id=order_id)
        elif order_id:
            event = order(made, SUBMIT, source=TELEMETRY, order_id=order_id)
        else:
            event = beat(made)
        states.append(eng.apply(event, arrival).state)
    heard(eng, _at(10.0))
    states.append(eng.evaluate(_at(20.0)).state)
    assert TradingState.KILLED not in states


# --- the question: an answer with nothing missing before it settles an order at once ----------


def answer(eng: RiskEngine, t: float, question: int) -> TradingState:
    """The trader's answer (the ingress passes one on only when nothing is missing before it)."""
    return eng.apply(Heartbeat(ts=t, answers=question), t).state


def test_an_unreported_ack_is_asked_about_and_killed_at_the_answer_naming_it() -> None:
    eng = engine()
    venue_ack(eng, T0, "rogue-1")
    question = eng.question()
    assert question == 1
    assert eng.question() == 0  # one question out at a time
    assert answer(eng, T0 + 0.0004, question) is TradingState.KILLED  # not a window later
    (decision,) = [d for d in eng.assessment.decisions if d.rule == "key_misuse"]
    assert "rogue-1" in decision.reason
    assert "answer" in decision.reason


def test_a_report_that_arrives_before_the_answer_settles_its_order() -> None:
    eng = engine()
    venue_ack(eng, T0, "mine")  # the venue's ACK overtook the SUBMIT
    question = eng.question()
    report(eng, T0 + 0.0002, "mine")  # the SUBMIT, sent before the order, arrives first
    assert answer(eng, T0 + 0.0003, question) is TradingState.ACTIVE
    assert eng.question() == 0  # nothing left to ask about
    heard(eng, T0 + 1)
    assert eng.evaluate(T0 + 60).state is TradingState.ACTIVE


def test_an_answer_settles_only_the_acks_that_arrived_before_its_question() -> None:
    eng = engine()
    venue_ack(eng, T0, "first")
    first = eng.question()
    report(eng, T0 + 0.0001, "first")
    venue_ack(eng, T0 + 0.0002, "rogue")  # after the question: its answer cannot speak for it
    assert eng.question() == 0  # the first question is still out
    assert answer(eng, T0 + 0.0003, first) is TradingState.ACTIVE
    second = eng.question()
    assert second == first + 1
    assert answer(eng, T0 + 0.0005, second) is TradingState.KILLED
    assert eng.key_misuse is not None
    assert eng.key_misuse.misused == ["rogue"]


def test_an_old_repeated_or_unknown_answer_proves_nothing() -> None:
    eng = engine()
    venue_ack(eng, T0, "in-flight")
    question = eng.question()
    assert answer(eng, T0 + 0.0001, question + 7) is TradingState.ACTIVE  # never asked
    report(eng, T0 + 0.0002, "in-flight")
    assert answer(eng, T0 + 0.0003, question) is TradingState.ACTIVE
    venue_ack(eng, T0 + 0.0004, "later")
    assert answer(eng, T0 + 0.0005, question) is TradingState.ACTIVE  # answered already


def test_an_unanswered_question_is_asked_again_after_the_window() -> None:
    eng = engine()
    venue_ack(eng, T0, "a")
    first = eng.question()
    venue_ack(eng, T0 + 0.001, "b")
    assert eng.question() == 0
    heard(eng, T0 + REORDER_S / 2)  # the engine's clock moves with what it is given
    assert eng.question() == 0
    heard(eng, T0 + REORDER_S)
    assert eng.question() == first + 1  # the answer was lost (a datagram missing before it)


def test_with_ask_trader_off_nothing_is_asked_and_the_window_judges() -> None:
    eng = engine(limits(key_misuse={"enabled": True, "reorder_s": REORDER_S, "ask_trader": False}))
    venue_ack(eng, T0, "rogue")
    assert eng.question() == 0
    assert answer(eng, T0 + 0.001, 1) is TradingState.ACTIVE
    assert killed_by_misuse(eng, T0) is TradingState.KILLED


def test_an_ack_without_a_client_id_needs_no_question() -> None:
    eng = engine()
    assert venue_ack(eng, T0, "") is TradingState.KILLED
    assert eng.question() == 0


# The trader's link is first in, first out (a Unix socket): a question reaches the client
# `reply_s` after it was asked and its answer arrives `link_s` after that, behind every
# datagram the client sent before it. Each order's SUBMIT leaves before the order does.
ASKED_ORDERS = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=2.0, allow_nan=False),  # the SUBMIT sent
        st.floats(min_value=0.0001, max_value=0.05, allow_nan=False),  # until the venue's ACK
        st.booleans(),  # a rogue's order: no SUBMIT at all
    ),
    min_size=1,
    max_size=15,
)
LINK = st.floats(min_value=0.0, max_value=0.01, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(ASKED_ORDERS, LINK, LINK)
def test_answers_kill_every_rogue_order_and_never_a_reported_one(
    orders: list[tuple[float, float, bool]], link_s: float, reply_s: float
) -> None:
    # (arrival, what, payload): what 0 = SUBMIT, 1 = venue ACK, 2 = the question reaches the
    # client (it answers), 3 = the answer arrives.
    pending: list[tuple[float, int, object]] = []
    for i, (sent, venue_s, rogue) in enumerate(orders):
        if not rogue:
            pending.append((_at(sent) + link_s, 0, f"o{i}"))
        pending.append((_at(sent) + venue_s, 1, f"o{i}"))
    eng = engine()
    killed_at: float | None = None
    while pending:
        pending.sort(key=lambda e: (e[0], e[1]))
        at, what, payload = pending.pop(0)
        if what == 0:
            report(eng, at, str(payload))
        elif what == 1:
            venue_ack(eng, at, str(payload))
        elif what == 2:
            # FIFO: the answer trails every SUBMIT the client sent before it.
            pending.append((at + link_s, 3, payload))
            continue
        else:
            assert isinstance(payload, int)
            answer(eng, at, payload)
        if killed_at is None and eng.state is TradingState.KILLED:
            killed_at = at
        question = eng.question()
        if question:
            pending.append((at + reply_s, 2, question))
    rogues = {f"o{i}" for i, (_, _, rogue) in enumerate(orders) if rogue}
    assert eng.key_misuse is not None
    assert set(eng.key_misuse.misused) == rogues
    if rogues:
        first_ack = min(_at(s) + v for s, v, rogue in orders if rogue)
        assert killed_at is not None
        # Judged by answers, not by the window: at most a few question round trips.
        assert killed_at <= first_ack + 2 * (reply_s + link_s) + 1e-9
