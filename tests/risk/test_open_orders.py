"""Open orders per symbol: a runaway resting order after order in one symbol, each small and
slow enough for the other limits, is halted, then killed, from either side's book."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from risk import EventSource, OrderEventKind, RiskEngine, TradingState

from .helpers import T0, TELEMETRY, VENUE, engine, limits, order

SUBMIT = OrderEventKind.SUBMIT
ACK = OrderEventKind.ACK
OPEN = {"max_per_symbol": 5, "kill_multiple": 2.0, "cooldown_s": 10.0}


def open_engine() -> RiskEngine:
    # Key misuse off: the venue-only orders below are the point, not their authorisation.
    return engine(limits(open_orders=OPEN, key_misuse={"enabled": False}))


def rest(eng: RiskEngine, count: int, *, source: EventSource = TELEMETRY, symbol: str = "BTCUSDT",
         start: int = 0, t: float = T0) -> TradingState:  # fmt: skip
    kind = SUBMIT if source is TELEMETRY else ACK
    for i in range(start, start + count):
        eng.apply(order(t, kind, source=source, symbol=symbol, order_id=f"{symbol}-{i}"), t)
    return eng.state


def end(eng: RiskEngine, kind: OrderEventKind, order_id: str, t: float, qty: float = 0.01) -> None:
    eng.apply(order(t, kind, source=TELEMETRY, order_id=order_id, qty=qty), t)


def test_warn_then_halt_then_kill_as_orders_pile_up_in_one_symbol() -> None:
    eng = open_engine()
    assert rest(eng, 3) is TradingState.ACTIVE
    assert rest(eng, 1, start=3) is TradingState.WARN  # 4 of 5: the warn level
    assert rest(eng, 2, start=4) is TradingState.HALTED  # 6 > 5
    assert "BTCUSDT: 6 open orders (trader's book), max 5" in eng.assessment.decisions[0].reason
    assert rest(eng, 4, start=6) is TradingState.KILLED  # 10 = 2 x 5


def test_each_symbol_is_counted_on_its_own() -> None:
    eng = open_engine()
    rest(eng, 3, symbol="BTCUSDT")
    assert rest(eng, 3, symbol="ETHUSDT") is TradingState.ACTIVE


def test_the_venues_own_book_counts_when_the_trader_reports_nothing() -> None:
    eng = open_engine()
    assert rest(eng, 6, source=VENUE) is TradingState.HALTED
    assert "venue's book" in eng.assessment.decisions[0].reason


def test_cancels_rejects_and_full_fills_end_orders_and_the_halt_cools_down() -> None:
    eng = open_engine()
    rest(eng, 6)
    end(eng, OrderEventKind.CANCEL, "BTCUSDT-0", T0 + 1)
    end(eng, OrderEventKind.REJECT, "BTCUSDT-1", T0 + 1)
    end(eng, OrderEventKind.FILL, "BTCUSDT-2", T0 + 1, qty=0.004)  # partial: still open
    assert eng.state is TradingState.HALTED
    end(eng, OrderEventKind.FILL, "BTCUSDT-2", T0 + 1, qty=0.006)  # the rest: it has left
    assert len(eng.open_orders.books[TELEMETRY]["BTCUSDT"]) == 3
    assert eng.state is TradingState.HALTED  # the cool-down holds it
    assert eng.evaluate(T0 + 11).state is TradingState.ACTIVE


def test_a_reconnected_venue_stream_forgets_the_venues_book() -> None:
    eng = open_engine()
    rest(eng, 6, source=VENUE)
    eng.restart_order_count(T0 + 1)
    assert eng.open_orders.books[VENUE] == {}
    assert eng.evaluate(T0 + 11).state is TradingState.ACTIVE


def test_orders_without_a_client_id_are_not_counted() -> None:
    eng = open_engine()
    for _ in range(8):
        eng.apply(order(T0, SUBMIT), T0)
    assert eng.state is TradingState.ACTIVE
    assert eng.open_orders.books[TELEMETRY] == {}


def test_the_same_order_reported_twice_counts_once() -> None:
    eng = open_engine()
    for _ in range(8):
        eng.apply(order(T0, SUBMIT, order_id="same"), T0)
    assert eng.state is TradingState.ACTIVE


# --- the books against a model, whatever the order of events ------------------------------

STEPS = st.lists(
    st.tuples(
        st.sampled_from(["new", "cancel", "reject", "fill"]),
        st.integers(min_value=0, max_value=12),  # order number
        st.sampled_from(["BTCUSDT", "ETHUSDT"]),
        st.sampled_from([TELEMETRY, VENUE]),
        st.sampled_from([0.25, 0.5, 1.0]),  # a fill's share of the order
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(STEPS)
def test_each_book_holds_exactly_the_orders_still_open(
    steps: list[tuple[str, int, str, EventSource, float]],
) -> None:
    eng = engine(
        limits(open_orders={**OPEN, "max_per_symbol": 1000}, key_misuse={"enabled": False})
    )
    model: list[dict[str, tuple[str, float]]] = [{}, {}]  # id -> (symbol, qty left)
    for step, n, symbol, source, share in steps:
        oid, book = f"o{n}", model[source]
        if step == "new":
            kind = SUBMIT if source is TELEMETRY else ACK
            eng.apply(order(T0, kind, source=source, symbol=symbol, qty=1.0, order_id=oid), T0)
            book.setdefault(oid, (symbol, 1.0))
        elif step == "fill":
            eng.apply(order(T0, OrderEventKind.FILL, source=source, qty=share, order_id=oid), T0)
            if oid in book:
                left = book[oid][1] - share
                if left > 1e-9:
                    book[oid] = (book[oid][0], left)
                else:
                    del book[oid]
        else:
            kind = OrderEventKind.CANCEL if step == "cancel" else OrderEventKind.REJECT
            eng.apply(order(T0, kind, source=source, order_id=oid), T0)
            book.pop(oid, None)
    for side in (TELEMETRY, VENUE):
        expected: dict[str, int] = {}
        for symbol, _ in model[side].values():
            expected[symbol] = expected.get(symbol, 0) + 1
        got = {symbol: len(ids) for symbol, ids in eng.open_orders.books[side].items()}
        assert got == expected
