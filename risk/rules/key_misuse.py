"""Key misuse: the venue acknowledged an order the trader never reported.

The trader reports every order it sends (a SUBMIT, then an ACK, each with its client order
id). A VENUE ACK whose id no TELEMETRY SUBMIT or ACK carries within `reorder_s` (before it,
or up to `reorder_s` after it: data in flight is not misuse) is an order the watchdog did not
authorise: a leaked key, a rogue process, a second copy of the bot. One is enough: KILLED,
the reason naming the order ids. A venue ACK without a client id cannot be matched and is
unreported at once (the reference trader and every adapter always set one).

Latched like every kill; a re-arm forgets the orders it was about (the kill swept them).
The matching lives in `OrderMatch`, shared with the divergence rule.
"""

from __future__ import annotations

from risk.decision import Decision
from risk.limits import KeyMisuseLimits
from risk.rules._common import INF, Recovery
from risk.rules.order_match import OrderMatch, name_ids
from risk.state import TradingState

MAX_NAMED = 100  # order ids kept for the reason: a flood is counted, not listed


class KeyMisuseRule:
    name = "key_misuse"
    recovery = Recovery.LATCHED

    def __init__(self, limits: KeyMisuseLimits, orders: OrderMatch) -> None:
        self.window = limits.reorder_s
        self.orders = orders
        self.misused: list[str] = []  # the first MAX_NAMED order ids found unreported
        self.found = 0  # how many were found in all
        self.count = 0  # unreported orders the decision names
        self.decision: Decision | None = None
        self.due = INF

    def on_report(self, order_id: str, now: float) -> bool:
        """A TELEMETRY SUBMIT or ACK: it authorises its order, even after the venue's ACK."""
        return self.orders.on_report(order_id) and self.evaluate(now)

    def on_venue_ack(self, order_id: str, now: float) -> bool:
        return self.orders.on_venue_order(order_id, now) and self.evaluate(now)

    def evaluate(self, now: float) -> bool:
        orders = self.orders
        past = orders.unreported_past(now, self.window)
        for order_id in past:
            del orders.unreported[order_id]
        self.found += len(past)
        self.misused += past[: MAX_NAMED - len(self.misused)]
        before, before_due = self.decision, self.due
        self.due = orders.unreported_due(self.window)
        count = self.found + orders.unnamed
        if count != self.count:
            self.count = count
            self.decision = self._decide(count)
        return self.decision is not before or self.due != before_due

    def _decide(self, count: int) -> Decision:
        words = [name_ids(self.misused, self.found)] if self.misused else []
        if self.orders.unnamed:
            words.append(f"{self.orders.unnamed} without a client order id")
        reason = (
            f"key misuse: the venue acknowledged {count} order(s) the trader never reported "
            f"(no SUBMIT or ACK within {self.window:g} s): {', '.join(words)}"
        )
        return Decision(TradingState.KILLED, self.name, float(count), 0.0, reason)

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        return float(self.count)

    def on_rearm(self, now: float) -> None:
        self.orders.forget_unreported()
        self.misused.clear()
        self.found = 0
        self.count = 0
        self.decision = None
        self.evaluate(now)
