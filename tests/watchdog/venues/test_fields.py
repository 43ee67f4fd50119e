"""The strict field readers every venue's wire module shares: each error names the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from watchdog.venues import Side, VenueProtocolError
from watchdog.venues import _fields as f


@pytest.mark.parametrize(("buy", "sell"), [("BUY", "SELL"), ("Buy", "Sell"), ("buy", "sell")])
def test_a_side_is_read_in_the_venues_own_words(buy: str, sell: str) -> None:
    assert f.side({"side": buy}, "row", buy=buy, sell=sell) is Side.BUY
    assert f.side({"side": sell}, "row", buy=buy, sell=sell) is Side.SELL


def test_a_side_in_another_venues_words_is_an_error_naming_the_expected_ones() -> None:
    with pytest.raises(VenueProtocolError, match=r"^row\.side: expected buy or sell, got 'BUY'$"):
        f.side({"side": "BUY"}, "row", buy="buy", sell="sell")


def test_a_side_that_is_not_text_is_an_error_naming_its_kind() -> None:
    with pytest.raises(VenueProtocolError, match=r"^row\.side: expected a string, got int$"):
        f.side({"side": 1}, "row", buy="Buy", sell="Sell")


def test_a_blank_id_names_nothing() -> None:
    assert f.non_empty({"ordId": "7"}, "ordId", "row") == "7"
    with pytest.raises(VenueProtocolError, match=r"^row\.ordId: empty$"):
        f.non_empty({"ordId": ""}, "ordId", "row")
    with pytest.raises(VenueProtocolError, match=r"^row\.ordId: missing$"):
        f.non_empty({}, "ordId", "row")


def test_a_blank_figure_reads_as_zero_only_where_the_caller_allows_it() -> None:
    assert f.decimal_or_blank({"px": ""}, "px", "row", blank_ok=True) == 0
    assert f.decimal_or_blank({"px": "1.5"}, "px", "row", blank_ok=True) == Decimal("1.5")
    with pytest.raises(VenueProtocolError, match=r"^row\.px: expected a decimal, got ''$"):
        f.decimal_or_blank({"px": ""}, "px", "row", blank_ok=False)
    with pytest.raises(VenueProtocolError, match=r"^row\.px: missing$"):
        f.decimal_or_blank({}, "px", "row", blank_ok=True)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "0"}, 0.0),
        ({}, None),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({"Retry-After": "-1"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "86400"}, f.MAX_PAUSE_S),  # never holds the kill back for a day
    ],
)
def test_a_retry_after_is_a_pause_only_when_it_reads_as_seconds(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert f.retry_after(headers) == seconds
