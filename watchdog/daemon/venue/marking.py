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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from risk.events import AccountSnapshot, EventSource, MarketEvent, PositionSnapshot, RiskEvent
from watchdog.daemon.venue.reconcile import read_mark
from watchdog.venues.base import AccountView


@dataclass(frozen=True, slots=True)
class _Held:
    qty: float
    entry: float
    venue_mark: float  # the read's own mark, until the stream prices the symbol


@dataclass(frozen=True, slots=True)
class _Basis:
    observed: float
    wallet: float
    held: dict[str, _Held]


class MarkedView:
    def __init__(self, max_basis_age_s: float) -> None:
        self._max_age = max_basis_age_s
        self._basis: _Basis | None = None
        self._mids: dict[str, float] = {}

    def on_read(self, view: AccountView, observed: float) -> None:
        """A successful reconciliation's account read, observed at ``observed`` (wall)."""
        held = {
            p.symbol: _Held(float(p.qty), float(p.entry_price), read_mark(p))
            for p in view.positions
            if p.qty != 0
        }
        self._basis = _Basis(observed, float(view.wallet), held)

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
        unrealized = sum(
            (self._mids.get(s, h.venue_mark) - h.entry) * h.qty for s, h in basis.held.items()
        )
        account = AccountSnapshot(
            basis.observed, basis.wallet + unrealized, 0.0, unrealized, EventSource.VENUE
        )
        held = basis.held.get(symbol)
        if held is None:
            return (market, account)
        position = PositionSnapshot(now, symbol, held.qty, mid, EventSource.VENUE)
        return (market, account, position)
