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

A trader can also settle it at once (`ask_trader`): when a venue ACK arrives unreported, the
watchdog asks the trader's client a question (`question`, sent in an ack), and the client
answers at once, after everything it had to send. The order's SUBMIT was sent before the order
itself, so before the venue's ACK, so before the question: if the trader sent it, it is in the
answer's datagram or an earlier one. An answer with no earlier datagram missing (the ingress
passes it on only then) proves that no report of an order acknowledged before the question is
still in flight: each is misuse at the answer (`on_answer`), milliseconds after its ACK
instead of `reorder_s` after it. An answer with a datagram missing before it proves nothing
(the ingress drops it) and the window above still judges. One question is out at a time; the
next one goes when it is answered, or `reorder_s` after it was asked. A bot that may report a
SUBMIT after its order has left turns `ask_trader` off.

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
MAX_QUESTION = 2**32 - 1  # the wire's largest question number; numbering wraps to 1 past it


class KeyMisuseRule:
    name = "key_misuse"
    recovery = Recovery.LATCHED

    def __init__(self, limits: KeyMisuseLimits, orders: OrderMatch) -> None:
        self.window = limits.reorder_s
        self.ask = limits.ask_trader
        self.orders = orders
        self.misused: list[str] = []  # the first MAX_NAMED order ids found unreported
        self.found = 0  # how many were found in all
        self.found_by_answer = 0  # of them, found at the trader's answer to a question
        self.asked = 0  # the number of the last question asked (0: none yet)
        self.asked_at = -INF  # when it was asked
        self.answered = True  # its answer arrived (nothing is out)
        self.last_unreported = -INF  # when the newest venue ACK without a report arrived
        self.count = 0  # unreported orders the decision names
        self.decision: Decision | None = None
        self.due = INF

    def on_report(self, order_id: str, now: float) -> bool:
        """A TELEMETRY SUBMIT or ACK: it authorises its order, even after the venue's ACK."""
        return self.orders.on_report(order_id, now) and self.evaluate(now)

    def on_venue_ack(self, order_id: str, now: float) -> bool:
        if not self.orders.on_venue_order(order_id, now):
            return False
        if order_id:
            self.last_unreported = now
        return self.evaluate(now)

    def question(self, now: float) -> int:
        """The number of a question to ask the trader at `now` (0: none to ask): a venue ACK
        arrived unreported after the last question was asked, and that one was answered or is
        `reorder_s` old."""
        if not self.ask or self.last_unreported <= self.asked_at:
            return 0
        if not (self.orders.unreported or self.orders.overheard):
            return 0  # reported since
        if not self.answered and now - self.asked_at < self.window:
            return 0  # its answer is due first
        self.asked = self.asked % MAX_QUESTION + 1
        self.asked_at = now
        self.answered = False
        return self.asked

    def on_answer(self, question: int, now: float) -> bool:
        """The trader answered `question` with nothing missing before it (see the module
        docstring): the venue ACKs that arrived before it was asked, still unreported, are
        misuse now. An answer to any other question (an old one, a repeat) proves nothing."""
        if question != self.asked or self.answered:
            return False
        self.answered = True
        found = self.orders.answered(self.asked_at)
        if not found:
            return False
        self.found_by_answer += len(found)
        self._count(found)
        return self.evaluate(now)

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
        self._count(past)
        before, before_due = self.decision, self.due
        self.due = orders.overheard_due()
        count = self.found + orders.unnamed
        if count != self.count:
            self.count = count
            self.decision = self._decide(count)
        return self.decision is not before or self.due != before_due

    def _count(self, found: list[str]) -> None:
        self.found += len(found)
        self.misused += found[: MAX_NAMED - len(self.misused)]

    def _decide(self, count: int) -> Decision:
        words = [name_ids(self.misused, self.found)] if self.misused else []
        if self.orders.unnamed:
            words.append(f"{self.orders.unnamed} without a client order id")
        how = []
        if self.found_by_answer:
            how.append(
                f"{self.found_by_answer} settled by the trader's answer to the watchdog's "
                "question after the ACK, with no report of them and nothing missing before it"
            )
        if self.found > self.found_by_answer:
            how.append(
                f"heard {self.window:g} s or more after each ACK, it reported none of them "
                f"within {self.window:g} s"
            )
        reason = (
            f"key misuse: the venue acknowledged {count} order(s) the trader never reported "
            f"({'; '.join(how) or 'no client order id to match'}): {', '.join(words)}"
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
        self.found_by_answer = 0
        self.answered = True  # a question still out was about the orders the kill swept
        self.last_unreported = -INF
        self.count = 0
        self.decision = None
        self.evaluate(now)
