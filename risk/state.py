"""The graded trading state: ACTIVE < WARN < REDUCING < HALTED < KILLED.

Cancels are never blocked in any state. Reduce-only exits stay allowed up to HALTED; in
KILLED the trader's key is revoked and flattening is the operator's job.
"""

from __future__ import annotations

from enum import IntEnum


class TradingState(IntEnum):
    """What the trader may do. Higher is more restrictive, so `max()` gives the worst."""

    ACTIVE = 0  # trade normally
    WARN = 1  # trade normally; a measure is near its limit (alert)
    REDUCING = 2  # reduce-only orders and cancels
    HALTED = 3  # no new orders; cancels and reduce-only exits only
    KILLED = 4  # latched: the watchdog cancels everything and revokes the key


def allows_new_orders(state: TradingState) -> bool:
    """True when orders that may increase exposure are allowed."""
    return state <= TradingState.WARN


def allows_reduce_only(state: TradingState) -> bool:
    """True when reduce-only exits are allowed (every state but KILLED)."""
    return state < TradingState.KILLED


def allows_cancel(state: TradingState) -> bool:
    """Cancels are never blocked: cancelling can only lower exposure."""
    del state
    return True
