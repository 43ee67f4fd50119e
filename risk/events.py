"""Facts fed to the engine. Every event carries `ts`, wall seconds since the epoch.

`source` says who reported the fact: the trader's own telemetry or the watchdog's independent
view of the venue. Rules measure both and act on the worse; the divergence rule compares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

MAX_ORDER_ID = 64  # characters: venues allow 32-36, room to spare, bounded all the same


class EventSource(IntEnum):
    """Who reported a fact. Integer values index per-source state in the rules."""

    TELEMETRY = 0
    VENUE = 1


class OrderEventKind(StrEnum):
    SUBMIT = "SUBMIT"  # the trader sent a new order
    ACK = "ACK"  # the venue accepted it
    REJECT = "REJECT"  # the venue refused it
    FILL = "FILL"  # a (partial) fill; `realized_pnl` set when it closed exposure
    CANCEL = "CANCEL"  # the order left the book without a fill


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The trader is alive. The engine times liveness by arrival (`now`), not by `ts`.

    `answers`: the key-misuse question this heartbeat answers (0: none); the ingress passes it
    on only when no datagram before it is missing (see `KeyMisuseRule.on_answer`)."""

    ts: float
    answers: int = 0


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Marked account equity (including unrealized PnL) in quote currency."""

    ts: float
    equity: float
    realized_pnl: float
    unrealized_pnl: float
    source: EventSource = EventSource.TELEMETRY


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """The whole position in one symbol: signed quantity (short < 0) and its mark price."""

    ts: float
    symbol: str
    qty: float
    mark_price: float
    source: EventSource = EventSource.TELEMETRY


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One step in an order's life. `qty` is unsigned; `side` gives the direction.

    `order_id` is the client order id both sides know the order by ("" when the reporter has
    none): the divergence rule matches the trader's and the venue's events of one order by it.
    """

    ts: float
    kind: OrderEventKind
    symbol: str
    side: Side
    qty: float
    price: float
    reason: str = ""
    realized_pnl: float | None = None
    source: EventSource = EventSource.TELEMETRY
    order_id: str = ""


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """Market data for `symbol` was last received at `last_event_ts` (wall seconds)."""

    ts: float
    symbol: str
    last_event_ts: float


@dataclass(frozen=True, slots=True)
class OpenOrdersSnapshot:
    """How many orders are open on the venue, all symbols together, as `source` sees it."""

    ts: float
    count: int
    source: EventSource = EventSource.TELEMETRY


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """The best bid and ask for `symbol`: the mid per-order rules judge prices against.

    The watchdog's comes from the venue's own market stream (`source` VENUE), never from the
    trader: a price collar measured against the trader's own view would move with its bug."""

    ts: float
    symbol: str
    bid: float
    ask: float
    source: EventSource = EventSource.VENUE


# The trader's facts (and the venue's of the same kinds), then what only the venue tells.
_Reported = Heartbeat | AccountSnapshot | PositionSnapshot | OrderEvent | FeedStatus
RiskEvent = _Reported | OpenOrdersSnapshot | MarketEvent
