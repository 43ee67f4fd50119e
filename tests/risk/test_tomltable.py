"""The shared strict-table reader: one wording for each kind of config mistake."""

from __future__ import annotations

import datetime

import pytest

from risk.tomltable import Table, kind_of, loads


class Bad(ValueError):
    pass


def table(data: dict[str, object]) -> Table:
    return Table("c.toml", "a.b", data, Bad)


def error_of(call: object) -> str:
    assert callable(call)
    with pytest.raises(Bad) as caught:
        call()
    return str(caught.value)


def test_an_unknown_key_names_the_path_and_what_is_allowed() -> None:
    t = table({"prot": 1})
    message = error_of(lambda: t.reject_unknown({"port", "host"}))
    assert message == "c.toml: a.b.prot: unknown key (allowed: host, port)"


def test_a_missing_required_key_says_so() -> None:
    assert error_of(lambda: table({}).integer("port")) == "c.toml: a.b.port: missing (required)"
    assert error_of(lambda: table({}).text("name")) == "c.toml: a.b.name: missing (required)"


def test_a_default_stands_in_for_a_missing_key() -> None:
    t = table({})
    assert (t.integer("port", 80), t.text("host", "h"), t.boolean("on", False)) == (80, "h", False)
    assert t.optional_text("host") is None
    assert t.optional_number("x") is None


@pytest.mark.parametrize(
    ("value", "getter", "expected"),
    [
        ("9", "integer", "expected an integer, got a string"),
        (True, "integer", "expected an integer, got a boolean"),
        (1.5, "integer", "expected an integer, got a float"),
        (True, "number", "expected a number, got a boolean"),
        ([1], "text", "expected a string, got an array"),
        (1, "boolean", "expected a boolean, got an integer"),
        ({"x": 1}, "number", "expected a number, got a table"),
        (datetime.time(1, 2), "text", "expected a string, got a time"),
    ],
)
def test_a_wrong_type_names_both_kinds_and_never_the_value(
    value: object, getter: str, expected: str
) -> None:
    message = error_of(lambda: getattr(table({"k": value}), getter)("k"))
    assert message == f"c.toml: a.b.k: {expected}"


@pytest.mark.parametrize(
    ("value", "bounds", "expected"),
    [
        (0, {}, "must be > 0, got 0"),
        (-1, {"low_open": False}, "must be >= 0, got -1"),
        (101, {"high": 100}, "must be > 0 and <= 100, got 101"),
        (0.5, {"low": 1.5, "low_open": False}, "must be >= 1.5, got 0.5"),
        (float("inf"), {}, "must be a finite number, got inf"),
        (10**400, {}, "must be a finite number"),
    ],
)
def test_a_number_out_of_range_names_the_bounds_and_the_value(
    value: object, bounds: dict[str, object], expected: str
) -> None:
    message = error_of(lambda: table({"k": value}).number("k", **bounds))  # type: ignore[arg-type]
    assert message == f"c.toml: a.b.k: {expected}"


def test_an_integer_out_of_range_names_the_bounds_and_the_value() -> None:
    t = table({"port": 70000, "n": -1})
    assert error_of(lambda: t.integer("port", high=65535)) == (
        "c.toml: a.b.port: must be >= 0 and <= 65535, got 70000"
    )
    assert error_of(lambda: t.integer("n", low=1)) == "c.toml: a.b.n: must be >= 1, got -1"
    assert t.integer("n", low=None) == -1


def test_a_choice_lists_the_choices() -> None:
    message = error_of(lambda: table({"mode": "x"}).choice("mode", ("on", "off")))
    assert message == "c.toml: a.b.mode: must be one of on, off, got 'x'"


def test_an_empty_string_is_refused() -> None:
    assert error_of(lambda: table({"k": " "}).text("k")) == "c.toml: a.b.k: must not be empty"


def test_nested_tables_and_arrays_carry_their_path() -> None:
    top = Table.root({"t": [{"x": 1}, 2]}, "c.toml", Bad)
    assert error_of(lambda: top.tables("t")) == "c.toml: t[1]: expected a table, got an integer"
    first = Table.root({"t": [{"x": 1}]}, "c.toml", Bad).tables("t")[0]
    assert error_of(lambda: first.text("x")) == "c.toml: t[0].x: expected a string, got an integer"
    assert error_of(lambda: top.table("s", required=True)) == "c.toml: s: missing (required)"
    assert str(top.fail("", "bad")) == "c.toml: <root>: bad"


def test_a_list_of_strings_names_the_bad_item() -> None:
    message = error_of(lambda: table({"hooks": ["a", 3]}).str_list("hooks"))
    assert message == "c.toml: a.b.hooks[1]: expected a non-empty string, got an integer"


def test_a_syntax_error_names_the_file_and_a_secret_file_withholds_the_line() -> None:
    assert error_of(lambda: loads("a = [", "c.toml", Bad)).startswith("c.toml: not valid TOML: ")
    message = error_of(lambda: loads('secret = "abc', "k.toml", Bad, secret=True))
    assert message == "k.toml: not valid TOML: see the documented format"
    assert "abc" not in message
    deep = error_of(lambda: loads("a = " + "[" * 100_000, "c.toml", Bad))
    assert deep == "c.toml: not valid TOML: nested too deeply"


def test_kinds_read_as_toml_names_them() -> None:
    moment = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    assert [kind_of(v) for v in (moment, moment.date(), None)] == [
        "a date-time",
        "a date",
        "a NoneType",
    ]
