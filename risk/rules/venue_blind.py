"""Venue blindness: the age of the watchdog's own view of the venue against a maximum.

The watchdog exists not to trust the trader's telemetry: its judge is what the venue itself
shows (equity, positions, open orders), read with its own keys. Without a fresh view for
`max_blind_s` the limits measured on the venue are unknown, and unknown halts: HALTED until a
fresh view returns, then released at once (transient, never a kill: an outage at the venue
is not the trader's fault, and the venue's dead man's switch still covers the orders).

A view is fresh when observed, so the age counts from the observation time, never from when
the shell got round to applying it. Engine start counts as a view (as it counts as a
heartbeat): a venue that never answers is seen on schedule. A re-arm does not restart the
clock: it makes nothing visible.
"""

from __future__ import annotations

from risk.decision import Decision
from risk.rules._common import INF, Recovery
from risk.state import TradingState


class VenueBlindRule:
    name = "venue_blind"
    recovery = Recovery.TRANSIENT

    def __init__(self, max_blind_s: float | None, now: float) -> None:
        """`max_blind_s` None: the trader has no venue view to watch; the rule never decides."""
        self.max_blind_s = max_blind_s
        self.seen = now  # the observation time of the freshest view
        self.age = 0.0
        self.decision: Decision | None = None
        self.due = INF if max_blind_s is None else now + max_blind_s

    @property
    def blind(self) -> bool:
        return self.decision is not None

    def on_view(self, observed: float, now: float) -> bool:
        """A complete, successful read of the venue observed at `observed` (<= `now`)."""
        if observed > now:
            observed = now  # a view cannot be fresher than the moment it is applied
        if observed > self.seen:
            self.seen = observed
        if self.decision is None:
            return False  # `due` moves later; the engine's earlier timer is still valid
        return self.evaluate(now)

    def evaluate(self, now: float) -> bool:
        limit = self.max_blind_s
        if limit is None:
            return False
        age = now - self.seen
        self.age = age if age > 0.0 else 0.0
        blind_at = self.seen + limit  # the very time put into `due`: no rounding gap
        before, before_due = self.decision, self.due
        if now >= blind_at:
            if before is None:
                self.decision = Decision(
                    TradingState.HALTED,
                    self.name,
                    age,
                    limit,
                    f"no fresh venue view for {age:.2f} s (max {limit:g} s): equity, positions "
                    "and open orders at the venue are unknown",
                )
            self.due = INF  # only a fresh view ends it
        else:
            self.decision = None
            self.due = blind_at
        return self.decision is not before or self.due < before_due

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        limit = self.max_blind_s
        return self.age / limit if limit else 0.0

    def on_rearm(self, now: float) -> None:
        del now  # a re-arm shows nothing of the venue: the view is as old as it was
