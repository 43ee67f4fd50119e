"""Strict reading of parsed TOML tables: unknown keys and wrong types are errors naming the key.

Every error message has the shape ``<file>: <key.path>: <what is wrong>`` so an operator can go
straight to the line to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from watchdog.errors import ConfigError


@dataclass(frozen=True)
class Table:
    """A TOML table with its location, read through typed getters."""

    source: str
    path: str
    data: Mapping[str, Any]

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.where(key)}: {reason}")

    def reject_unknown(self, known: frozenset[str]) -> None:
        for key in self.data:
            if key not in known:
                allowed = ", ".join(sorted(known))
                raise self.fail(key, f"unknown key (allowed: {allowed})")

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, kinds: tuple[type, ...], label: str, default: Any) -> Any:
        if key not in self.data:
            if default is _REQUIRED:
                raise self.fail(key, f"missing ({_a(label)} is required)")
            return default
        value = self.data[key]
        # bool is an int in Python; a TOML `true` is never a valid number here.
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(key, f"expected {_a(label)}, got a boolean")
        if not isinstance(value, kinds):
            raise self.fail(key, f"expected {_a(label)}, got {type(value).__name__}")
        return value

    def text(self, key: str, default: Any = None, *, required: bool = False) -> Any:
        value = self._get(key, (str,), "string", _REQUIRED if required else default)
        if isinstance(value, str) and not value.strip():
            raise self.fail(key, "must not be empty")
        return value

    def number(
        self, key: str, default: float | None = None, *, minimum: float = 0.0, positive: bool = True
    ) -> float:
        value = self._get(key, (int, float), "number", _REQUIRED if default is None else default)
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise self.fail(key, "must be a finite number")
        if number < minimum or (positive and number <= 0):
            bound = f"> {minimum:g}" if positive else f">= {minimum:g}"
            raise self.fail(key, f"must be {bound}, got {value}")
        return number

    def integer(self, key: str, default: int | None = None, *, minimum: int = 0) -> int:
        value = self._get(key, (int,), "integer", _REQUIRED if default is None else default)
        if value < minimum:
            raise self.fail(key, f"must be >= {minimum}, got {value}")
        return int(value)

    def boolean(self, key: str, default: bool) -> bool:
        return bool(self._get(key, (bool,), "boolean", default))

    def str_list(self, key: str) -> tuple[str, ...]:
        values = self._get(key, (list,), "list of strings", [])
        for index, item in enumerate(values):
            if not isinstance(item, str) or not item.strip():
                raise self.fail(f"{key}[{index}]", "expected a non-empty string")
        return tuple(values)

    def table(self, key: str) -> Table:
        value = self._get(key, (dict,), "table", {})
        return Table(self.source, self.where(key), value)

    def tables(self, key: str) -> list[Table]:
        values = self._get(key, (list,), "array of tables", [])
        result = []
        for index, item in enumerate(values):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{index}]", "expected a table")
            result.append(Table(self.source, f"{self.where(key)}[{index}]", item))
        return result


_REQUIRED: Any = object()


def _a(label: str) -> str:
    return f"an {label}" if label[0] in "aeiou" else f"a {label}"
