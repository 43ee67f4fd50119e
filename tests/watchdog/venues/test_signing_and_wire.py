"""Pure wire functions: signing against the venue's documented example, parsing, error mapping."""

from __future__ import annotations

from decimal import Decimal

import pytest

from watchdog.venues import binance_wire as wire
from watchdog.venues.base import RateState, Side
from watchdog.venues.credentials import Credentials, sign
from watchdog.venues.errors import (
    Banned,
    InvalidSignature,
    KeyRefused,
    RateLimited,
    TimestampOutOfWindow,
    UnknownOrder,
    VenueProtocolError,
    VenueRejected,
    VenueUnavailable,
    is_retryable,
    retry_delay,
)

# The USDⓈ-M futures "SIGNED endpoint examples" of the venue's API documentation (public values).
DOC_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
DOC_QUERY = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
DOC_SIGNATURE = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def test_signature_matches_the_venues_documented_example() -> None:
    assert sign(DOC_SECRET, DOC_QUERY) == DOC_SIGNATURE


def test_query_string_built_in_order_gives_the_documented_bytes_and_signature() -> None:
    params = wire.signed_params(
        [
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("quantity", "1"),
            ("price", "9000"),
            ("timeInForce", "GTC"),
        ],
        timestamp_ms=1591702613943,
        recv_window_ms=5000,
    )
    query = wire.query_string(params)
    assert query == DOC_QUERY
    assert Credentials("k" * 16, DOC_SECRET).sign(query) == DOC_SIGNATURE


def test_query_string_percent_encodes_reserved_characters() -> None:
    assert wire.query_string([("email", "a+b@x.io"), ("c", "x y&z")]) == (
        "email=a%2Bb%40x.io&c=x%20y%26z"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [("0.001", "0.001"), ("1E-3", "0.001"), ("100", "100"), ("1.50", "1.5"), ("2E+2", "200")],
)
def test_decimals_are_sent_in_plain_notation(value: str, text: str) -> None:
    assert wire.fmt_decimal(Decimal(value)) == text


def test_credentials_repr_never_shows_the_secret() -> None:
    creds = Credentials("ABCDEFGHIJKLMNOPQRST", DOC_SECRET)
    assert DOC_SECRET not in repr(creds)
    assert DOC_SECRET not in str(creds)
    assert "ABCDEFGHIJKLMNOPQRST" not in repr(creds)


ORDER = {
    "symbol": "BTCUSDT",
    "orderId": 42,
    "clientOrderId": "c1",
    "side": "SELL",
    "type": "LIMIT",
    "status": "NEW",
    "price": "30000.1",
    "origQty": "0.010",
    "executedQty": "0",
    "reduceOnly": False,
    "time": 1700000000000,
    "updateTime": 1700000000000,
    "avgPrice": "0",
}


def test_open_orders_parse_into_exact_decimals() -> None:
    (order,) = wire.parse_open_orders([ORDER])
    assert order.side is Side.SELL
    assert order.price == Decimal("30000.1")
    assert order.orig_qty == Decimal("0.010")
    assert order.order_id == "42"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("price", None, "openOrders[0].price: expected a decimal string, got null"),
        ("price", 1.5, "openOrders[0].price: expected a decimal string, got float"),
        ("price", "abc", "openOrders[0].price: expected a decimal, got 'abc'"),
        ("price", "NaN", "openOrders[0].price: expected a finite decimal"),
        ("orderId", True, "openOrders[0].orderId: expected an integer, got bool"),
        ("side", "UP", "openOrders[0].side: expected BUY or SELL, got 'UP'"),
        ("reduceOnly", "false", "openOrders[0].reduceOnly: expected true/false, got str"),
    ],
)
def test_an_ill_typed_field_is_an_error_naming_it(field: str, value: object, message: str) -> None:
    with pytest.raises(VenueProtocolError, match=message.replace("[", r"\[").replace("]", r"\]")):
        wire.parse_open_orders([{**ORDER, field: value}])


def test_a_missing_field_is_an_error_naming_it() -> None:
    row = {k: v for k, v in ORDER.items() if k != "symbol"}
    with pytest.raises(VenueProtocolError, match=r"openOrders\[0\]\.symbol: missing"):
        wire.parse_open_orders([row])


def test_open_orders_that_are_not_a_list_are_not_read_as_none_open() -> None:
    with pytest.raises(VenueProtocolError, match="openOrders: expected a JSON array, got dict"):
        wire.parse_open_orders({"orders": []})


ACCOUNT = {
    "totalMarginBalance": "1010.5",
    "totalWalletBalance": "1000",
    "totalUnrealizedProfit": "10.5",
    "availableBalance": "900",
    "positions": [
        {
            "symbol": "BTCUSDT",
            "positionAmt": "-0.5",
            "entryPrice": "30000",
            "unrealizedProfit": "10.5",
        },
        {"symbol": "ETHUSDT", "positionAmt": "0", "entryPrice": "0", "unrealizedProfit": "0"},
    ],
}


