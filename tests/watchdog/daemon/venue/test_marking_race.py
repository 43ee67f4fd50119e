"""A read is not an instant: one that began before a stream update and was answered after it
may or may not hold that update's fill, and the view must not forget it when the read lands."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.events import AccountSnapshot, PositionSnapshot
from watchdog.daemon.venue.marking import KEPT_UPDATES, MalformedUpdate, MarkedView
from watchdog.venues.base import AccountView, Position, RealizedPnl
from watchdog.venues.user_events import AccountUpdate, BalanceUpdate, PositionUpdate

READ_AT = 1_000.0
FIRST_MS = 1_000_000  # the venue time the first read began
BEGAN_MS = 1_001_000  # the venue time the second read began
OPENED_MS = 900_000  # the OKX position the reads hold opened before them
Counter = Callable[[str], RealizedPnl]


def _view(qty: str, entry: str, wallet: str, realized: RealizedPnl | None = None) -> AccountView:
    held = tuple(
        Position("BTCUSDT", Decimal(qty), Decimal(entry), Decimal(0), None, realized)
        for _ in range(1 if Decimal(qty) else 0)
    )
    w = Decimal(wallet)
    return AccountView(w, w, Decimal(0), w, held)


def _together(at_ms: int, qty: str, entry: str, wallet: str) -> AccountUpdate:
    """Binance's ACCOUNT_UPDATE: the wallet and the position in one event."""
    w = Decimal(wallet)
    position = PositionUpdate("BTCUSDT", Decimal(qty), Decimal(entry), Decimal(0))
    return AccountUpdate(at_ms, "ORDER", (BalanceUpdate("USDT", w, w, Decimal(0)),), (position,))


def _pushed(at_ms: int, qty: str, entry: str, realized: RealizedPnl) -> AccountUpdate:
    """Bybit's ``position`` topic, OKX's ``positions`` channel: the position and its counter."""
    position = PositionUpdate("BTCUSDT", Decimal(qty), Decimal(entry), Decimal(0), realized)
    return AccountUpdate(at_ms, "POSITION", (), (position,))


def _marked(price: float, marked: MarkedView) -> tuple[float, float]:
    """The account's equity and the BTC quantity, marked at ``price``."""
    events = marked.on_price("BTCUSDT", price, price, READ_AT)
    account = events[1]
    assert isinstance(account, AccountSnapshot)
    qty = next((e.qty for e in events if isinstance(e, PositionSnapshot)), 0.0)
    return account.equity, qty


def test_a_binance_fill_between_a_reads_begin_and_its_answer_survives_the_read() -> None:
    marked = MarkedView(max_basis_age_s=60.0)
    marked.on_read(_view("0", "0", "100000"), READ_AT, FIRST_MS)  # flat
    # The second read is asked for at BEGAN_MS; a buy of 1 BTC fills 100 ms later, and the read
    # is answered from the venue's state before it.
    marked.on_update(_together(BEGAN_MS + 100, "1", "60000", "99970"), READ_AT)
    events = marked.on_read(_view("0", "0", "100000"), READ_AT + 1, BEGAN_MS)
    assert _marked(54_000.0, marked) == (99_970.0 - 6_000.0, 1.0)
    account, position = events  # what the read alone would have hidden, judged at the read
    assert isinstance(account, AccountSnapshot)
    assert isinstance(position, PositionSnapshot)
    assert position.qty == 1.0


@pytest.mark.parametrize(
    "counter",
    [
        lambda total: RealizedPnl(Decimal(total), since_ms=None),  # Bybit's cumRealisedPnl
        lambda total: RealizedPnl(Decimal(total), since_ms=OPENED_MS),  # OKX's realizedPnl
    ],
    ids=["bybit", "okx"],
)
def test_a_position_push_between_a_reads_begin_and_its_answer_survives_the_read(
    counter: Counter,
) -> None:
    marked = MarkedView(max_basis_age_s=60.0)
    before = _view("1", "60000", "99970", counter("-30"))  # long 1 at 60000, its fee paid
    marked.on_read(before, READ_AT, FIRST_MS)
    # Sold 0.5 at 54000 after the second read began: -3000 realized, -13.5 in fees.
    marked.on_update(_pushed(BEGAN_MS + 100, "0.5", "60000", counter("-3043.5")), READ_AT)
    marked.on_read(before, READ_AT + 1, BEGAN_MS)  # answered before the fill
    assert _marked(54_000.0, marked) == (99_970.0 - 3_013.5 - 3_000.0, 0.5)


