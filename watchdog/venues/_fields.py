"""Strict readers for the venue's JSON: a missing or ill-typed field is an error naming it.

A kill switch that reads ``"price": null`` as zero, or a missing ``positions`` as "no positions",
would report "flat" when it cannot know. Every reader here raises ``VenueProtocolError``
with the field's path instead. ``retry_after``, the one header every venue's error reading
shares, is the exception: see its docstring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from watchdog.venues.base import Side
from watchdog.venues.errors import VenueProtocolError


def obj(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise VenueProtocolError(f"{where}: expected a JSON object, got {_kind(value)}")
    return value


def array(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise VenueProtocolError(f"{where}: expected a JSON array, got {_kind(value)}")
    return value


def field(o: dict[str, object], name: str, where: str) -> object:
    if name not in o:
        raise VenueProtocolError(f"{where}.{name}: missing")
    return o[name]


def text(o: dict[str, object], name: str, where: str) -> str:
    value = field(o, name, where)
    if not isinstance(value, str):
        raise VenueProtocolError(f"{where}.{name}: expected a string, got {_kind(value)}")
    return value


def non_empty(o: dict[str, object], name: str, where: str) -> str:
    """A text field that must not be blank (ids: an empty one names nothing)."""
    value = text(o, name, where)
    if not value:
        raise VenueProtocolError(f"{where}.{name}: empty")
    return value


def side(o: dict[str, object], where: str, *, buy: str, sell: str) -> Side:
    """``side`` in the venue's own words for a buy and a sell; any other word is an error."""
    raw = text(o, "side", where)
    if raw == buy:
        return Side.BUY
    if raw == sell:
        return Side.SELL
    raise VenueProtocolError(f"{where}.side: expected {buy} or {sell}, got {raw!r}")


def integer(o: dict[str, object], name: str, where: str) -> int:
    value = field(o, name, where)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise VenueProtocolError(f"{where}.{name}: expected an integer, got {_kind(value)}")
    try:
        return int(value)
    except ValueError:
        raise VenueProtocolError(f"{where}.{name}: expected an integer, got {value!r}") from None


def decimal(o: dict[str, object], name: str, where: str) -> Decimal:
    """The venue sends decimals as strings; integers are accepted, floats are not (inexact)."""
    value = field(o, name, where)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise VenueProtocolError(f"{where}.{name}: expected a decimal string, got {_kind(value)}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise VenueProtocolError(f"{where}.{name}: expected a decimal, got {value!r}") from None
    if not number.is_finite():
        raise VenueProtocolError(f"{where}.{name}: expected a finite decimal, got {value!r}")
    return number


def decimal_or_blank(o: dict[str, object], name: str, where: str, *, blank_ok: bool) -> Decimal:
    """``decimal``, except that where ``blank_ok`` a "" reads as 0: a venue sends "" for a
    figure it does not have (a flat position's prices, a market order's price). Anywhere else
    "" is an error like any other non-decimal."""
    if blank_ok and o.get(name) == "":
        return Decimal(0)
    return decimal(o, name, where)


def boolean(o: dict[str, object], name: str, where: str) -> bool:
    value = field(o, name, where)
    if not isinstance(value, bool):
        raise VenueProtocolError(f"{where}.{name}: expected true/false, got {_kind(value)}")
    return value


def optional_decimal(o: dict[str, object], name: str, where: str) -> Decimal | None:
    return decimal(o, name, where) if name in o else None


def optional_boolean(o: dict[str, object], name: str, where: str) -> bool | None:
    return boolean(o, name, where) if name in o else None


def optional_integer(o: dict[str, object], name: str, where: str) -> int | None:
    return integer(o, name, where) if name in o else None


MAX_PAUSE_S = 60.0  # the longest a venue's answer may hold the adapter back


def retry_after(headers: Mapping[str, str]) -> float | None:
    """A plain ``Retry-After`` in seconds. One the adapter cannot read (a date, a negative
    number, inf or nan) is no pause at all rather than an error: the refusal it came with is
    still a ``RateLimited``, and the caller then paces itself (``backoff_delay``)."""
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return pause(float(raw))
    except ValueError:
        return None


def pause(seconds: float) -> float | None:
    """A pause a venue asked for, capped at ``MAX_PAUSE_S``; None when it is not a number of
    seconds. The rate gate holds every call back for that long, the kill's included: a header
    that is wrong (a broken proxy's, a hostile one's) must not keep the kill from trying again
    for hours. A venue's real, longer ban refuses the early try anyway."""
    if not 0.0 <= seconds < math.inf:
        return None
    return min(seconds, MAX_PAUSE_S)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return type(value).__name__
