"""Request parameters as the fronts read them: a query string or a JSON object of scalars,
every name once, printable, within bounds. The rules are the same on every venue; the words of
the refusal are each venue's, so a broken rule is raised as ``BadParam`` for the front to word.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import unquote_plus

MAX_PARAMS = 64
MAX_VALUE_LEN = 1024

Rule = Literal["undecodable", "bad_name", "bad_value", "duplicate", "too_many", "not_scalar"]


class BadParam(ValueError):
    """A parameter that breaks ``rule``; ``name`` as the client sent it."""

    def __init__(self, rule: Rule, name: str) -> None:
        super().__init__(f"{rule}: {name[:32]!r}")
        self.rule: Rule = rule
        self.name = name


def query_params(raw: str) -> dict[str, str]:
    """A GET query string: every name once, values percent-decoded."""
    values: dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        name_raw, _, value_raw = part.partition("=")
        try:
            name = unquote_plus(name_raw, errors="strict")
            value = unquote_plus(value_raw, errors="strict")
        except UnicodeDecodeError:
            raise BadParam("undecodable", name_raw) from None
        _check(name, value, values)
        values[name] = value
    return values


def scalar_params(doc: dict[Any, Any]) -> dict[str, str]:
    """One JSON object of scalars as strings (null means absent; booleans as true/false)."""
    values: dict[str, str] = {}
    for name, value in doc.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float | str):
            text = str(value)
        else:
            raise BadParam("not_scalar", str(name))
        _check(name, text, values)
        values[name] = text
    return values


def _check(name: str, value: str, seen: dict[str, str]) -> None:
    if not name or not name.isascii() or not name.isprintable():
        raise BadParam("bad_name", name)
    if len(value) > MAX_VALUE_LEN or not value.isprintable():
        raise BadParam("bad_value", name)
    if name in seen:
        raise BadParam("duplicate", name)
    if len(seen) >= MAX_PARAMS:
        raise BadParam("too_many", name)
