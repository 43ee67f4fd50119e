"""Strict reading of a parsed TOML table: one reader, one wording for every config mistake.

Pure: it reads text or the dict parsed from it, never a file, so `risk` stays free of I/O and
every program that may import `risk` (the watchdog, its venue settings and credentials, the
trader, the limits files) reads its config through it. Each error reads
``<file>: <key.path>: <reason>``, and the same mistake has the same reason everywhere:

- unknown key:   ``unknown key (allowed: a, b)``
- wrong type:    ``expected an integer, got a string`` (the value is not quoted: it may be secret)
- missing key:   ``missing (required)``
- out of range:  ``must be >= 1, got 0`` (or ``> 0``, ``<= 65535``, ``>= 0 and <= 100``)

The error type is the caller's (``error=ConfigError``), so each package keeps its own root error.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

_ROOT = "<root>"
_MISSING = "missing (required)"


def _unknown_key(known: Iterable[str]) -> str:
    return f"unknown key (allowed: {', '.join(sorted(known))})"


def _out_of_range(value: object, *, low: float | None, low_open: bool, high: float | None) -> str:
    """The reason for a number outside its bounds, e.g. ``must be > 0, got 0``."""
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {_bound(low)}")
    if high is not None:
        bounds.append(f"<= {_bound(high)}")
    return f"must be {' and '.join(bounds)}, got {value!r}"


def _bound(limit: float) -> str:
    """A bound as written in a config: ``0``, ``100``, ``0.5`` (never ``1e+02``)."""
    return str(int(limit)) if float(limit).is_integer() else repr(limit)


def kind_of(value: object) -> str:
    """A value's TOML kind with its article, as an error names it: ``a string``."""
    # datetime before date: a datetime is a date too.
    for kind, name in _KINDS:
        if isinstance(value, kind):
            return name
    return f"a {type(value).__name__}"


def wrong_type(expected: str, value: object) -> str:
    return f"expected {expected}, got {kind_of(value)}"


_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (str, "a string"),
    (int, "an integer"),
    (float, "a float"),
    (list, "an array"),
    (dict, "a table"),
    (datetime, "a date-time"),
    (date, "a date"),
    (time, "a time"),
)


@dataclass(frozen=True)
class Table:
    """One TOML table with its file and key path; every getter checks kind and range."""

    source: str
    path: str
    data: Mapping[str, Any]
    error: Callable[[str], Exception] = ValueError

    @classmethod
    def root(cls, data: Mapping[str, Any], source: str, error: Callable[[str], Exception]) -> Table:
        return cls(source, "", data, error)

    def where(self, key: str) -> str:
        if not key:
            return self.path or _ROOT
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, reason: str) -> Exception:
        """An error naming ``key`` in this table (``""`` names the table itself)."""
        return self.error(f"{self.source}: {self.where(key)}: {reason}")

    def reject_unknown(self, known: Iterable[str]) -> None:
        allowed = frozenset(known)
        for key in self.data:
            if key not in allowed:
                raise self.fail(key, _unknown_key(allowed))

    def has(self, key: str) -> bool:
        return key in self.data

    def value(self, key: str) -> object:
        """A required value of any kind, for readers with their own kind checks."""
        if key not in self.data:
            raise self.fail(key, _MISSING)
        return self.data[key]

    def _typed(self, key: str, kinds: tuple[type, ...], expected: str, default: object) -> Any:
        if key not in self.data:
            if default is None:
                raise self.fail(key, _MISSING)
            return default
        value = self.data[key]
        # bool is an int in Python; a TOML `true` is never a valid number.
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise self.fail(key, wrong_type(expected, value))
        return value

    def text(self, key: str, default: str | None = None) -> str:
        """A non-empty string; required unless a default is given."""
        value: str = self._typed(key, (str,), "a string", default)
        if not value.strip():
            raise self.fail(key, "must not be empty")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if key in self.data else None

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool:
        value: bool = self._typed(key, (bool,), "a boolean", default)
        return value

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        low: float | None = 0.0,
        low_open: bool = True,
        high: float | None = None,
    ) -> float:
        """A finite number; by default > 0 (``low_open=False`` allows the bound itself)."""
        raw = self._typed(key, (int, float), "a number", default)
        try:
            value = float(raw)
        except OverflowError:
            raise self.fail(key, "must be a finite number") from None
        if not math.isfinite(value):
            raise self.fail(key, f"must be a finite number, got {raw!r}")
        below = low is not None and (value <= low if low_open else value < low)
        if below or (high is not None and value > high):
            raise self.fail(key, _out_of_range(raw, low=low, low_open=low_open, high=high))
        return value

    def optional_number(self, key: str) -> float | None:
        """A number > 0, or None when the key is absent (the feature is off)."""
        return self.number(key) if key in self.data else None

    def integer(
        self, key: str, default: int | None = None, *, low: int | None = 0, high: int | None = None
    ) -> int:
        """An integer in ``[low, high]`` (``None``: unbounded on that side)."""
        value: int = self._typed(key, (int,), "an integer", default)
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(key, _out_of_range(value, low=low, low_open=False, high=high))
        return value

    def str_list(self, key: str) -> tuple[str, ...]:
        values: list[object] = self._typed(key, (list,), "an array of strings", [])
        for index, item in enumerate(values):
            if not isinstance(item, str) or not item.strip():
                raise self.fail(f"{key}[{index}]", wrong_type("a non-empty string", item))
        return tuple(str(item) for item in values)

    def table(self, key: str, *, required: bool = False) -> Table:
        """The sub-table ``key``; an empty one when it is absent and not required."""
        value = self._typed(key, (dict,), "a table", None if required else {})
        return Table(self.source, self.where(key), value, self.error)

    def tables(self, key: str, *, required: bool = False) -> list[Table]:
        """An array of tables (``[[key]]``), each named ``key[index]`` in errors."""
        values = self._typed(key, (list,), "an array of tables", None if required else [])
        result = []
        for index, item in enumerate(values):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{index}]", wrong_type("a table", item))
            result.append(Table(self.source, f"{self.where(key)}[{index}]", item, self.error))
        return result


def loads(
    text: str, source: str, error: Callable[[str], Exception], *, secret: bool = False
) -> dict[str, Any]:
    """Parse TOML text; a syntax error reads ``<file>: not valid TOML: <where and why>``.

    ``secret``: the parser's message can quote the offending line, so for a file that holds a
    secret only the fact is said.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = "see the documented format" if secret else str(exc)
        raise error(f"{source}: not valid TOML: {reason}") from None
    except RecursionError:
        raise error(f"{source}: not valid TOML: nested too deeply") from None
