"""The watchdog marks the account itself, at every price event (pure: no sockets, no clock).

Basis: the venue's wallet balance and each position's quantity and entry price, all from one
reconciliation read (``AccountView``), so they are consistent with each other: a fill moves the
wallet (realized PnL, fees) and the position together, and mixing a wallet from one read with a
position from another would show a loss that is not there. Price: the best bid and ask from the
venue's public market stream; the mark is their mid.

    equity = wallet + sum over positions of (mark - entry) * qty

A position on a symbol the stream has not priced yet is marked at the venue's own mark from the
read. A price that is not a positive finite number never marks anything: the engine's bad-data
rule judges the ``MarketEvent`` (and halts, naming the field); the marked equity waits for a
good price. A basis older than ``max_basis_age_s`` marks nothing either: the engine's
``venue_blind`` rule sees the reconciliation's age, and equity on a stale basis is not a view.
The account snapshot carries the basis's observation time, so a busy market never makes an old
read look fresh.

Between reads the private stream moves the basis (``on_update``): a fill the venue reports is
judged at once (the account and the positions it moved, at the last prices) and marked at every
price after it, not from the next read. What is applied keeps the basis consistent with
itself (``apply_update``; docs/venues.md says it per venue):

- a wallet and positions the venue sends in one event (Binance's ``ACCOUNT_UPDATE``): together;
- a position sent alone (Bybit's ``position`` topic, OKX's ``positions`` channel) with the
  venue's realized-PnL counter (``RealizedPnl``: Bybit's ``cumRealisedPnl``, OKX's
  ``realizedPnl`` since the position's ``cTime``): the position, and the wallet moved by the
  counter's change since the basis, whatever the fill did (opened, added, shrank, closed,
  flipped). The basis keeps each symbol's counter as of the read (the REST position rows carry
  it) or of the last update applied. A position the venue opened after the read began (OKX:
  its ``cTime``) has a counter that started at zero, so all of it is the wallet's move;
- a position alone whose change the counter cannot give (no counter, or one counting another
  position than the basis holds: an OKX flip, a Bybit symbol flat at the read): as before, only
  when it grows or stays, since its fill moved the wallet by no more than the fee; one that
  shrinks waits for the read (the symbol is left alone until then), never a guess;
- a wallet alone: never (its cause, a fee or a realized PnL, is not in it).

The stream's values are absolute (a quantity, an entry, a wallet, a counter), so an update a
read already holds changes nothing when applied again: the counter has not moved since the
basis. One the venue stamped before the read began, or before an update already applied to the
same symbol or asset, never overwrites the newer value.

Each read replaces the whole basis: it stays the backstop that corrects it. A read is not an
instant, though: one that began before an update and was answered after it may or may not hold
that update's fill. So the view keeps the updates stamped at or after the newest read's begin,
and a new read is the basis with those stamped at or after its own begin applied again on top,
in the venue's time order: the newest read, then every update it may lack. One the read holds
changes nothing (above). What is kept is capped; an update the cap drops is not forgotten
silently: a read that began before it keeps the stream-moved basis and names the symbols as
waiting for a read (``waiting_for_read``) until one began after it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from risk.events import AccountSnapshot, EventSource, MarketEvent, PositionSnapshot, RiskEvent
from watchdog.daemon.venue.reconcile import read_mark
from watchdog.venues.base import AccountView, RealizedPnl
from watchdog.venues.user_events import AccountUpdate, PositionUpdate

SETTLEMENT_ASSET = "USDT"  # the wallet the marking counts: USDT-margined linear contracts
KEPT_UPDATES = 1024  # stream updates kept for the next read to apply again (``MarkedView._keep``)


@dataclass(frozen=True, slots=True)
class _Held:
    qty: float
    entry: float
    venue_mark: float  # the read's own mark, until the stream prices the symbol


@dataclass(frozen=True, slots=True)
class _Basis:
    observed: float  # wall time of the read: the basis's age, whatever the stream adds
    wallet: float
    held: dict[str, _Held]
    read_ms: float  # venue time the read began: a stream update stamped earlier is in it
    stamps: dict[str, int]  # venue time of the last stream update applied, per symbol or asset
    # Each symbol's realized-PnL counter as the wallet holds it: from the read, then from each
    # update applied. The wallet moves by the counter's change since then.
    realized: dict[str, RealizedPnl]
    stale: frozenset[str] = frozenset()  # moved on the stream in a way only the read can apply


class MalformedUpdate(ValueError):
    """A stream update whose values cannot be a position or a wallet: an unknown, not a view."""


def apply_update(basis: _Basis, update: AccountUpdate) -> _Basis:
    """Pure: the basis moved by one stream update, skipping each symbol or asset the view already
    knows from later. Raises ``MalformedUpdate`` naming what was wrong; then nothing of the update
    is applied.

    Wallet and positions together (Binance): both, at once. A position alone (Bybit's and OKX's
    own topics): with the wallet moved by its realized-PnL counter's change since the basis;
    without a usable counter, only a position that grows or stays (its fill moved the wallet by
    its fee alone), and one that shrinks leaves its symbol to the read. A wallet alone: never
    (its cause, a fee or a realized PnL, is not in it)."""
    _check(update)
    t = update.event_time_ms
    if t < basis.read_ms or update.positions == ():
        return basis
    together = update.balances != ()
    wallet, held, stamps = basis.wallet, dict(basis.held), dict(basis.stamps)
    realized, stale = dict(basis.realized), set(basis.stale)
    for b in update.balances:
        if b.asset == SETTLEMENT_ASSET and t >= stamps.get(b.asset, t):
            wallet = float(b.wallet)
            stamps[b.asset] = t
    for p in update.positions:
        if t < stamps.get(p.symbol, t) or p.symbol in stale:
            continue
        change = None if together else _wallet_change(basis.read_ms, realized, held, p)
        if not together and change is None and not _grows(held.get(p.symbol), p.qty):
            stale.add(p.symbol)
            continue
        wallet += float(change or 0)
        _move(held, p)
        stamps[p.symbol] = t
        if p.realized is None:
            realized.pop(p.symbol, None)
        else:
            realized[p.symbol] = p.realized
    return replace(
        basis, wallet=wallet, held=held, stamps=stamps, realized=realized, stale=frozenset(stale)
    )


def _wallet_change(
    read_ms: float, realized: dict[str, RealizedPnl], held: dict[str, _Held], p: PositionUpdate
) -> Decimal | None:
    """How far the update's fills moved the wallet, by the venue's own counter; None when the
    counter cannot say (absent, or counting a position the basis does not know from its start)."""
    now = p.realized
    if now is None:
        return None
    then = realized.get(p.symbol)
    if then is not None and then.since_ms == now.since_ms:
        return now.total - then.total
    if p.symbol not in held and now.since_ms is not None and now.since_ms >= read_ms:
        return now.total  # opened after the read began: its counter started at zero then
    return None


def _grows(before: _Held | None, qty: Decimal) -> bool:
    """Opens, adds to or keeps a position: no PnL realized, so the wallet moved by the fee only."""
    if before is None or qty == 0:
        return before is None
    return (before.qty > 0) == (qty > 0) and abs(float(qty)) >= abs(before.qty)


def _move(held: dict[str, _Held], p: PositionUpdate) -> None:
    if p.qty == 0:
        held.pop(p.symbol, None)
        return
    venue_mark = float(p.entry_price + p.unrealized_pnl / p.qty)
    held[p.symbol] = _Held(float(p.qty), float(p.entry_price), venue_mark)


def _read_basis(view: AccountView, observed: float, began_ms: float) -> _Basis:
    held = {
        p.symbol: _Held(float(p.qty), float(p.entry_price), read_mark(p))
        for p in view.positions
        if p.qty != 0
    }
    realized = {p.symbol: p.realized for p in view.positions if p.realized is not None}
    return _Basis(observed, float(view.wallet), held, began_ms, {}, realized)


def _stamp(update: AccountUpdate) -> int:
    return update.event_time_ms


def _check(update: AccountUpdate) -> None:
    """The decoder has checked that each value is a finite number; this, that it is a position."""
    for p in update.positions:
        if p.entry_price < 0 or (p.qty != 0 and p.entry_price == Decimal(0)):
            raise MalformedUpdate(
                f"account update at {update.event_time_ms}: {p.symbol}: "
                f"entry {p.entry_price} for a position of {p.qty}"
            )


class MarkedView:
    def __init__(self, max_basis_age_s: float) -> None:
        self._max_age = max_basis_age_s
        self._basis: _Basis | None = None
        self._mids: dict[str, float] = {}
        # The position updates stamped at or after the newest read's begin, in arrival order:
        # the next read may have been answered before them, so it applies them again.
        self._kept: deque[AccountUpdate] = deque()
        # Symbols of updates the cap dropped, with the newest such stamp: a read that began
        # before it may lack that update, and the view no longer holds it to apply again.
        self._lost: dict[str, int] = {}
        self._read_left: frozenset[str] = frozenset()  # what the last read left to a read
        self._ask: frozenset[str] = frozenset()

    def on_read(self, view: AccountView, observed: float, began_ms: float) -> tuple[RiskEvent, ...]:
        """A successful reconciliation's account read, observed at ``observed`` (wall), asked
        for at ``began_ms`` on the venue's clock: the new basis, with every stream update
        stamped at or after ``began_ms`` applied again on top (in the venue's time order), since
        the read may have been answered before them. Returns the account and each position
        those updates moved on the read, marked, when they moved any.

        A read that began before an update the cap dropped keeps the stream-moved basis it has
        (``waiting_for_read`` names the symbols) until a read that began after it."""
        self._kept = deque(u for u in self._kept if u.event_time_ms >= began_ms)
        self._lost = {s: t for s, t in self._lost.items() if t >= began_ms}
        if self._lost:
            self._left_by_read()
            return ()
        read = _read_basis(view, observed, began_ms)
        basis = read
        for update in sorted(self._kept, key=_stamp):
            basis = apply_update(basis, update)
        self._basis = basis
        self._left_by_read()
        symbols = dict.fromkeys(p.symbol for u in self._kept for p in u.positions)
        return self._judged(read, basis, symbols, observed)

    def _left_by_read(self) -> None:
        left = self.waiting_for_read()
        self._ask = frozenset() if left == self._read_left else left
        self._read_left = left

    def left_to_a_read(self) -> frozenset[str]:
        """The symbols the last read left to a read begun after it (updates it may lack that
        only a read can apply), worth a read at once; none when the read before it left the
        same ones: the venue stamped them ahead of the reads' begins, reads back to back would
        not settle them, and the periodic read takes them instead."""
        return self._ask

    def on_update(self, update: AccountUpdate, now: float) -> tuple[RiskEvent, ...]:
        """A private-stream account update; the account and each position it moved, marked at
        once (a fill past a limit is judged at the fill). ``MalformedUpdate`` leaves the view
        as it was."""
        before = self._basis
        if before is None:
            _check(update)
            self._keep(update)  # the first read may have been answered before it
            return ()
        after = apply_update(before, update)
        if update.event_time_ms >= before.read_ms:
            self._keep(update)
        self._basis = after
        return self._judged(before, after, (p.symbol for p in update.positions), now)

    def _keep(self, update: AccountUpdate) -> None:
        """Keep a position update for the next read. The cap is safe because nothing it drops is
        forgotten silently: the dropped update was applied to the basis already (if there is
        one), a read that began before its stamp does not replace that basis (``on_read``), and
        its symbols wait for a read that began after it, which the daemon asks for at once. What
        is kept is the updates since the newest read began, a reconciliation period and a read's
        time (about a second by default): the cap is far above an account's fills in that time,
        and applying all of it again costs a few milliseconds."""
        if not update.positions:
            return  # a wallet alone moves nothing (``apply_update``): nothing to apply again
        if len(self._kept) == KEPT_UPDATES:
            dropped = self._kept.popleft()
            for p in dropped.positions:
                self._lost[p.symbol] = max(self._lost.get(p.symbol, 0), dropped.event_time_ms)
        self._kept.append(update)

    def _judged(
        self, before: _Basis, after: _Basis, symbols: Iterable[str], now: float
    ) -> tuple[RiskEvent, ...]:
        """The account and each of ``symbols`` whose position moved from ``before`` to
        ``after``, marked at the last prices; nothing when nothing moved or the basis is stale."""
        moved = [s for s in symbols if after.held.get(s) != before.held.get(s)]
        changed = moved or after.wallet != before.wallet  # funding moves the wallet alone
        if not changed or now - after.observed > self._max_age:
            return ()
        positions = [
            PositionSnapshot(now, s, h.qty if h else 0.0, self._mark(s, h), EventSource.VENUE)
            for s in moved
            for h in (after.held.get(s),)
        ]
        return (self._account(after), *positions)

    def waiting_for_read(self) -> frozenset[str]:
        """The symbols the stream moved in a way only the next read can apply, and those of
        updates the cap dropped that only a read begun after them holds."""
        stale = frozenset() if self._basis is None else self._basis.stale
        return stale | frozenset(self._lost)

    def on_price(self, symbol: str, bid: float, ask: float, now: float) -> tuple[RiskEvent, ...]:
        """The price as the venue's market event, and the account marked at it when it can be."""
        market = MarketEvent(now, symbol, bid, ask, EventSource.VENUE)
        basis = self._basis
        mid = (bid + ask) / 2.0
        if not (bid > 0.0 and ask > 0.0 and math.isfinite(mid)):
            self._mids.pop(symbol, None)  # a bad price is no mark: the read's mark stands
            return (market,)
        self._mids[symbol] = mid
        if basis is None or now - basis.observed > self._max_age:
            return (market,)
        account = self._account(basis)
        held = basis.held.get(symbol)
        if held is None:
            return (market, account)
        position = PositionSnapshot(now, symbol, held.qty, mid, EventSource.VENUE)
        return (market, account, position)

    def _mark(self, symbol: str, held: _Held | None) -> float:
        mid = self._mids.get(symbol)
        if mid is not None:
            return mid
        return 0.0 if held is None else held.venue_mark

    def _account(self, basis: _Basis) -> AccountSnapshot:
        unrealized = sum(
            (self._mids.get(s, h.venue_mark) - h.entry) * h.qty for s, h in basis.held.items()
        )
        return AccountSnapshot(
            basis.observed, basis.wallet + unrealized, 0.0, unrealized, EventSource.VENUE
        )