def test_account_equity_is_the_margin_balance_and_flat_positions_are_dropped() -> None:
    view = wire.parse_account(ACCOUNT)
    assert view.equity == Decimal("1010.5")
    assert view.wallet == Decimal("1000")
    assert view.unrealized == Decimal("10.5")
    assert [(p.symbol, p.qty) for p in view.positions] == [("BTCUSDT", Decimal("-0.5"))]


def test_an_account_without_positions_is_an_error_not_flat() -> None:
    body = {k: v for k, v in ACCOUNT.items() if k != "positions"}
    with pytest.raises(VenueProtocolError, match=r"account\.positions: missing"):
        wire.parse_account(body)


def test_position_risk_carries_the_mark_price() -> None:
    (pos,) = wire.parse_position_risk(
        [
            {
                "symbol": "BTCUSDT",
                "positionAmt": "1",
                "entryPrice": "1",
                "markPrice": "2",
                "unRealizedProfit": "1",
            }
        ]
    )
    assert pos.mark_price == Decimal("2")


def test_cancel_all_success_needs_code_200() -> None:
    assert wire.parse_cancel_all({"code": 200, "msg": "done"}) == "200 done"
    with pytest.raises(VenueProtocolError, match="expected 200, got 0"):
        wire.parse_cancel_all({"code": 0, "msg": "?"})


def test_countdown_and_listen_key_answers_parse() -> None:
    ack = wire.parse_countdown({"symbol": "BTCUSDT", "countdownTime": "10000"})
    assert (ack.symbol, ack.countdown_ms) == ("BTCUSDT", 10000)
    assert wire.parse_listen_key({"listenKey": "abc"}) == "abc"
    with pytest.raises(VenueProtocolError):
        wire.parse_listen_key({"listenKey": ""})


def _err(status: int, body: object, headers: dict[str, str] | None = None) -> BaseException:
    err = wire.error_for(status, body, headers or {}, "GET /x")
    assert err is not None, "expected an error"
    return err


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, -2015, KeyRefused),
        (401, -2014, KeyRefused),
        (400, -1022, InvalidSignature),
        (400, -2011, UnknownOrder),
        (400, -2013, UnknownOrder),
        (400, -1021, TimestampOutOfWindow),
        (400, -1121, VenueRejected),
        (429, -1003, RateLimited),
        (418, -1003, Banned),
        (503, None, VenueUnavailable),
        (500, -1000, VenueUnavailable),
        (408, -1007, VenueUnavailable),
    ],
)
def test_each_answer_maps_to_a_type_a_retry_policy_can_tell_apart(
    status: int, code: int | None, kind: type
) -> None:
    body = {"code": code, "msg": "m"} if code is not None else None
    assert type(_err(status, body)) is kind


def test_a_200_with_a_negative_code_is_an_error_not_success() -> None:
    assert isinstance(_err(200, {"code": -1121, "msg": "Invalid symbol."}), VenueRejected)


def test_success_answers_map_to_no_error() -> None:
    assert wire.error_for(200, {"code": 200, "msg": "ok"}, {}, "GET /x") is None
    assert wire.error_for(200, [ORDER], {}, "GET /x") is None


def test_retry_after_is_read_and_honoured() -> None:
    err = _err(429, {"code": -1003, "msg": "slow down"}, {"Retry-After": "3"})
    assert isinstance(err, RateLimited)
    assert err.retry_after == 3.0
    assert retry_delay(err, 0.1) == 3.0
    assert retry_delay(VenueUnavailable("x", endpoint="e"), 0.1) == 0.1


def test_retryable_errors_are_exactly_the_transient_ones() -> None:
    assert is_retryable(_err(503, None))
    assert is_retryable(_err(429, None))
    assert is_retryable(_err(400, {"code": -1021, "msg": "t"}))
    assert not is_retryable(_err(401, {"code": -2015, "msg": "k"}))
    assert not is_retryable(_err(400, {"code": -1121, "msg": "s"}))


def test_rate_headers_are_tracked_and_kept_when_absent() -> None:
    state = wire.rate_state(
        {"X-MBX-USED-WEIGHT-1M": "17", "X-MBX-ORDER-COUNT-10S": "3"}, RateState(None, None, 9)
    )
    assert state == RateState(17, 3, 9)
    assert wire.rate_state({}, state) == state


def test_unavailable_and_timeout_errors_are_stdlib_connection_and_timeout_errors() -> None:
    from watchdog.venues.errors import VenueTimeout

    assert issubclass(VenueUnavailable, ConnectionError)
    assert issubclass(VenueTimeout, TimeoutError)


def test_balances_parse_per_asset() -> None:
    assert wire.parse_balances([{"asset": "USDT", "balance": "12.5"}]) == {"USDT": Decimal("12.5")}
    with pytest.raises(VenueProtocolError, match=r"balance\[0\]\.balance: missing"):
        wire.parse_balances([{"asset": "USDT"}])


def test_sub_account_list_parses_emails() -> None:
    body = {"subAccounts": [{"email": "a@x", "isFreeze": False}]}
    assert wire.parse_sub_accounts(body) == ("a@x",)
    with pytest.raises(VenueProtocolError, match=r"subAccountList\.subAccounts: missing"):
        wire.parse_sub_accounts({})