def test_a_push_only_a_later_read_can_apply_still_waits_for_one_after_an_earlier_read() -> None:
    # An OKX flip opens a new position whose counter starts again: the long's close is in no
    # field of the push. A read that began before the flip cannot have settled it.
    marked = MarkedView(max_basis_age_s=60.0)
    long = _view("1", "60000", "99970", RealizedPnl(Decimal(-30), OPENED_MS))
    marked.on_read(long, READ_AT, FIRST_MS)
    flipped_ms = BEGAN_MS + 100
    flip = _pushed(flipped_ms, "-1", "54000", RealizedPnl(Decimal(-27), flipped_ms))
    marked.on_update(flip, READ_AT)
    assert marked.waiting_for_read() == {"BTCUSDT"}
    marked.on_read(long, READ_AT + 1, BEGAN_MS)  # answered before the flip
    assert marked.waiting_for_read() == marked.left_to_a_read() == {"BTCUSDT"}
    short = _view("-1", "54000", "93943", RealizedPnl(Decimal(-27), flipped_ms))
    marked.on_read(short, READ_AT + 2, flipped_ms + 1)
    assert marked.waiting_for_read() == marked.left_to_a_read() == frozenset()
    assert _marked(60_000.0, marked) == (93_943.0 - 6_000.0, -1.0)


def test_reads_that_began_before_a_push_stamped_ahead_ask_for_one_more_not_for_ever() -> None:
    # The venue's stamp is ahead of every read's begin (its clock, or the offset learnt from
    # it, is off): reads back to back would never settle it, so the second read asks for none.
    marked = MarkedView(max_basis_age_s=60.0)
    long = _view("1", "60000", "99970", RealizedPnl(Decimal(-30), OPENED_MS))
    marked.on_read(long, READ_AT, FIRST_MS)
    ahead_ms = BEGAN_MS + 3_600_000
    marked.on_update(_pushed(ahead_ms, "-1", "54000", RealizedPnl(Decimal(-27), ahead_ms)), READ_AT)
    marked.on_read(long, READ_AT + 1, BEGAN_MS)
    assert marked.left_to_a_read() == {"BTCUSDT"}
    marked.on_read(long, READ_AT + 2, BEGAN_MS + 1)
    assert marked.left_to_a_read() == frozenset()
    assert marked.waiting_for_read() == {"BTCUSDT"}  # still: the periodic read takes it


def test_an_update_the_read_already_holds_changes_nothing() -> None:
    bybit = MarkedView(max_basis_age_s=60.0)
    bybit.on_read(_view("1", "60000", "99970", RealizedPnl(Decimal(-30), None)), READ_AT, FIRST_MS)
    bybit.on_update(
        _pushed(BEGAN_MS + 100, "0.5", "60000", RealizedPnl(Decimal("-3043.5"), None)), READ_AT
    )
    after = _view("0.5", "60000", "96956.5", RealizedPnl(Decimal("-3043.5"), None))
    assert bybit.on_read(after, READ_AT + 1, BEGAN_MS) == ()  # answered after the fill
    assert _marked(54_000.0, bybit) == (96_956.5 - 3_000.0, 0.5)
    binance = MarkedView(max_basis_age_s=60.0)
    binance.on_read(_view("0", "0", "100000"), READ_AT, FIRST_MS)
    binance.on_update(_together(BEGAN_MS + 100, "1", "60000", "99970"), READ_AT)
    assert binance.on_read(_view("1", "60000", "99970"), READ_AT + 1, BEGAN_MS) == ()
    assert _marked(54_000.0, binance) == (99_970.0 - 6_000.0, 1.0)


def test_an_update_stamped_before_the_reads_begin_is_the_reads() -> None:
    marked = MarkedView(max_basis_age_s=60.0)
    marked.on_read(_view("0", "0", "100000"), READ_AT, FIRST_MS)
    marked.on_update(_together(BEGAN_MS - 1, "1", "60000", "99970"), READ_AT)
    marked.on_read(_view("0", "0", "99000"), READ_AT + 1, BEGAN_MS)  # closed since: the read's
    assert _marked(54_000.0, marked) == (99_000.0, 0.0)


def test_an_update_before_the_first_read_survives_it_when_the_read_began_before_it() -> None:
    marked = MarkedView(max_basis_age_s=60.0)
    marked.on_update(_together(FIRST_MS + 100, "1", "60000", "99970"), READ_AT)
    marked.on_read(_view("0", "0", "100000"), READ_AT, FIRST_MS)
    assert _marked(54_000.0, marked) == (99_970.0 - 6_000.0, 1.0)


def test_a_malformed_update_before_the_first_read_is_refused_by_name() -> None:
    with pytest.raises(MalformedUpdate, match="BTCUSDT: entry 0 for a position of 1"):
        MarkedView(max_basis_age_s=60.0).on_update(_together(FIRST_MS, "1", "0", "99970"), READ_AT)


def test_an_update_the_cap_dropped_keeps_the_streams_basis_until_a_read_began_after_it() -> None:
    marked = MarkedView(max_basis_age_s=60.0)
    marked.on_read(_view("0", "0", "100000"), READ_AT, FIRST_MS)
    for i in range(KEPT_UPDATES + 1):  # the first one is dropped: the view cannot apply it again
        marked.on_update(_together(BEGAN_MS + i, "1", "60000", "99970"), READ_AT)
    assert marked.waiting_for_read() == {"BTCUSDT"}
    assert marked.on_read(_view("0", "0", "100000"), READ_AT + 1, BEGAN_MS) == ()
    assert _marked(54_000.0, marked) == (99_970.0 - 6_000.0, 1.0)  # the stream's, not the read's
    assert marked.waiting_for_read() == {"BTCUSDT"}
    marked.on_read(_view("1", "60000", "99960"), READ_AT + 2, BEGAN_MS + KEPT_UPDATES + 1)
    assert marked.waiting_for_read() == frozenset()
    assert _marked(54_000.0, marked) == (99_960.0 - 6_000.0, 1.0)


