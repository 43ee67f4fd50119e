"""The limits model: frozen values parsed strictly from TOML, plus the built-in profiles.

A limits file may start from a built-in profile (`profile = "standard"`) and override values
table by table. Inside a table each key replaces the profile's value whole (an amount table
like `{ pct = 3 }` is one value). Unknown keys, wrong types, negative limits and percentages
outside (0, 100] are errors, so a typo can never silently disable a limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from datetime import time as dtime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from risk.errors import LimitsError
from risk.state import TradingState
from risk.tomltable import Table, loads, wrong_type


@dataclass(frozen=True, slots=True)
class Amount:
    """A quote-currency amount, given absolutely or as a percent of a base (day-start equity)."""

    quote: float | None = None
    pct: float | None = None

    def resolve(self, base: float | None) -> float | None:
        """The amount in quote currency; None when it is a percent and the base is unknown."""
        if self.quote is not None:
            return self.quote
        if base is None or self.pct is None:
            return None
        return base * self.pct / 100.0

    def describe(self) -> str:
        return f"{self.quote:g} quote" if self.quote is not None else f"{self.pct:g}%"


@dataclass(frozen=True, slots=True)
class BadDataLimits:
    """How far an event's `ts` may sit ahead of or behind `now` before it counts as bad data,
    and how long a bad-data halt holds once good data of the same kind arrives again."""

    max_future_s: float
    max_past_s: float
    cooldown_s: float


@dataclass(frozen=True, slots=True)
class DailyLossLimits:
    """Loss of marked equity since the day start. Sticky until the daily reset."""

    max_loss: Amount  # pct of day-start equity, or quote
    reset_time: dtime
    timezone: str
    tz: tzinfo
    action: TradingState  # HALTED (sticky until reset) or KILLED (latched)


@dataclass(frozen=True, slots=True)
class DrawdownLimits:
    """Drop of marked equity from its high-water mark; pct here is of the high-water mark."""

    soft: Amount  # -> REDUCING (transient)
    hard: Amount  # -> KILLED (latched)
    cooldown_s: float


@dataclass(frozen=True, slots=True)
class RateWindow:
    seconds: float
    max_orders: int


@dataclass(frozen=True, slots=True)
class OrderRateLimits:
    """New orders per sliding window; over any -> HALTED, over for `kill_after_s` -> KILLED."""

    windows: tuple[RateWindow, ...]
    kill_after_s: float
    cooldown_s: float


@dataclass(frozen=True, slots=True)
class RejectLimits:
    """Over either limit -> HALTED; held continuously for `kill_after_s` -> KILLED (None:
    never)."""

    max_consecutive: int
    max_ratio_pct: float
    window_s: float
    min_sample: int
    cooldown_s: float
    kill_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class SymbolLimit:
    symbol: str
    max_qty: float | None
    max_notional: Amount | None


@dataclass(frozen=True, slots=True)
class PositionLimits:
    """Position size in notional (|qty| x mark); breach -> REDUCING (reduce-only)."""

    max_symbol_notional: Amount
    max_gross_notional: Amount
    max_net_notional: Amount
    symbols: tuple[SymbolLimit, ...]
    cooldown_s: float


@dataclass(frozen=True, slots=True)
class ConsecutiveLossLimits:
    max_count: int
    pause_s: float


@dataclass(frozen=True, slots=True)
class StaleDataLimits:
    """Older than `max_age_s` -> HALTED; for `kill_after_s` beyond that -> KILLED (None:
    never)."""

    max_age_s: float
    cooldown_s: float
    kill_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class HeartbeatLimits:
    """Seconds since the last heartbeat at which each escalation is due."""

    interval_s: float
    warn_after_s: float
    halt_after_s: float
    kill_after_s: float
    cooldown_s: float


@dataclass(frozen=True, slots=True)
class DivergenceLimits:
    """Tolerated gaps between the trader's telemetry and the venue's own view."""

    open_orders: int
    position_qty: float
    order_count: int
    grace_s: float
    grade: TradingState
    reorder_s: float  # how long a difference is data in flight, not yet a divergence


@dataclass(frozen=True, slots=True)
class KeyMisuseLimits:
    """A venue ACK of an order the trader never reported (no SUBMIT or ACK with its client
    order id before it, nor by `reorder_s` after the trader is heard from `reorder_s` after
    it) is key misuse: KILLED. Off only when written so. With `ask_trader`, the watchdog asks
    the trader's client at once, and an answer with nothing missing before it settles the
    order without waiting for `reorder_s` (for a bot that reports each SUBMIT before sending
    its order, as the client's adapters do)."""

    enabled: bool
    reorder_s: float
    ask_trader: bool


@dataclass(frozen=True, slots=True)
class OrderSizeLimits:
    """Each order's quantity and notional, as the trader submits it and as the venue
    acknowledges it: over a limit -> HALTED, at `kill_multiple` times it -> KILLED."""

    max_notional: Amount  # the default per order; a symbol's own limits replace it
    symbols: tuple[SymbolLimit, ...]
    kill_multiple: float
    cooldown_s: float


@dataclass(frozen=True, slots=True)
class PriceCollarLimits:
    """Each priced order against the venue's own mid: further than `collar_pct` from it ->
    HALTED, at `kill_multiple` times the collar -> KILLED. With no mid fresher than
    `max_mid_age_s` the collar cannot judge: ACTIVE (counted), or HALTED with `require_mid`."""

    collar_pct: float
    max_mid_age_s: float
    require_mid: bool
    kill_multiple: float
    cooldown_s: float


@dataclass(frozen=True, slots=True)
class OpenOrderLimits:
    """Open orders in one symbol, in the trader's book or the venue's: over `max_per_symbol`
    -> HALTED, at `kill_multiple` times it -> KILLED; transient."""

    max_per_symbol: int
    kill_multiple: float
    cooldown_s: float


@dataclass(frozen=True, slots=True)
class Limits:
    profile: str | None
    warn_at_pct: float
    bad_data: BadDataLimits
    daily_loss: DailyLossLimits
    drawdown: DrawdownLimits
    order_rate: OrderRateLimits
    rejects: RejectLimits
    position: PositionLimits
    consecutive_losses: ConsecutiveLossLimits
    stale_data: StaleDataLimits
    heartbeat: HeartbeatLimits
    divergence: DivergenceLimits
    key_misuse: KeyMisuseLimits
    order_size: OrderSizeLimits
    price_collar: PriceCollarLimits
    open_orders: OpenOrderLimits


# --- the built-in profiles, as raw tables so that a file's overrides merge uniformly ---------


def _profile(
    *,
    daily: float,
    dd: tuple[float, float],
    rate: tuple[int, int],
    rejects: tuple[int, float],
    position: tuple[float, float, float],
    order_pct: float,
    collar_pct: float,
    open_orders: int,
    losses: int,
    stale_s: float,
) -> dict[str, Any]:
    return {
        "warn_at_pct": 80,
        "bad_data": {"max_future_s": 2.0, "max_past_s": 120.0, "cooldown_s": 5.0},
        "daily_loss": {
            "max_loss": {"pct": daily},
            "reset_time": "00:00",
            "timezone": "UTC",
            "action": "killed",
        },
        "drawdown": {"soft": {"pct": dd[0]}, "hard": {"pct": dd[1]}, "cooldown_s": 300.0},
        "order_rate": {
            "windows": [
                {"seconds": 1.0, "max_orders": rate[0]},
                {"seconds": 60.0, "max_orders": rate[1]},
            ],
            "kill_after_s": 10.0,
            "cooldown_s": 30.0,
        },
        "rejects": {
            "max_consecutive": rejects[0],
            "max_ratio_pct": rejects[1],
            "window_s": 60.0,
            "min_sample": 20,
            "cooldown_s": 60.0,
        },
        "position": {
            "max_symbol_notional": {"pct": position[0]},
            "max_gross_notional": {"pct": position[1]},
            "max_net_notional": {"pct": position[2]},
            "symbols": {},
            "cooldown_s": 30.0,
        },
        "consecutive_losses": {"max_count": losses, "pause_s": 300.0},
        "stale_data": {"max_age_s": stale_s, "cooldown_s": 5.0},
        "heartbeat": {
            "interval_s": 1.0,
            "warn_after_s": 3.0,
            "halt_after_s": 5.0,
            "kill_after_s": 15.0,
            "cooldown_s": 5.0,
        },
        "divergence": {
            "open_orders": 0,
            "position_qty": 0.0,
            "order_count": 0,
            "grace_s": 10.0,
            "grade": "halted",
            "reorder_s": 2.0,
        },
        "key_misuse": {"enabled": True, "reorder_s": 0.25, "ask_trader": True},
        "order_size": {
            "max_notional": {"pct": order_pct},
            "symbols": {},
            "kill_multiple": 2.0,
            "cooldown_s": 30.0,
        },
        "price_collar": {
            "collar_pct": collar_pct,
            "max_mid_age_s": stale_s,
            "require_mid": False,
            "kill_multiple": 2.0,
            "cooldown_s": 30.0,
        },
        "open_orders": {"max_per_symbol": open_orders, "kill_multiple": 2.0, "cooldown_s": 30.0},
    }


_RAW_PROFILES: Mapping[str, dict[str, Any]] = MappingProxyType(
    {
        "conservative": _profile(
            daily=1,
            dd=(5, 8),
            rate=(10, 300),
            rejects=(5, 20),
            position=(5, 15, 10),
            order_pct=2,
            collar_pct=2,
            open_orders=20,
            losses=3,
            stale_s=5,
        ),
        "standard": _profile(
            daily=3,
            dd=(10, 15),
            rate=(50, 1500),
            rejects=(10, 30),
            position=(15, 45, 30),
            order_pct=5,
            collar_pct=5,
            open_orders=50,
            losses=7,
            stale_s=5,
        ),
        "aggressive": _profile(
            daily=5,
            dd=(20, 30),
            rate=(200, 6000),
            rejects=(20, 50),
            position=(30, 90, 60),
            order_pct=10,
            collar_pct=10,
            open_orders=200,
            losses=15,
            stale_s=10,
        ),
    }
)

# --- strict reading ------------------------------------------------------------------------

_MAX_COUNT = 2**53  # beyond, a float cannot hold every integer: no limit needs more
_RESET_TIME = re.compile(r"([0-9]{2}):([0-9]{2})")
_GRADES = {
    "warn": TradingState.WARN,
    "reducing": TradingState.REDUCING,
    "halted": TradingState.HALTED,
    "killed": TradingState.KILLED,
}


def _sub(parent: Table, key: str, known: frozenset[str]) -> Table:
    """A required sub-table whose keys must all be ``known``."""
    table = parent.table(key, required=True)
    table.reject_unknown(known)
    return table


def _amount(parent: Table, key: str) -> Amount:
    table = _sub(parent, key, frozenset({"quote", "pct"}))
    if len(table.data) != 1:
        raise parent.fail(key, "give exactly one of { quote = <amount> } or { pct = <0-100> }")
    if table.has("quote"):
        return Amount(quote=table.number("quote"))
    return Amount(pct=_pct(table, "pct"))


def _pct(t: Table, key: str) -> float:
    return t.number(key, high=100)


def _count(t: Table, key: str, *, allow_zero: bool = False) -> int:
    return t.integer(key, low=0 if allow_zero else 1, high=_MAX_COUNT)


def _zero_or_more(t: Table, key: str) -> float:
    return t.number(key, low=0.0, low_open=False)


def _keys(*names: str) -> frozenset[str]:
    return frozenset(names)


def _bad_data(t: Table) -> BadDataLimits:
    return BadDataLimits(
        max_future_s=_zero_or_more(t, "max_future_s"),
        max_past_s=t.number("max_past_s"),
        cooldown_s=_zero_or_more(t, "cooldown_s"),
    )


def _reset_time(t: Table) -> dtime:
    value = t.value("reset_time")
    if isinstance(value, dtime) and value.tzinfo is None:
        return value.replace(microsecond=0)
    if not isinstance(value, str):
        raise t.fail("reset_time", wrong_type('a time "HH:MM"', value))
    match = _RESET_TIME.fullmatch(value)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise t.fail("reset_time", f'expected "HH:MM" (00:00 to 23:59), got {value!r}')
    return dtime(int(match[1]), int(match[2]))


def resolve_timezone(name: str) -> tzinfo | None:
    """The named IANA time zone, or None when it does not exist."""
    if name == "UTC":
        return UTC  # needs no tz database, so UTC works on any machine
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _daily_loss(t: Table) -> DailyLossLimits:
    name = t.text("timezone")
    zone = resolve_timezone(name)
    if zone is None:
        raise t.fail("timezone", f"unknown time zone {name!r} (use an IANA name like 'UTC')")
    action = t.choice("action", ("halted", "killed"))
    return DailyLossLimits(
        max_loss=_amount(t, "max_loss"),
        reset_time=_reset_time(t),
        timezone=name,
        tz=zone,
        action=_GRADES[action],
    )


def _drawdown(t: Table) -> DrawdownLimits:
    soft, hard = _amount(t, "soft"), _amount(t, "hard")
    if soft.quote is not None and hard.quote is not None and soft.quote >= hard.quote:
        raise t.fail("soft", f"must be below hard ({hard.describe()}), got {soft.describe()}")
    if soft.pct is not None and hard.pct is not None and soft.pct >= hard.pct:
        raise t.fail("soft", f"must be below hard ({hard.describe()}), got {soft.describe()}")
    return DrawdownLimits(soft=soft, hard=hard, cooldown_s=_zero_or_more(t, "cooldown_s"))


def _order_rate(t: Table) -> OrderRateLimits:
    tables = t.tables("windows", required=True)
    if not tables:
        raise t.fail("windows", "must list at least one window")
    windows = []
    for w in tables:
        w.reject_unknown(("seconds", "max_orders"))
        windows.append(RateWindow(seconds=w.number("seconds"), max_orders=_count(w, "max_orders")))
    return OrderRateLimits(
        windows=tuple(windows),
        kill_after_s=_zero_or_more(t, "kill_after_s"),
        cooldown_s=_zero_or_more(t, "cooldown_s"),
    )


def _rejects(t: Table) -> RejectLimits:
    return RejectLimits(
        max_consecutive=_count(t, "max_consecutive"),
        max_ratio_pct=_pct(t, "max_ratio_pct"),
        window_s=t.number("window_s"),
        min_sample=_count(t, "min_sample"),
        cooldown_s=_zero_or_more(t, "cooldown_s"),
        kill_after_s=t.optional_number("kill_after_s"),
    )


def _symbol_limit(parent: Table, symbol: str) -> SymbolLimit:
    t = _sub(parent, symbol, _keys("max_qty", "max_notional"))
    if not symbol or not t.data:
        raise parent.fail(symbol, "a symbol table needs max_qty and/or max_notional")
    return SymbolLimit(
        symbol=symbol,
        max_qty=t.number("max_qty") if "max_qty" in t.data else None,
        max_notional=_amount(t, "max_notional") if "max_notional" in t.data else None,
    )


def _symbols(t: Table) -> tuple[SymbolLimit, ...]:
    symbols = t.table("symbols", required=True)
    return tuple(_symbol_limit(symbols, name) for name in symbols.data)


def _position(t: Table) -> PositionLimits:
    return PositionLimits(
        max_symbol_notional=_amount(t, "max_symbol_notional"),
        max_gross_notional=_amount(t, "max_gross_notional"),
        max_net_notional=_amount(t, "max_net_notional"),
        symbols=_symbols(t),
        cooldown_s=_zero_or_more(t, "cooldown_s"),
    )


def _heartbeat(t: Table) -> HeartbeatLimits:
    limits = HeartbeatLimits(
        interval_s=t.number("interval_s"),
        warn_after_s=t.number("warn_after_s"),
        halt_after_s=t.number("halt_after_s"),
        kill_after_s=t.number("kill_after_s"),
        cooldown_s=_zero_or_more(t, "cooldown_s"),
    )
    if not limits.interval_s < limits.warn_after_s < limits.halt_after_s < limits.kill_after_s:
        raise t.fail("", "need interval_s < warn_after_s < halt_after_s < kill_after_s")
    return limits


def _divergence(t: Table) -> DivergenceLimits:
    grade = t.choice("grade", tuple(_GRADES))
    return DivergenceLimits(
        open_orders=_count(t, "open_orders", allow_zero=True),
        position_qty=_zero_or_more(t, "position_qty"),
        order_count=_count(t, "order_count", allow_zero=True),
        grace_s=_zero_or_more(t, "grace_s"),
        grade=_GRADES[grade],
        reorder_s=_zero_or_more(t, "reorder_s"),
    )


def _key_misuse(t: Table) -> KeyMisuseLimits:
    return KeyMisuseLimits(
        enabled=t.boolean("enabled"),
        reorder_s=_zero_or_more(t, "reorder_s"),
        ask_trader=t.boolean("ask_trader"),
    )


def _order_size(t: Table) -> OrderSizeLimits:
    return OrderSizeLimits(
        max_notional=_amount(t, "max_notional"),
        symbols=_symbols(t),
        kill_multiple=_kill_multiple(t),
        cooldown_s=_zero_or_more(t, "cooldown_s"),
    )


def _kill_multiple(t: Table) -> float:
    return t.number("kill_multiple", low=1.0, low_open=False)


def _price_collar(t: Table) -> PriceCollarLimits:
    return PriceCollarLimits(
        collar_pct=_pct(t, "collar_pct"),
        max_mid_age_s=t.number("max_mid_age_s"),
        require_mid=t.boolean("require_mid"),
        kill_multiple=_kill_multiple(t),
        cooldown_s=_zero_or_more(t, "cooldown_s"),
    )


def _open_orders(t: Table) -> OpenOrderLimits:
    return OpenOrderLimits(
        max_per_symbol=_count(t, "max_per_symbol"),
        kill_multiple=_kill_multiple(t),
        cooldown_s=_zero_or_more(t, "cooldown_s"),
    )


_SECTION_KEYS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "bad_data": _keys("max_future_s", "max_past_s", "cooldown_s"),
        "daily_loss": _keys("max_loss", "reset_time", "timezone", "action"),
        "drawdown": _keys("soft", "hard", "cooldown_s"),
        "order_rate": _keys("windows", "kill_after_s", "cooldown_s"),
        "rejects": _keys(
            "max_consecutive",
            "max_ratio_pct",
            "window_s",
            "min_sample",
            "cooldown_s",
            "kill_after_s",
        ),
        "position": _keys(
            "max_symbol_notional",
            "max_gross_notional",
            "max_net_notional",
            "symbols",
            "cooldown_s",
        ),
        "consecutive_losses": _keys("max_count", "pause_s"),
        "stale_data": _keys("max_age_s", "cooldown_s", "kill_after_s"),
        "heartbeat": _keys(
            "interval_s", "warn_after_s", "halt_after_s", "kill_after_s", "cooldown_s"
        ),
        "divergence": _keys(
            "open_orders", "position_qty", "order_count", "grace_s", "grade", "reorder_s"
        ),
        "key_misuse": _keys("enabled", "reorder_s", "ask_trader"),
        "order_size": _keys("max_notional", "symbols", "kill_multiple", "cooldown_s"),
        "price_collar": _keys(
            "collar_pct", "max_mid_age_s", "require_mid", "kill_multiple", "cooldown_s"
        ),
        "open_orders": _keys("max_per_symbol", "kill_multiple", "cooldown_s"),
    }
)
_TOP_KEYS = frozenset({"profile", "warn_at_pct", *_SECTION_KEYS})


