"""The parameter rules every front applies; each front words a broken rule its own way."""

from __future__ import annotations

from typing import Any

import pytest

from exchange_sim.fronts.common.params import (
    MAX_PARAMS,
    MAX_VALUE_LEN,
    BadParam,
    query_params,
    scalar_params,
)


def test_a_query_is_decoded_with_every_name_once() -> None:
    assert query_params("a=1&b=x%20y&&c=") == {"a": "1", "b": "x y", "c": ""}


def test_an_object_of_scalars_reads_as_strings_and_null_as_absent() -> None:
    doc = {"a": 1, "b": 1.5, "c": True, "d": False, "e": "x", "f": None}
    assert scalar_params(doc) == {"a": "1", "b": "1.5", "c": "true", "d": "false", "e": "x"}


@pytest.mark.parametrize(
    ("raw", "rule", "name"),
    [
        ("a%FF=1", "undecodable", "a%FF"),
        ("%01=1", "bad_name", "\x01"),
        ("a=%0A", "bad_value", "a"),
        (f"a={'x' * (MAX_VALUE_LEN + 1)}", "bad_value", "a"),
        ("a=1&a=2", "duplicate", "a"),
        ("&".join(f"p{i}=1" for i in range(MAX_PARAMS + 1)), "too_many", f"p{MAX_PARAMS}"),
    ],
)
def test_each_broken_query_rule_is_named_with_the_parameter(raw: str, rule: str, name: str) -> None:
    with pytest.raises(BadParam) as caught:
        query_params(raw)
    assert (caught.value.rule, caught.value.name) == (rule, name)


@pytest.mark.parametrize("value", [[1], {"x": 1}])
def test_a_value_that_is_no_scalar_is_refused_by_name(value: Any) -> None:
    with pytest.raises(BadParam) as caught:
        scalar_params({"a": value})
    assert (caught.value.rule, caught.value.name) == ("not_scalar", "a")
