"""User-data stream events decode strictly; unfollowed kinds decode to None."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from watchdog.venues.base import Side
from watchdog.venues.errors import VenueProtocolError
from watchdog.venues.user_events import (
    AccountUpdate,
    ListenKeyExpired,
    OrderUpdate,
    decode_user_event,
)

ORDER_EVENT: dict[str, object] = {
    "e": "ORDER_TRADE_UPDATE",
    "E": 1568879465651,
    "T": 1568879465650,
    "o": {
        "s": "BTCUSDT",
        "c": "TEST",
        "S": "SELL",
        "o": "LIMIT",
        "f": "GTC",
        "q": "0.001",
        "p": "9000",
        "ap": "0",
        "x": "TRADE",
        "X": "PARTIALLY_FILLED",
        "i": 8886774,
        "l": "0.0005",
        "z": "0.0005",
        "L": "9000",
        "T": 1568879465651,
        "R": False,
        "rp": "1.25",
    },
}

ACCOUNT_EVENT = {
    "e": "ACCOUNT_UPDATE",
    "E": 1564745798939,
    "T": 1564745798938,
    "a": {
        "m": "ORDER",
        "B": [{"a": "USDT", "wb": "122624.12345678", "cw": "100.12345678", "bc": "50.1"}],
        "P": [
            {
                "s": "BTCUSDT",
                "pa": "0.5",
                "ep": "9000",
                "cr": "200",
                "up": "-1.5",
                "mt": "cross",
                "iw": "0",
                "ps": "BOTH",
            }
        ],
    },
}


def test_an_order_update_decodes_with_exact_values() -> None:
    event = decode_user_event(orjson.dumps(ORDER_EVENT))
    assert isinstance(event, OrderUpdate)
    assert event.side is Side.SELL
    assert (event.execution_type, event.status) == ("TRADE", "PARTIALLY_FILLED")
    assert event.last_qty == Decimal("0.0005")
    assert event.realized_pnl == Decimal("1.25")


def test_an_account_update_decodes_balances_and_positions() -> None:
    event = decode_user_event(orjson.dumps(ACCOUNT_EVENT))
    assert isinstance(event, AccountUpdate)
    assert event.balances[0].wallet == Decimal("122624.12345678")
    assert event.positions[0].qty == Decimal("0.5")
    assert event.positions[0].unrealized_pnl == Decimal("-1.5")


def test_listen_key_expiry_decodes() -> None:
    event = decode_user_event(b'{"e":"listenKeyExpired","E":1576653824250,"listenKey":"k"}')
    assert event == ListenKeyExpired(event_time_ms=1576653824250)


def test_unfollowed_event_kinds_decode_to_none() -> None:
    assert decode_user_event(b'{"e":"MARGIN_CALL","E":1}') is None


def test_a_followed_event_with_a_missing_field_is_an_error_naming_it() -> None:
    inner = ORDER_EVENT["o"]
    assert isinstance(inner, dict)
    broken = {**ORDER_EVENT, "o": {k: v for k, v in inner.items() if k != "X"}}
    with pytest.raises(VenueProtocolError, match=r"ORDER_TRADE_UPDATE\.o\.X: missing"):
        decode_user_event(orjson.dumps(broken))


def test_garbage_is_an_error() -> None:
    with pytest.raises(VenueProtocolError, match="not JSON"):
        decode_user_event(b"\x00garbage")
    with pytest.raises(VenueProtocolError, match="event: expected a JSON object"):
        decode_user_event(b"[1]")
