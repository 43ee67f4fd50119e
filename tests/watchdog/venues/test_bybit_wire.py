"""Bybit v5 wire format, pure: envelope errors, parsing, and what an unreadable answer becomes;
plus the adapter on a scripted fake for answers the simulator never gives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from harness.sim import SimKey, bybit_headers
from tests.watchdog.venues.fake_venue import FakeVenue, Reply, running
from watchdog.venues import (
    Credentials,
    InvalidSignature,
    KeyRefused,
    OrdersRemain,
    RateLimited,
    TimestampOutOfWindow,
    UnknownOrder,
    VenueError,
    VenueProtocolError,
    VenueRejected,
    VenueUnavailable,
)
from watchdog.venues import bybit_wire as wire
from watchdog.venues.base import RealizedPnl
from watchdog.venues.bybit import Bybit, BybitEndpoint

NOW_MS = 1_700_000_000_000


def ok(result: object) -> dict[str, object]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": NOW_MS}


def refused(code: int, msg: str = "no") -> dict[str, object]:
    return {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": NOW_MS}


def test_the_signature_covers_timestamp_key_window_and_payload_exactly() -> None:
    key = SimKey("k", "K" * 18, "S" * 36)
    payload = '{"category":"linear","symbol":"BTCUSDT"}'
    signature = Credentials(key.api_key, key.secret).sign(
        wire.sign_payload(NOW_MS, key.api_key, 5000, payload)
    )
    expected = bybit_headers(key, payload, timestamp_ms=NOW_MS, recv_window=5000)
    assert wire.auth_headers(key.api_key, NOW_MS, 5000, signature) == expected


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, refused(10003), KeyRefused),
        (200, refused(33004), KeyRefused),
        (200, refused(10005), KeyRefused),
        (200, refused(10004), InvalidSignature),
        (200, refused(10002), TimestampOutOfWindow),
        (200, refused(110001), UnknownOrder),
        (200, refused(10016), VenueUnavailable),
        (200, refused(10006), RateLimited),
        (403, refused(10018), RateLimited),
        (429, None, RateLimited),
        (502, None, VenueUnavailable),
        (401, None, KeyRefused),
        (404, None, VenueRejected),
        (200, refused(99999), VenueRejected),
        (200, {}, VenueProtocolError),
        (200, None, VenueProtocolError),
        (200, [], VenueProtocolError),
        (200, {"retCode": True, "result": {}}, VenueProtocolError),
        (200, {"retCode": "0", "result": {}}, VenueProtocolError),
    ],
)
def test_every_answer_that_is_not_a_success_is_a_typed_error(
    status: int, body: object, error: type[VenueError]
) -> None:
    found = wire.error_for(status, body, {}, "GET /x", now_ms=NOW_MS)
    assert type(found) is error


def test_a_success_envelope_is_no_error() -> None:
    assert wire.error_for(200, ok({}), {}, "GET /x", now_ms=NOW_MS) is None


def test_the_rate_limit_pause_runs_to_the_venues_reset_time() -> None:
    headers = {"X-Bapi-Limit-Reset-Timestamp": str(NOW_MS + 1500)}
    found = wire.error_for(200, refused(10006), headers, "GET /x", now_ms=NOW_MS)
    assert isinstance(found, RateLimited)
    assert found.retry_after == 1.5


def test_a_reset_time_a_day_away_holds_the_adapter_back_a_minute_at_most() -> None:
    headers = {"X-Bapi-Limit-Reset-Timestamp": str(NOW_MS + 86_400_000)}
    found = wire.error_for(200, refused(10006), headers, "GET /x", now_ms=NOW_MS)
    assert isinstance(found, RateLimited)
    assert found.retry_after == 60.0


def test_server_time_comes_from_time_nano() -> None:
    body = ok({"timeSecond": "1700000000", "timeNano": "1700000000123456789"})
    assert wire.parse_server_time_ms(body) == 1_700_000_000_123


def order(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "symbol": "BTCUSDT",
        "orderId": "fd4300ae-7847-404e-b947-b46980a4d140",
        "orderLinkId": "t1",
        "side": "Buy",
        "orderType": "Limit",
        "orderStatus": "New",
        "price": "50000",
        "qty": "0.01",
        "cumExecQty": "0",
        "reduceOnly": False,
        "createdTime": "1700000000000",
    }
    row.update(changes)
    return row


def test_an_order_keeps_its_opaque_string_id_and_the_side_is_mapped() -> None:
    page = wire.parse_orders_page(ok({"list": [order()], "nextPageCursor": "c1"}))
    (o,) = page.orders
    assert o.order_id == "fd4300ae-7847-404e-b947-b46980a4d140"
    assert (o.side.value, o.orig_qty, page.next_cursor) == ("BUY", Decimal("0.01"), "c1")


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"price": None}, "realtime.result.list[0].price"),
        ({"side": "BUY"}, "realtime.result.list[0].side: expected Buy or Sell, got 'BUY'"),
        ({"orderId": ""}, "realtime.result.list[0].orderId: empty"),
        ({"qty": "1e"}, "realtime.result.list[0].qty"),
    ],
)
def test_a_bad_order_field_is_named(changes: dict[str, object], where: str) -> None:
    with pytest.raises(VenueProtocolError, match=where.replace("[", r"\[").replace("]", r"\]")):
        wire.parse_orders_page(ok({"list": [order(**changes)], "nextPageCursor": ""}))


def test_a_page_without_its_cursor_field_is_not_the_last_page() -> None:
    with pytest.raises(VenueProtocolError, match="nextPageCursor: missing"):
        wire.parse_orders_page(ok({"list": []}))


def position(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "symbol": "ETHUSDT",
        "side": "Sell",
        "size": "0.5",
        "avgPrice": "3000",
        "unrealisedPnl": "-2.5",
        "markPrice": "3005",
    }
    row.update(changes)
    return row


def test_a_short_position_is_a_negative_quantity() -> None:
    (p,) = wire.parse_positions_page(ok({"list": [position()], "nextPageCursor": ""})).positions
    assert (p.qty, p.entry_price, p.mark_price) == (Decimal("-0.5"), Decimal(3000), Decimal(3005))


def test_a_flat_position_may_have_no_prices_but_an_open_one_may_not() -> None:
    flat = position(side="", size="0", avgPrice="", markPrice="")
    (p,) = wire.parse_positions_page(ok({"list": [flat], "nextPageCursor": ""})).positions
    assert p.qty == 0
    with pytest.raises(VenueProtocolError, match=r"\[0\]\.avgPrice: expected a decimal, got ''"):
        wire.parse_positions_page(ok({"list": [position(avgPrice="")], "nextPageCursor": ""}))
    with pytest.raises(VenueProtocolError, match="needs Buy or Sell"):
        wire.parse_positions_page(ok({"list": [position(side="")], "nextPageCursor": ""}))


def test_a_position_row_carries_the_symbols_realized_pnl_counter() -> None:
    (p,) = wire.parse_positions_page(
        ok({"list": [position(cumRealisedPnl="-12.5")], "nextPageCursor": ""})
    ).positions
    assert p.realized == RealizedPnl(Decimal("-12.5"), since_ms=None)  # over all its history
    for absent in ({}, {"cumRealisedPnl": ""}):
        (p,) = wire.parse_positions_page(
            ok({"list": [position(**absent)], "nextPageCursor": ""})
        ).positions
        assert p.realized is None  # not known: the marking waits for the read
    for bad in (None, "abc", "NaN", 1.5):
        with pytest.raises(VenueProtocolError, match=r"list\[0\]\.cumRealisedPnl"):
            wire.parse_positions_page(
                ok({"list": [position(cumRealisedPnl=bad)], "nextPageCursor": ""})
            )


def wallet(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "totalMarginBalance": "100010",
        "totalWalletBalance": "100000",
        "totalPerpUPL": "10",
        "totalAvailableBalance": "90000",
    }
    row.update(changes)
    return ok({"list": [row]})


def test_the_wallet_reads_margin_balance_as_equity() -> None:
    w = wire.parse_wallet(wallet())
    assert (w.margin_balance, w.wallet, w.unrealized) == (
        Decimal(100010),
        Decimal(100000),
        Decimal(10),
    )


def test_a_wallet_the_venue_leaves_blank_is_an_error_not_zero() -> None:
    # A non-unified account answers "" for the account-wide totals: unknown, not zero.
    with pytest.raises(VenueProtocolError, match="totalPerpUPL"):
        wire.parse_wallet(wallet(totalPerpUPL=""))


def test_a_cancel_all_that_says_it_did_not_succeed_is_an_error() -> None:
    assert wire.parse_cancel_all(ok({"list": [{"orderId": "a"}], "success": "1"})) == ("a",)
    with pytest.raises(VenueProtocolError, match="success"):
        wire.parse_cancel_all(ok({"list": [], "success": "0"}))


@pytest.mark.parametrize(
    ("infos", "configured"),
    [
        ([], False),
        ([{"product": "SPOT", "dcpStatus": "ON", "timeWindow": "10"}], False),
        ([{"product": "DERIVATIVES", "dcpStatus": "ON", "timeWindow": "40"}], True),
    ],
)
def test_dcp_is_configured_only_when_the_venue_lists_derivatives(
    infos: list[dict[str, str]], configured: bool
) -> None:
    state = wire.parse_dcp_info(ok({"dcpInfos": infos}))
    assert state.configured is configured
    assert state.window_s == (40 if configured else None)


# --- the adapter on a scripted fake: answers the simulator does not give ----------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeVenue]:
    async with running(FakeVenue(secrets={})) as venue:
        yield venue


def adapter(fake: FakeVenue, session: aiohttp.ClientSession, **kw: Any) -> Bybit:
    return Bybit(session, BybitEndpoint(fake.base_url, **kw), Credentials("K" * 18, "S" * 36))


async def test_an_html_page_with_status_200_is_a_protocol_error(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.script("GET /v5/order/realtime", Reply(200, b"<html><body>maintenance</body></html>"))
    with pytest.raises(VenueProtocolError, match="not JSON"):
        await adapter(fake, session).open_orders("BTCUSDT")


async def test_a_venue_that_repeats_its_cursor_is_an_error_not_a_short_list(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    page = Reply(200, ok({"list": [order()], "nextPageCursor": "same"}))
    fake.script("GET /v5/order/realtime", page, page)
    with pytest.raises(VenueProtocolError, match="repeated cursor"):
        await adapter(fake, session).open_orders("BTCUSDT")


async def test_a_listing_longer_than_max_pages_is_an_error(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.script(
        "GET /v5/order/realtime",
        *(Reply(200, ok({"list": [order()], "nextPageCursor": f"c{i}"})) for i in range(3)),
    )
    with pytest.raises(VenueProtocolError, match="more than 3 pages"):
        await adapter(fake, session, max_pages=3).open_orders("BTCUSDT")


async def test_an_order_listed_after_a_cancel_round_gets_another_round(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    late = Reply(200, ok({"list": [order(orderId="late")], "nextPageCursor": ""}))
    fake.script(
        "GET /v5/order/realtime",
        late,  # listed while the settle coin's cancel-all runs
        late,  # still there after it: landed in between
        Reply(200, ok({"list": [], "nextPageCursor": ""})),
    )
    fake.script(
        "POST /v5/order/cancel-all",
        Reply(200, ok({"list": [{"orderId": "a"}], "success": "1"})),
        Reply(200, ok({"list": [{"orderId": "late"}], "success": "1"})),
    )
    report = await adapter(fake, session, settle_coins=("USDT",)).cancel_everything()
    assert report.rounds == 2
    assert report.answers == (
        "USDT: venue cancelled 1 order(s): a",
        "BTCUSDT: venue cancelled 1 order(s): late",
    )
    assert len(fake.calls("GET /v5/order/realtime")) == 3


async def test_orders_that_survive_every_round_of_cancel_all_are_reported(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.defaults["GET /v5/order/realtime"] = Reply(
        200, ok({"list": [order()], "nextPageCursor": ""})
    )
    fake.defaults["POST /v5/order/cancel-all"] = Reply(200, ok({"list": [], "success": "1"}))
    with pytest.raises(OrdersRemain) as caught:
        await adapter(fake, session, settle_coins=("USDT",)).cancel_everything(max_rounds=2)
    assert caught.value.remaining == 1
    # the settle coin once, then the listed symbol after each of the two listings
    assert len(fake.calls("POST /v5/order/cancel-all")) == 3


async def test_a_probe_answer_other_than_refused_or_accepted_raises(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.script("GET /v5/account/wallet-balance", Reply(200, refused(10001, "params error")))
    with pytest.raises(VenueRejected):
        await adapter(fake, session).key_accepted("T" * 18)
