"""The limits model: frozen values parsed strictly from TOML, plus the built-in profiles.

A limits file may start from a built-in profile (`profile = "standard"`) and override values
table by table. Inside a table each key replaces the profile's value whole (an amount table
like `{ pct = 3 }` is one value). Unknown keys, wrong types, negative limits and percentages
outside (0, 100] are errors, so a typo can never silently disable a limit.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from datetime import time as dtime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from risk.errors import LimitsError
from risk.state import TradingState


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


# --- the built-in profiles, as raw tables so that a file's overrides merge uniformly ---------


def _profile(
    *,
    daily: float,
    dd: tuple[float, float],
    rate: tuple[int, int],
    rejects: tuple[int, float],
    position: tuple[float, float, float],
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
    }


_RAW_PROFILES: Mapping[str, dict[str, Any]] = MappingProxyType(
    {
        "conservative": _profile(
            daily=1,
            dd=(5, 8),
            rate=(10, 300),
            rejects=(5, 20),
            position=(5, 15, 10),
            losses=3,
            stale_s=5,
        ),
        "standard": _profile(
            daily=3,
            dd=(10, 15),
            rate=(50, 1500),
            rejects=(10, 30),
            position=(15, 45, 30),
            losses=7,
            stale_s=5,
        ),
        "aggressive": _profile(
            daily=5,
            dd=(20, 30),
            rate=(200, 6000),
            rejects=(20, 50),
            position=(30, 90, 60),
            losses=15,
            stale_s=10,
        ),
    }
)

# --- strict reading ------------------------------------------------------------------------

_RESET_TIME = re.compile(r"([0-9]{2}):([0-9]{2})")
_GRADES = {
    "warn": TradingState.WARN,
    "reducing": TradingState.REDUCING,
    "halted": TradingState.HALTED,
    "killed": TradingState.KILLED,
}


_KINDS = {bool: "boolean", str: "string", int: "integer", float: "float"}


def _describe(value: object) -> str:
    """How a wrong value reads in an error: its TOML kind, and the value if it is short."""
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list):
        return "array"
    kind = _KINDS.get(type(value))
    if kind is None:
        return type(value).__name__
    return f"{kind} {repr(value)[:40]}"


class _Table:
    """One TOML table being read: every key must be known, and every read names its path."""

    def __init__(self, source: str, path: str, raw: object, known: frozenset[str]) -> None:
        self.source = source
        self.path = path
        if not isinstance(raw, dict):
            raise self.error("", f"expected a table, got {_describe(raw)}")
        self.raw: dict[str, Any] = raw
        for key in raw:
            if key not in known:
                expected = ", ".join(sorted(known))
                raise self.error(key, f"unknown key (expected one of: {expected})")

    def where(self, key: str) -> str:
        if not key:
            return self.path or "<top>"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, reason: str) -> LimitsError:
        return LimitsError(f"{self.source}: {self.where(key)}: {reason}")

    def get(self, key: str) -> object:
        if key not in self.raw:
            raise self.error(key, "missing required value")
        return self.raw[key]

    def number(self, key: str, *, allow_zero: bool = False) -> float:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {_describe(value)}")
        try:
            result = float(value)
        except OverflowError:
            raise self.error(key, "number too large") from None
        if not math.isfinite(result):
            raise self.error(key, f"expected a finite number, got {value!r}")
        if result < 0 or (result == 0 and not allow_zero):
            bound = "zero or more" if allow_zero else "more than zero"
            raise self.error(key, f"must be {bound}, got {value!r}")
        return result

    def optional_number(self, key: str) -> float | None:
        """A positive number, or None when the key is absent (the feature is off)."""
        return self.number(key) if key in self.raw else None

    def count(self, key: str, *, allow_zero: bool = False) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {_describe(value)}")
        if value < 0 or (value == 0 and not allow_zero):
            bound = "zero or more" if allow_zero else "at least 1"
            raise self.error(key, f"must be {bound}, got {value}")
        if value > 2**53:
            raise self.error(key, "integer too large")
        return value

    def pct(self, key: str) -> float:
        value = self.number(key)
        if value > 100:
            raise self.error(key, f"a percentage must be in (0, 100], got {value:g}")
        return value

    def string(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_describe(value)}")
        return value

    def sub(self, key: str, known: frozenset[str]) -> _Table:
        return _Table(self.source, self.where(key), self.get(key), known)

    def amount(self, key: str) -> Amount:
        table = self.sub(key, frozenset({"quote", "pct"}))
        if len(table.raw) != 1:
            raise self.error(key, "give exactly one of { quote = <amount> } or { pct = <0-100> }")
        if "quote" in table.raw:
            return Amount(quote=table.number("quote"))
        return Amount(pct=table.pct("pct"))


def _keys(*names: str) -> frozenset[str]:
    return frozenset(names)


def _bad_data(t: _Table) -> BadDataLimits:
    return BadDataLimits(
        max_future_s=t.number("max_future_s", allow_zero=True),
        max_past_s=t.number("max_past_s"),
        cooldown_s=t.number("cooldown_s", allow_zero=True),
    )


def _reset_time(t: _Table) -> dtime:
    value = t.get("reset_time")
    if isinstance(value, dtime) and value.tzinfo is None:
        return value.replace(microsecond=0)
    if not isinstance(value, str):
        raise t.error("reset_time", f'expected "HH:MM", got {_describe(value)}')
    match = _RESET_TIME.fullmatch(value)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise t.error("reset_time", f'expected "HH:MM" (00:00 to 23:59), got {value!r}')
    return dtime(int(match[1]), int(match[2]))


def resolve_timezone(name: str) -> tzinfo | None:
    """The named IANA time zone, or None when it does not exist."""
    if name == "UTC":
        return UTC  # needs no tz database, so UTC works on any machine
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _daily_loss(t: _Table) -> DailyLossLimits:
    name = t.string("timezone")
    zone = resolve_timezone(name)
    if zone is None:
        raise t.error("timezone", f"unknown time zone {name!r} (use an IANA name like 'UTC')")
    action = t.string("action")
    if action not in ("halted", "killed"):
        raise t.error("action", f'expected "halted" or "killed", got {action!r}')
    return DailyLossLimits(
        max_loss=t.amount("max_loss"),
        reset_time=_reset_time(t),
        timezone=name,
        tz=zone,
        action=_GRADES[action],
    )


def _drawdown(t: _Table) -> DrawdownLimits:
    soft, hard = t.amount("soft"), t.amount("hard")
    if soft.quote is not None and hard.quote is not None and soft.quote >= hard.quote:
        raise t.error("soft", f"must be below hard ({hard.describe()}), got {soft.describe()}")
    if soft.pct is not None and hard.pct is not None and soft.pct >= hard.pct:
        raise t.error("soft", f"must be below hard ({hard.describe()}), got {soft.describe()}")
    return DrawdownLimits(soft=soft, hard=hard, cooldown_s=t.number("cooldown_s", allow_zero=True))


def _order_rate(t: _Table) -> OrderRateLimits:
    raw = t.get("windows")
    if not isinstance(raw, list) or not raw:
        raise t.error("windows", f"expected a non-empty array of tables, got {_describe(raw)}")
    windows = []
    for index, item in enumerate(raw):
        w = _Table(t.source, f"{t.where('windows')}[{index}]", item, _keys("seconds", "max_orders"))
        windows.append(RateWindow(seconds=w.number("seconds"), max_orders=w.count("max_orders")))
    return OrderRateLimits(
        windows=tuple(windows),
        kill_after_s=t.number("kill_after_s", allow_zero=True),
        cooldown_s=t.number("cooldown_s", allow_zero=True),
    )


def _rejects(t: _Table) -> RejectLimits:
    return RejectLimits(
        max_consecutive=t.count("max_consecutive"),
        max_ratio_pct=t.pct("max_ratio_pct"),
        window_s=t.number("window_s"),
        min_sample=t.count("min_sample"),
        cooldown_s=t.number("cooldown_s", allow_zero=True),
        kill_after_s=t.optional_number("kill_after_s"),
    )


def _symbol_limit(parent: _Table, symbol: str) -> SymbolLimit:
    t = parent.sub(symbol, _keys("max_qty", "max_notional"))
    if not symbol or not t.raw:
        raise parent.error(symbol, "a symbol table needs max_qty and/or max_notional")
    return SymbolLimit(
        symbol=symbol,
        max_qty=t.number("max_qty") if "max_qty" in t.raw else None,
        max_notional=t.amount("max_notional") if "max_notional" in t.raw else None,
    )


def _position(t: _Table) -> PositionLimits:
    raw_symbols = t.get("symbols")
    names = frozenset(raw_symbols) if isinstance(raw_symbols, dict) else frozenset()
    symbols = t.sub("symbols", names)
    return PositionLimits(
        max_symbol_notional=t.amount("max_symbol_notional"),
        max_gross_notional=t.amount("max_gross_notional"),
        max_net_notional=t.amount("max_net_notional"),
        symbols=tuple(_symbol_limit(symbols, name) for name in symbols.raw),
        cooldown_s=t.number("cooldown_s", allow_zero=True),
    )


def _heartbeat(t: _Table) -> HeartbeatLimits:
    limits = HeartbeatLimits(
        interval_s=t.number("interval_s"),
        warn_after_s=t.number("warn_after_s"),
        halt_after_s=t.number("halt_after_s"),
        kill_after_s=t.number("kill_after_s"),
        cooldown_s=t.number("cooldown_s", allow_zero=True),
    )
    if not limits.interval_s < limits.warn_after_s < limits.halt_after_s < limits.kill_after_s:
        raise t.error("", "need interval_s < warn_after_s < halt_after_s < kill_after_s")
    return limits


def _divergence(t: _Table) -> DivergenceLimits:
    grade = t.string("grade")
    if grade not in _GRADES:
        raise t.error("grade", f"expected one of {', '.join(_GRADES)}, got {grade!r}")
    return DivergenceLimits(
        open_orders=t.count("open_orders", allow_zero=True),
        position_qty=t.number("position_qty", allow_zero=True),
        order_count=t.count("order_count", allow_zero=True),
        grace_s=t.number("grace_s", allow_zero=True),
        grade=_GRADES[grade],
        reorder_s=t.number("reorder_s", allow_zero=True),
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
    }
)
_TOP_KEYS = frozenset({"profile", "warn_at_pct", *_SECTION_KEYS})


def _consecutive(t: _Table) -> ConsecutiveLossLimits:
    return ConsecutiveLossLimits(
        max_count=t.count("max_count"), pause_s=t.number("pause_s", allow_zero=True)
    )


def _stale(t: _Table) -> StaleDataLimits:
    return StaleDataLimits(
        max_age_s=t.number("max_age_s"),
        cooldown_s=t.number("cooldown_s", allow_zero=True),
        kill_after_s=t.optional_number("kill_after_s"),
    )


def _build(top: _Table) -> Limits:
    def section(name: str) -> _Table:
        return top.sub(name, _SECTION_KEYS[name])

    profile = top.raw.get("profile")
    return Limits(
        profile=profile if isinstance(profile, str) else None,
        warn_at_pct=top.pct("warn_at_pct"),
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


def limits_from_mapping(data: Mapping[str, Any], source: str) -> Limits:
    """Validate an already-decoded limits document (same rules as `parse_limits`)."""
    top = _Table(source, "", dict(data), _TOP_KEYS)
    base: Mapping[str, Any] = {}
    if "profile" in top.raw:
        name = top.string("profile")
        if name not in _RAW_PROFILES:
            choices = ", ".join(_RAW_PROFILES)
            raise top.error("profile", f"unknown profile {name!r} (choose {choices})")
        base = _RAW_PROFILES[name]
    merged = _merge(base, top.raw)
    return _build(_Table(source, "", merged, _TOP_KEYS))


def parse_limits(text: str, source: str) -> Limits:
    """Parse and validate a limits TOML document. `source` names it in error messages.

    Raises only `LimitsError`, whose message reads ``<source>: <key.path>: <reason>``.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LimitsError(f"{source}: <toml>: {exc}") from None
    except RecursionError:
        raise LimitsError(f"{source}: <toml>: nested too deeply") from None
    return limits_from_mapping(data, source)


PROFILES: Mapping[str, Limits] = MappingProxyType(
    {name: limits_from_mapping({"profile": name}, f"<profile {name}>") for name in _RAW_PROFILES}
)
