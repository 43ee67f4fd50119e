"""A quoting strategy as a pure function: top of book, inventory and resting orders in, a plan out.

Prices are integer ticks and sizes integer lots, so the hot path does exact integer arithmetic
and never touches ``Decimal``. The function is synchronous and returns a shared empty plan when
nothing changes, so a steady book costs no allocation beyond the comparison.

What may be opened is decided by the caller as a ``Posture``: the trading state, the feed's
freshness and the watchdog's liveness all reduce to it, and this module never has to know why.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple


class Side(enum.Enum):
    BUY = "BUY"
    SELL = "SELL"


class Posture(enum.IntEnum):
    """How much risk the strategy may take, worst last."""

    QUOTE = 0  # both sides, within the position limit
    REDUCE = 1  # reduce-only exits; never adds to the position
    FLAT = 2  # cancel everything, place nothing


class Top(NamedTuple):
    """Best bid and ask in ticks.

    Built on every tick: a NamedTuple (immutable, built in C) costs about a third of a
    frozen dataclass, whose ``__init__`` goes through ``object.__setattr__`` per field.
    """

    bid: int
    ask: int


class Resting(NamedTuple):
    """One of our own orders as the order manager knows it (sent, acked or being cancelled).

    Built for every resting order on every tick, hence a NamedTuple like ``Top``.
    """

    client_id: str
    side: Side
    price: int
    qty: int
    reduce_only: bool
    cancelling: bool = False


@dataclass(frozen=True, slots=True)
class Quote:
    side: Side
    price: int
    qty: int
    reduce_only: bool


@dataclass(frozen=True, slots=True)
class Plan:
    cancel: tuple[str, ...]
    place: tuple[Quote, ...]

    def __bool__(self) -> bool:
        return bool(self.cancel or self.place)


NOTHING = Plan((), ())


@dataclass(frozen=True, slots=True)
class QuoteParams:
    half_spread_bps: float
    skew_bps: float
    requote_ticks: int
    quote_lots: int
    max_position_lots: int


def decide(
    params: QuoteParams,
    top: Top | None,
    position: int,
    resting: Sequence[Resting],
    posture: Posture,
) -> Plan:
    """The orders to cancel and to place so that what rests matches what should rest."""
    if posture is Posture.FLAT or top is None or top.bid <= 0 or top.ask <= top.bid:
        return _cancel_all(resting)
    bid, ask = _targets(params, top, position, resting, posture)
    cancel: list[str] = []
    place: list[Quote] = []
    _reconcile(Side.BUY, bid, params.requote_ticks, resting, cancel, place)
    _reconcile(Side.SELL, ask, params.requote_ticks, resting, cancel, place)
    if not cancel and not place:
        return NOTHING
    return Plan(tuple(cancel), tuple(place))


def _cancel_all(resting: Sequence[Resting]) -> Plan:
    ids = tuple(r.client_id for r in resting if not r.cancelling)
    return Plan(ids, ()) if ids else NOTHING


def _targets(
    params: QuoteParams, top: Top, position: int, resting: Sequence[Resting], posture: Posture
) -> tuple[Quote | None, Quote | None]:
    bid_px, ask_px = _prices(params, top, position)
    if posture is Posture.REDUCE:
        qty = min(params.quote_lots, abs(position))
        if position > 0:
            return None, Quote(Side.SELL, ask_px, qty, reduce_only=True)
        if position < 0:
            return Quote(Side.BUY, bid_px, qty, reduce_only=True), None
        return None, None
    buy_room = params.max_position_lots - position
    sell_room = params.max_position_lots + position
    bid = _sized(Side.BUY, bid_px, params, buy_room, resting)
    ask = _sized(Side.SELL, ask_px, params, sell_room, resting)
    return bid, ask


def _sized(
    side: Side, price: int, params: QuoteParams, room: int, resting: Sequence[Resting]
) -> Quote | None:
    """The quote for one side, sized so that every order on that side filling stays in room.

    Orders being cancelled, or about to be replaced, can still fill before the cancel lands:
    all of them count. An order that already matches the target is kept, so it only has to
    fit beside the others.
    """
    same_side = [r for r in resting if r.side is side]
    total = sum(r.qty for r in same_side)
    if total <= room:
        for order in same_side:
            if _keepable(order, price, params):
                return Quote(side, order.price, order.qty, reduce_only=False)
    qty = min(params.quote_lots, room - total)
    return Quote(side, price, qty, reduce_only=False) if qty > 0 else None


def _prices(params: QuoteParams, top: Top, position: int) -> tuple[int, int]:
    """Bid and ask around a mid shifted against the inventory; never crossing the book."""
    mid = (top.bid + top.ask) / 2
    inventory = position / params.max_position_lots
    reservation = mid - inventory * params.skew_bps * 1e-4 * mid
    half = max(params.half_spread_bps * 1e-4 * mid, 0.5)
    bid = min(math.floor(reservation - half), top.ask - 1)
    ask = max(math.ceil(reservation + half), top.bid + 1)
    return max(bid, 1), ask


def _keepable(order: Resting, price: int, params: QuoteParams) -> bool:
    return (
        not order.cancelling
        and not order.reduce_only
        and order.qty == params.quote_lots
        and abs(order.price - price) <= params.requote_ticks
    )


def _reconcile(
    side: Side,
    want: Quote | None,
    tolerance: int,
    resting: Sequence[Resting],
    cancel: list[str],
    place: list[Quote],
) -> None:
    """Keep at most one live order per side that matches ``want``; cancel the rest."""
    kept = False
    for order in resting:
        if order.side is not side or order.cancelling:
            continue
        if not kept and want is not None and _matches(order, want, tolerance):
            kept = True
        else:
            cancel.append(order.client_id)
    if want is not None and not kept:
        place.append(want)


def _matches(order: Resting, want: Quote, tolerance: int) -> bool:
    return (
        order.qty == want.qty
        and order.reduce_only == want.reduce_only
        and abs(order.price - want.price) <= tolerance
    )
