"""Bad data fails safe: an invalid fact is never applied; it HALTs, naming the field.

NaN, infinity, implausible magnitudes, negative prices/equity/quantities, wrong types, and
timestamps beyond `max_future_s` ahead of or `max_past_s` behind `now` are bad. The halt for
one kind of fact (event type, source, symbol) clears once a good fact of the same kind
arrives, after the cool-down: transient.
"""

from __future__ import annotations

import math

from risk.decision import Decision
from risk.events import (
    MAX_ORDER_ID,
    AccountSnapshot,
    EventSource,
    FeedStatus,
    Heartbeat,
    MarketEvent,
    OpenOrdersSnapshot,
    OrderEvent,
    OrderEventKind,
    PositionSnapshot,
    Side,
)
from risk.limits import BadDataLimits
from risk.rules._common import INF, Cooldown, Recovery
from risk.state import TradingState

BIG = 1e15  # no price, quantity or equity is this large: beyond it a number is garbage


def _number(value: object, field: str, *, signed: bool = False) -> str | None:
    """Why `value` is not a usable number, or None when it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{field} has the wrong type {type(value).__name__}"
    if not math.isfinite(value):
        return f"{field} is {value}"
    if abs(value) > BIG:
        return f"{field} is implausibly large ({value:g})"
    if not signed and value < 0:
        return f"{field} is negative ({value:g})"
    return None


def _first(*reasons: str | None) -> str | None:
    return next((r for r in reasons if r is not None), None)


def diagnose_time(ts: object, field: str, now: float, limits: BadDataLimits) -> str | None:
    problem = _number(ts, field)
    if problem is not None:
        return problem
    assert isinstance(ts, int | float)
    if ts > now + limits.max_future_s:
        return f"{field} is {ts - now:.3f} s in the future (max {limits.max_future_s:g} s)"
    if ts < now - limits.max_past_s:
        return f"{field} is {now - ts:.3f} s in the past (max {limits.max_past_s:g} s)"
    return None


def _symbol(value: object, field: str) -> str | None:
    if not isinstance(value, str) or not value:
        return f"{field} must be a non-empty string"
    return None


def _source(value: object, field: str) -> str | None:
    return None if isinstance(value, EventSource) else f"{field} is not an EventSource"


def diagnose(event: object, now: float, limits: BadDataLimits) -> str | None:
    """Why `event` must not be applied, or None when every field is valid (the slow path)."""
    name = type(event).__name__
    if isinstance(event, Heartbeat):
        return diagnose_time(event.ts, f"{name}.ts", now, limits)
    if isinstance(event, AccountSnapshot):
        return _first(
            diagnose_time(event.ts, f"{name}.ts", now, limits),
            _number(event.equity, f"{name}.equity"),
            _number(event.realized_pnl, f"{name}.realized_pnl", signed=True),
            _number(event.unrealized_pnl, f"{name}.unrealized_pnl", signed=True),
            _source(event.source, f"{name}.source"),
        )
    if isinstance(event, PositionSnapshot):
        return _diagnose_position(event, now, limits)
    if isinstance(event, OrderEvent):
        return _diagnose_order(event, now, limits)
    if isinstance(event, FeedStatus):
        return _first(
            diagnose_time(event.ts, f"{name}.ts", now, limits),
            _symbol(event.symbol, f"{name}.symbol"),
            _number(event.last_event_ts, f"{name}.last_event_ts"),
            None
            if not isinstance(event.last_event_ts, int | float)
            or event.last_event_ts <= now + limits.max_future_s
            else f"{name}.last_event_ts is in the future",
        )
    if isinstance(event, OpenOrdersSnapshot):
        count = event.count
        return _first(
            diagnose_time(event.ts, f"{name}.ts", now, limits),
            None
            if isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= BIG
            else f"{name}.count must be a non-negative integer, got {count!r}",
            _source(event.source, f"{name}.source"),
        )
    if isinstance(event, MarketEvent):
        return _diagnose_market(event, now, limits)
    return f"unknown event type {name}"


def _diagnose_market(event: MarketEvent, now: float, limits: BadDataLimits) -> str | None:
    name = "MarketEvent"
    problem = _first(
        diagnose_time(event.ts, f"{name}.ts", now, limits),
        _symbol(event.symbol, f"{name}.symbol"),
        _number(event.bid, f"{name}.bid"),
        _number(event.ask, f"{name}.ask"),
        _source(event.source, f"{name}.source"),
    )
    if problem is None and (event.bid == 0 or event.ask == 0):
        return f"{name}.{'bid' if event.bid == 0 else 'ask'} is 0"
    if problem is None and event.ask < event.bid:
        return f"{name} is crossed: ask {event.ask:g} below bid {event.bid:g}"
    return problem


def _diagnose_position(event: PositionSnapshot, now: float, limits: BadDataLimits) -> str | None:
    name = "PositionSnapshot"
    problem = _first(
        diagnose_time(event.ts, f"{name}.ts", now, limits),
        _symbol(event.symbol, f"{name}.symbol"),
        _number(event.qty, f"{name}.qty", signed=True),
        _number(event.mark_price, f"{name}.mark_price"),
        _source(event.source, f"{name}.source"),
    )
    if problem is None and event.qty != 0 and event.mark_price == 0:
        return f"{name}.mark_price is 0 for an open position"
    return problem


def _diagnose_order(event: OrderEvent, now: float, limits: BadDataLimits) -> str | None:
    name = "OrderEvent"
    pnl = event.realized_pnl
    return _first(
        diagnose_time(event.ts, f"{name}.ts", now, limits),
        None if isinstance(event.kind, OrderEventKind) else f"{name}.kind is not an OrderEventKind",
        None if isinstance(event.side, Side) else f"{name}.side is not a Side",
        _symbol(event.symbol, f"{name}.symbol"),
        _number(event.qty, f"{name}.qty"),
        _number(event.price, f"{name}.price"),
        None if pnl is None else _number(pnl, f"{name}.realized_pnl", signed=True),
        _source(event.source, f"{name}.source"),
        _order_id(event.order_id, f"{name}.order_id"),
    )


def _order_id(value: object, field: str) -> str | None:
    if isinstance(value, str) and len(value) <= MAX_ORDER_ID:
        return None
    return f"{field} must be a string of at most {MAX_ORDER_ID} characters"


def fact_key(event: object) -> str:
    """Which kind of fact an event is: a good fact clears a bad one of the same kind."""
    parts = [type(event).__name__]
    source = getattr(event, "source", None)
    if isinstance(source, EventSource):
        parts.append(source.name)
    symbol = getattr(event, "symbol", None)
    if isinstance(event, PositionSnapshot | FeedStatus | MarketEvent) and isinstance(symbol, str):
        parts.append(symbol)
    return "/".join(parts)


class BadDataRule:
    name = "bad_data"
    recovery = Recovery.TRANSIENT

    def __init__(self, limits: BadDataLimits) -> None:
        self.limits = limits
        self.bad: dict[str, Decision] = {}
        self.cooldown = Cooldown(limits.cooldown_s)
        self.decision: Decision | None = None
        self.due = INF

    def on_bad(self, key: str, reason: str, now: float) -> bool:
        self.bad[key] = Decision(TradingState.HALTED, self.name, 1.0, 0.0, f"bad data: {reason}")
        return self.evaluate(now)

    def on_good(self, key: str, now: float) -> bool:
        """A valid fact of kind `key` arrived (only called while some fact is bad or held)."""
        if self.bad.pop(key, None) is None and self.cooldown.held is None:
            return False
        return self.evaluate(now)

    def evaluate(self, now: float) -> bool:
        raw = next(reversed(self.bad.values()), None)  # the latest bad fact names the field
        before, before_due = self.decision, self.due
        self.decision = self.cooldown.settle(raw, now)
        self.due = self.cooldown.release_at
        return self.decision is not before or self.due < before_due

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        return float(len(self.bad))

    def on_rearm(self, now: float) -> None:
        del now