def _consecutive(t: Table) -> ConsecutiveLossLimits:
    return ConsecutiveLossLimits(
        max_count=_count(t, "max_count"), pause_s=_zero_or_more(t, "pause_s")
    )


def _stale(t: Table) -> StaleDataLimits:
    return StaleDataLimits(
        max_age_s=t.number("max_age_s"),
        cooldown_s=_zero_or_more(t, "cooldown_s"),
        kill_after_s=t.optional_number("kill_after_s"),
    )


def _build(top: Table) -> Limits:
    def section(name: str) -> Table:
        return _sub(top, name, _SECTION_KEYS[name])

    profile = top.data.get("profile")
    return Limits(
        profile=profile if isinstance(profile, str) else None,
        warn_at_pct=_pct(top, "warn_at_pct"),
        bad_data=_bad_data(section("bad_data")),
        daily_loss=_daily_loss(section("daily_loss")),
        drawdown=_drawdown(section("drawdown")),
        order_rate=_order_rate(section("order_rate")),
        rejects=_rejects(section("rejects")),
        position=_position(section("position")),
        consecutive_losses=_consecutive(section("consecutive_losses")),
        stale_data=_stale(section("stale_data")),
        heartbeat=_heartbeat(section("heartbeat")),
        divergence=_divergence(section("divergence")),
        key_misuse=_key_misuse(section("key_misuse")),
        order_size=_order_size(section("order_size")),
        price_collar=_price_collar(section("price_collar")),
        open_orders=_open_orders(section("open_orders")),
    )


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level tables merge key by key; every value inside a table replaces the base's."""
    merged = {key: dict(value) if isinstance(value, dict) else value for key, value in base.items()}
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def limits_from_mapping(data: Mapping[str, Any], source: str, path: str = "") -> Limits:
    """Validate an already-decoded limits document (same rules as `parse_limits`); ``path``
    names where it sits in ``source`` when it is a table inside a larger file."""
    top = Table(source, path, dict(data), LimitsError)
    top.reject_unknown(_TOP_KEYS)
    base: Mapping[str, Any] = {}
    if top.has("profile"):
        base = _RAW_PROFILES[top.choice("profile", tuple(_RAW_PROFILES))]
    return _build(Table(source, path, _merge(base, top.data), LimitsError))


def parse_limits(text: str, source: str) -> Limits:
    """Parse and validate a limits TOML document. `source` names it in error messages.

    Raises only `LimitsError`, whose message reads ``<source>: <key.path>: <reason>``.
    """
    return limits_from_mapping(loads(text, source, LimitsError), source)


PROFILES: Mapping[str, Limits] = MappingProxyType(
    {name: limits_from_mapping({"profile": name}, f"<profile {name}>") for name in _RAW_PROFILES}
)
