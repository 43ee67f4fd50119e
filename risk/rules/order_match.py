"""Orders by client order id, as the trader reported them and as the venue acknowledged them.

One structure feeds two rules. Divergence matches the two sides' ACKs one for one; key misuse
asks of each venue ACK whether the trader reported that order at all (a SUBMIT or an ACK with
its id). Both allow the same kind of reorder window: data in flight is neither.
"""

from __future__ import annotations

from bisect import bisect_left
from math import nextafter

from risk.rules._common import INF

_SIDES = ("trader", "venue")  # indexed by EventSource
_TRADER = 0
MAX_UNMATCHED = 10_000  # per side: beyond it the oldest is dropped and counted as unmatched
MAX_REPORTED = 10_000  # order ids the trader reported, kept to authorise a late venue ACK
_NAMED = 5  # order ids a reason names before "+N more"


# Upper edges (seconds) of the histogram of how late a report came after the venue's ACK.
LAG_EDGES_S = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, INF)


class ReportLead:
    """How much earlier each order's first report reached the watchdog than the venue's ACK of
    it (negative: the ACK came first): what `reorder_s` must cover, measured where it is
    judged. Orders reported first are counted with their closest call (the smallest lead);
    those the ACK beat are kept as a histogram of their lag (`LAG_EDGES_S`) and the worst one."""

    __slots__ = ("ack_first", "closest_s", "counts", "orders", "worst_s")

    def __init__(self) -> None:
        self.orders = 0  # venue ACKs matched with a report, either way round
        self.ack_first = 0  # of them, the ones the venue's ACK reached the watchdog first
        self.closest_s = INF  # the smallest lead of a report over its venue ACK
        self.worst_s = 0.0  # the largest lag of a report behind its venue ACK
        self.counts = [0] * len(LAG_EDGES_S)  # ACK-first lags, by upper edge

    def record(self, lead_s: float) -> None:
        self.orders += 1
        if lead_s >= 0.0:
            if lead_s < self.closest_s:
                self.closest_s = lead_s
            return
        lag = -lead_s
        self.ack_first += 1
        if lag > self.worst_s:
            self.worst_s = lag
        self.counts[bisect_left(LAG_EDGES_S, lag)] += 1

    def as_dict(self) -> dict[str, object]:
        """For a status report: the lags in ms, each bucket by its upper edge."""
        return {
            "orders": self.orders,
            "ack_first": self.ack_first,
            "report_first_min_ms": None
            if self.closest_s == INF
            else round(self.closest_s * 1000.0, 3),
            "ack_first_max_ms": round(self.worst_s * 1000.0, 3),
            "ack_first_lag_ms": [
                [None if edge == INF else edge * 1000.0, count]
                for edge, count in zip(LAG_EDGES_S, self.counts, strict=True)
            ],
        }


def name_ids(ids: list[str], total: int) -> str:
    """The first order ids of `total`, then how many more."""
    words = [", ".join(ids[:_NAMED])]
    if total > _NAMED:
        words.append(f"{total - _NAMED} more")
    return ", ".join(words)


