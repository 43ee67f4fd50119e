"""Key misuse: the venue acknowledged an order the trader never reported.

The trader reports every order it sends (a SUBMIT, then an ACK, each with its client order
id). A VENUE ACK whose id no TELEMETRY SUBMIT or ACK carries is an order the watchdog did not
authorise: a leaked key, a rogue process, a second copy of the bot. One is enough: KILLED, the
reason naming the order ids.

Only a trader that is heard can be judged this way. A report long before the venue's ACK
authorises it (a slow venue); data in flight is not misuse: the order is judged only once the
trader is heard from in a report it made (by its own stamp, bounded by arrival) at least
`reorder_s` after the venue's ACK arrived, and even then its report may still arrive up to
`reorder_s` after that hearing (the rest of a flush that took several datagrams, a datagram
the link reordered). A report made before that instant proves nothing: a delayed link delivers
it late, with the SUBMIT still behind it. While the trader is silent nothing here judges it: a
cut telemetry link carries no reports, so the orders placed during the cut are not misuse but
the heartbeat deadline's to judge. No clock wakes this rule for an order waiting to be heard.

A venue ACK without a client id cannot be matched and is unreported at once (the reference
trader and every adapter always set one).

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
        return self.orders.on_report(order_id, now) and self.evaluate(now)

    def on_venue_ack(self, order_id: str, now: float) -> bool:
        return self.orders.on_venue_order(order_id, now) and self.evaluate(now)

    def on_heard(self, sent: float, now: float) -> bool:
        """The trader was heard (a heartbeat or any report arrived at `now`, made at `sent`):
        the orders it left unreported for `reorder_s` before `sent` are judged (see the module
        docstring)."""
        return self.orders.hear(sent, now, self.window) and self.evaluate(now)

    def evaluate(self, now: float) -> bool:
        orders = self.orders
        past = orders.overheard_past(now)
        for order_id in past:
            del orders.overheard[order_id]
        self.found += len(past)
        self.misused += past[: MAX_NAMED - len(self.misused)]
        before, before_due = self.decision, self.due
        self.due = orders.overheard_due()
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
            f"(heard {self.window:g} s or more after each ACK, it reported none of them "
            f"within {self.window:g} s): {', '.join(words)}"
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
