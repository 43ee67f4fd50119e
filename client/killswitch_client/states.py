"""The wire-level vocabulary: trading states, order event kinds, sides.

The client owns these so that it needs nothing but the standard library; the watchdog
translates them into its risk engine's own types at its edge. Values are the wire's: a state
travels by name, and its integer orders strictness, so `max()` gives the stricter.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class TradingState(IntEnum):
    """What the bot may do. Higher is more restrictive."""

    ACTIVE = 0  # trade normally
    WARN = 1  # trade normally; a measure is near its limit
    REDUCING = 2  # reduce-only orders and cancels
    HALTED = 3  # no new orders; cancels and reduce-only exits only
    KILLED = 4  # latched: the watchdog cancels everything and revokes the key

    @property
    def allows_new_orders(self) -> bool:
        """Orders that may increase exposure."""
        return self <= TradingState.WARN

    @property
    def allows_reduce_only(self) -> bool:
        """Reduce-only exits: every state but KILLED. Cancels are allowed in every state."""
        return self < TradingState.KILLED


class OrderEventKind(StrEnum):
    SUBMIT = "SUBMIT"  # the bot sent a new order
    ACK = "ACK"  # the venue accepted it
    REJECT = "REJECT"  # the venue refused it
    FILL = "FILL"  # a (partial) fill; `realized_pnl` set when it closed exposure
    CANCEL = "CANCEL"  # the order left the book without a fill


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