# --- a property: reads racing the stream ---------------------------------------------------


@dataclass
class _Book:
    """One long position as the venue keeps it: every fill moves the wallet by what it adds to
    the realized-PnL counter (fees included). It never goes flat, so every counter follows."""

    qty: Decimal = Decimal(1)
    entry: Decimal = Decimal(60_000)
    wallet: Decimal = Decimal(99_970)
    total: Decimal = Decimal(-30)

    def fill(self, target: Decimal, price: Decimal) -> None:
        signed = target - self.qty
        fee = abs(signed) * price * Decimal("0.0005")
        if signed > 0:
            self.entry = (self.entry * self.qty + price * signed) / target
        realized = (price - self.entry) * -signed if signed < 0 else Decimal(0)
        self.qty, self.wallet, self.total = (
            target,
            self.wallet + realized - fee,
            self.total + realized - fee,
        )

    def counter(self, venue: str) -> RealizedPnl | None:
        since = {"binance": None, "bybit": None, "okx": OPENED_MS}[venue]
        return None if venue == "binance" else RealizedPnl(self.total, since)

    def push(self, venue: str, at_ms: int) -> AccountUpdate:
        position = PositionUpdate("BTCUSDT", self.qty, self.entry, Decimal(0), self.counter(venue))
        balances = (BalanceUpdate("USDT", self.wallet, self.wallet, Decimal(0)),)
        return AccountUpdate(at_ms, "ORDER", balances if venue == "binance" else (), (position,))

    def read(self, venue: str) -> AccountView:
        held = Position("BTCUSDT", self.qty, self.entry, Decimal(0), None, self.counter(venue))
        return AccountView(self.wallet, self.wallet, Decimal(0), self.wallet, (held,))


_STEPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("fill"),
            st.integers(1, 3_000).map(lambda n: Decimal(n) / 1000),
            st.integers(40_000, 80_000).map(Decimal),
        ),
        st.sampled_from(["deliver", "begin", "snapshot", "answer"]).map(lambda s: (s, None, None)),
    ),
    max_size=40,
)


def _reference(read: AccountView, began: int, delivered: list[AccountUpdate]) -> MarkedView:
    """The newest read, then every update stamped at or after its begin, in the venue's order."""
    reference = MarkedView(max_basis_age_s=60.0)
    reference.on_read(read, READ_AT, began)
    for update in sorted(delivered, key=lambda u: u.event_time_ms):
        if update.event_time_ms >= began:
            reference.on_update(update, READ_AT)
    return reference


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["binance", "bybit", "okx"]), _STEPS, st.integers(40_000, 80_000))
def test_reads_racing_the_stream_leave_the_view_of_the_newest_read_and_every_later_update(
    venue: str, steps: list[tuple[str, Decimal | None, Decimal | None]], price: int
) -> None:
    """Fills at the venue, their pushes delivered in order but late, reads asked for at one time
    and answered from the venue's state at some time after: after every step the view equals
    the newest read with every update stamped at or after its begin applied in the venue's
    order, and, once the stream has delivered everything, a fresh read of the venue."""
    book, view = _Book(), MarkedView(max_basis_age_s=60.0)
    pending: deque[AccountUpdate] = deque()
    delivered: list[AccountUpdate] = []
    newest: tuple[AccountView, int] | None = None
    began: int | None = None
    snapshot: AccountView | None = None
    for at_ms, (step, target, fill_price) in enumerate(steps, start=FIRST_MS):
        if step == "fill" and target is not None and fill_price is not None:
            if target != book.qty:
                book.fill(target, fill_price)
                pending.append(book.push(venue, at_ms))
        elif step == "deliver" and pending:
            delivered.append(pending.popleft())
            view.on_update(delivered[-1], READ_AT)
        elif step == "begin" and began is None:
            began, snapshot = at_ms, None
        elif step == "snapshot" and began is not None and snapshot is None:
            snapshot = book.read(venue)
        elif step == "answer" and began is not None:
            newest = (snapshot or book.read(venue), began)
            view.on_read(newest[0], READ_AT, began)
            began = None
        if newest is not None:
            expected = _reference(*newest, delivered)
            assert _marked(float(price), view) == pytest.approx(_marked(float(price), expected))
    while pending:
        view.on_update(pending.popleft(), READ_AT)
    if newest is None:  # no read answered yet: one now, after everything
        view.on_read(book.read(venue), READ_AT, FIRST_MS + len(steps))
    fresh = MarkedView(max_basis_age_s=60.0)
    fresh.on_read(book.read(venue), READ_AT, FIRST_MS + len(steps))
    assert _marked(float(price), view) == pytest.approx(_marked(float(price), fresh), abs=1e-6)