class OrderMatch:
    """Orders by client order id: the ACK side and the report side.

    The ACK side (divergence): acknowledged orders seen by one side and not yet by the other.

    Anonymous events (no id) get a private integer key and match the other side's oldest
    entry; a named event that finds no entry of its id takes the other side's oldest anonymous
    one (a bot that sends no ids against a venue that always has them). An entry is in flight
    until it is `window` old, then unmatched. Both stay matchable.

    A restart (`started`, a reconnected venue stream) cannot compare what the trader reports
    in its first `window`: those acks may belong to orders whose venue event came while the
    stream was away. They are dropped unmatched, never counted. Orders only the venue shows
    are never excused: that is how someone else trading the key looks.

    The report side (key misuse): the ids the trader reported (the latest `MAX_REPORTED`),
    and the venue ACKs no report has matched yet, oldest first: first `unreported` (the
    trader has not been heard since the ACK was `window` old), then `overheard` (it has: the
    order is misuse unless its report arrives by the deadline kept with it).
    """

    __slots__ = (
        "_anonymous",
        "_excused_until",
        "_last_key",
        "dropped",
        "in_flight",
        "lead",
        "overheard",
        "reported",
        "seen",
        "unmatched",
        "unnamed",
        "unreported",
        "window",
    )

    def __init__(self, window: float, started: float = -INF) -> None:
        self.window = window
        self.restart(started)
        # The report side outlives a restart: a rogue order pending when the venue's stream
        # reconnects must still be judged.
        self.reported: dict[str, float] = {}  # ids the trader reported -> arrival, oldest first
        self.unreported: dict[str, float] = {}  # venue ACKs no report matched yet -> arrival
        # Venue ACKs still unreported when the trader was heard `window` after them -> (their
        # arrival, the instant their report is due: that hearing + `window`), oldest first.
        self.overheard: dict[str, tuple[float, float]] = {}
        self.lead = ReportLead()
        self.unnamed = 0  # venue ACKs without a client id: no report can ever match them

    def restart(self, started: float) -> None:
        """Compare acknowledged orders afresh from `started` (see the class docstring)."""
        self._excused_until = started + self.window
        self.in_flight: tuple[dict[object, float], ...] = ({}, {})  # key -> arrival, oldest first
        self.unmatched: tuple[dict[object, float], ...] = ({}, {})
        self.seen = [False, False]  # a side's entries count only once the other side reports
        self.dropped = [0, 0]  # unmatched entries evicted past MAX_UNMATCHED: still counted
        self._anonymous = [0, 0]  # anonymous entries held per side: no scan when there are none
        self._last_key = 0

    # --- the report side (key misuse) -------------------------------------------------------

    def on_report(self, order_id: str, now: float) -> bool:
        """The trader reported `order_id` (a SUBMIT or an ACK) at `now`: it authorises that
        order.

        True when it matched a venue ACK still waiting for its report. A report without an id
        authorises nothing: it cannot say which order it is.
        """
        if not order_id:
            return False
        reported = self.reported
        if order_id not in reported:
            reported[order_id] = now
            if len(reported) > MAX_REPORTED:
                del reported[next(iter(reported))]
        acked = self.unreported.pop(order_id, None)
        if acked is None:
            heard = self.overheard.pop(order_id, None)
            if heard is None:
                return False
            acked = heard[0]
        self.lead.record(acked - now)
        return True

    def on_venue_order(self, order_id: str, now: float) -> bool:
        """The venue acknowledged `order_id`; True when no report has authorised it (yet).

        An order without a client id cannot be matched: it is counted in `unnamed` at once."""
        reported = self.reported.get(order_id)
        if reported is not None:
            self.lead.record(now - reported)
            return False
        if order_id:
            self.unreported.setdefault(order_id, now)
        else:
            self.unnamed += 1
        return True

    def forget_unreported(self) -> None:
        self.unreported.clear()
        self.overheard.clear()
        self.unnamed = 0

    def hear(self, sent: float, now: float, window: float) -> bool:
        """The trader was heard at `now`, in a report it made at `sent`: each venue ACK at
        least `window` older than `sent` and still unreported gets until `now + window` for its
        report (the rest of that flush, or a datagram the link reordered, may be on its way).
        True when any did."""
        unreported = self.unreported
        if not unreported:
            return False
        heard = []
        for key, at in unreported.items():
            if sent < at + window:
                break
            heard.append(key)
        if not heard:
            return False
        deadline = now + window
        overheard = self.overheard
        for key in heard:
            overheard[key] = (unreported.pop(key), deadline)
        return True

    def answered(self, asked: float) -> list[str]:
        """The venue ACKs that arrived by `asked` and are still unreported, oldest first, now
        taken: the trader answered a question asked at `asked` with nothing missing before its
        answer, so no report of them is in flight (see `KeyMisuseRule.on_answer`)."""
        overheard = self.overheard
        found = [key for key, (at, _) in overheard.items() if at <= asked]
        for key in found:
            del overheard[key]
        unreported = self.unreported
        first = len(found)
        for key, at in unreported.items():
            if at > asked:
                break
            found.append(key)
        for key in found[first:]:
            del unreported[key]
        return found

    def overheard_past(self, now: float) -> list[str]:
        """Venue ACKs whose report deadline (see `hear`) is behind `now`."""
        past = []
        for key, (_, deadline) in self.overheard.items():
            if now <= deadline:
                break
            past.append(key)
        return past

    def overheard_due(self) -> float:
        """The first instant the oldest heard-over venue ACK is past its deadline; INF when
        none is (an order waiting for the trader to be heard is judged by no clock)."""
        for _, deadline in self.overheard.values():
            return nextafter(deadline, INF)
        return INF

    # --- the ACK side (divergence) ----------------------------------------------------------

    def on_ack(self, source: int, order_id: str, now: float) -> None:
        self.seen[source] = True
        other = 1 - source
        if order_id:
            for pending in (self.unmatched[other], self.in_flight[other]):
                if pending.pop(order_id, None) is not None:
                    return
        if self._match_oldest(other, anonymous_only=bool(order_id)):
            return
        key: object = order_id or self._new_anonymous(source)
        flight = self.in_flight[source]
        flight[key] = now
        if len(flight) + len(self.unmatched[source]) > MAX_UNMATCHED:
            oldest = self.unmatched[source] or flight
            self._remove(source, oldest, next(iter(oldest)))
            if self.seen[other]:  # else nothing compares this side yet: nothing is lost
                self.dropped[source] += 1

    def _match_oldest(self, side: int, *, anonymous_only: bool) -> bool:
        if anonymous_only and not self._anonymous[side]:
            return False
        for pending in (self.unmatched[side], self.in_flight[side]):
            for key in pending:
                if not anonymous_only or isinstance(key, int):
                    self._remove(side, pending, key)
                    return True
        return False

    def _new_anonymous(self, side: int) -> int:
        self._anonymous[side] += 1
        self._last_key += 1
        return self._last_key

    def _remove(self, side: int, pending: dict[object, float], key: object) -> None:
        del pending[key]
        if isinstance(key, int):
            self._anonymous[side] -= 1

    def expire(self, now: float) -> None:
        """Move entries older than the window, on sides whose counterpart reports, to unmatched."""
        for side in (0, 1):
            if not self.seen[1 - side]:
                continue
            flight, late = self.in_flight[side], self.unmatched[side]
            while flight:
                key, at = next(iter(flight.items()))
                if now - at < self.window:
                    break
                if side == _TRADER and at < self._excused_until:
                    self._remove(side, flight, key)  # acked across the restart: not comparable
                    continue
                del flight[key]
                late[key] = at

    def count(self) -> int:
        return len(self.unmatched[0]) + len(self.unmatched[1]) + sum(self.dropped)

    def next_due(self) -> float:
        """When the oldest entry now in flight leaves the window; INF when none will."""
        due = INF
        for side in (0, 1):
            flight = self.in_flight[side]
            if flight and self.seen[1 - side]:
                due = min(due, next(iter(flight.values())) + self.window)
        return due

    def describe(self) -> str:
        """The unmatched orders by side: the first ids, then how many more."""
        parts = []
        for side in (0, 1):
            ids = [k for k in self.unmatched[side] if isinstance(k, str)]
            words = [name_ids(ids, len(ids))] if ids else []
            counts = (
                (len(self.unmatched[side]) - len(ids), "without id"),
                (self.dropped[side], f"dropped past {MAX_UNMATCHED}"),
            )
            words += [f"{n} {what}" for n, what in counts if n > 0]
            if words:
                parts.append(f"{_SIDES[side]} only: {', '.join(words)}")
        return "; ".join(parts)
