"""Why the core refused something, in no venue's words: each front maps a reason to its own
error code, message and HTTP status."""

from __future__ import annotations

import enum

from exchange_sim.errors import SimError


class Reason(enum.Enum):
    NO_QUOTE = "no quote yet for the symbol"
    OVERLOADED = "the venue is overloaded (the order's outcome is unknown)"
    CLIENT_ID_DUPLICATED = "client order id already used by an open order"
    MIN_NOTIONAL = "order notional below the symbol's minimum"
    REDUCE_ONLY = "reduce-only order would not reduce the position"
    MARGIN = "not enough available balance"
    MAX_OPEN_ORDERS = "too many open orders on the symbol"
    POST_ONLY = "post-only order would take liquidity"
    FOK = "fill-or-kill order cannot be filled at once"
    NOT_OPEN = "no such open order"
    AMEND_INVALID = "the amendment leaves no valid order (quantity at or below the filled)"
    NOT_FOUND = "no such order"
    SUB_ACCOUNT_MISSING = "no such sub-account"
    SUB_KEY_MISSING = "no such API key on the sub-account"


class Refused(SimError):
    """The core refused a request; ``detail`` carries a value a front may quote (a minimum)."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.name}: {reason.value}")
        self.reason = reason
        self.detail = detail


# The admin API's "reject every new order" fault names its rejection by the Binance code it was
# first written with (docs/exchange_sim.md); every front answers the same reason in its words.
REJECTION_CODES: dict[int, Reason] = {
    -1008: Reason.OVERLOADED,
    -2019: Reason.MARGIN,
    -2022: Reason.REDUCE_ONLY,
    -2025: Reason.MAX_OPEN_ORDERS,
}
