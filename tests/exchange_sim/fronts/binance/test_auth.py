"""Signed-request rules, checked in the venue's order: key, mandatory params, time, signature."""

from __future__ import annotations

import time
import urllib.parse

from harness.sim import SimKey, SimProcess, sign
from tests.exchange_sim.venue_client import VenueClient


def _now_ms() -> int:
    return int(time.time() * 1000)


async def test_a_correctly_signed_request_is_served(venue: VenueClient) -> None:
    reply = await venue.open_orders(venue.sim.trader_key)
    assert reply.status == 200
    assert reply.body == []


async def test_a_bad_signature_is_refused_with_1022(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    payload = f"timestamp={_now_ms()}"
    bad = sign("x" * 64, payload)
    reply = await venue.raw(
        "GET", "/fapi/v1/openOrders", f"{payload}&signature={bad}", api_key=key.api_key
    )
    assert (reply.status, reply.code) == (400, -1022)


async def test_a_missing_signature_is_a_missing_mandatory_parameter(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    reply = await venue.raw(
        "GET", "/fapi/v1/openOrders", f"timestamp={_now_ms()}", api_key=key.api_key
    )
    assert (reply.status, reply.code) == (400, -1102)
    assert "signature" in reply.body["msg"]


async def test_key_checks_come_before_everything_else(venue: VenueClient) -> None:
    no_key = await venue.raw("GET", "/fapi/v1/openOrders", "garbage")
    assert (no_key.status, no_key.code) == (401, -2014)
    short = await venue.raw("GET", "/fapi/v1/openOrders", "garbage", api_key="abc")
    assert (short.status, short.code) == (401, -2014)
    unknown = await venue.raw("GET", "/fapi/v1/openOrders", "garbage", api_key="Z" * 64)
    assert (unknown.status, unknown.code) == (401, -2015)


async def test_mandatory_parameters_are_checked_before_the_timestamp(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    stale = _now_ms() - 120_000
    reply = await venue.order(key, side="BUY", type="MARKET", quantity="0.01", timestamp=stale)
    assert reply.code == -1102
    assert "symbol" in reply.body["msg"]


async def test_timestamps_outside_the_receive_window_are_refused(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    old = await venue.signed("GET", "/fapi/v1/openOrders", key, {"timestamp": _now_ms() - 6000})
    assert (old.status, old.code) == (400, -1021)
    ahead = await venue.signed("GET", "/fapi/v1/openOrders", key, {"timestamp": _now_ms() + 5000})
    assert (ahead.status, ahead.code) == (400, -1021)
    widened = await venue.signed(
        "GET", "/fapi/v1/openOrders", key, {"timestamp": _now_ms() - 6000, "recvWindow": 20000}
    )
    assert widened.status == 200
    too_wide = await venue.signed("GET", "/fapi/v1/openOrders", key, {"recvWindow": 70000})
    assert too_wide.code == -1131


async def test_timestamp_is_checked_before_the_signature(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    reply = await venue.raw(
        "GET",
        "/fapi/v1/openOrders",
        f"timestamp={_now_ms() - 60_000}&signature=00",
        api_key=key.api_key,
    )
    assert reply.code == -1021


async def test_the_signature_covers_query_string_then_body_concatenated(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = f"quantity=0.01&price=50000&timestamp={_now_ms()}"
    signature = sign(key.secret, query + body)
    reply = await venue.raw(
        "POST", "/fapi/v1/order", query, f"{body}&signature={signature}", api_key=key.api_key
    )
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "NEW"
    joined_with_amp = sign(key.secret, query + "&" + body)
    refused = await venue.raw(
        "POST", "/fapi/v1/order", query, f"{body}&signature={joined_with_amp}", api_key=key.api_key
    )
    assert refused.code == -1022


async def test_the_signature_is_over_the_bytes_as_sent(venue: VenueClient) -> None:
    key = venue.sim.master_key
    params = urllib.parse.urlencode({"timestamp": _now_ms(), "note": "a b@c"})
    ok = await venue.raw(
        "GET",
        "/sapi/v1/account/apiRestrictions",
        f"{params}&signature={sign(key.secret, params)}",
        api_key=key.api_key,
    )
    assert ok.status == 200, ok.body
    decoded = urllib.parse.unquote_plus(params)
    refused = await venue.raw(
        "GET",
        "/sapi/v1/account/apiRestrictions",
        f"{params}&signature={sign(key.secret, decoded)}",
        api_key=key.api_key,
    )
    assert refused.code == -1022


async def test_duplicate_parameters_are_refused(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    payload = f"symbol=BTCUSDT&symbol=ETHUSDT&timestamp={_now_ms()}"
    reply = await venue.raw(
        "GET",
        "/fapi/v1/openOrders",
        f"{payload}&signature={sign(key.secret, payload)}",
        api_key=key.api_key,
    )
    assert reply.code == -1101


async def test_a_key_without_the_permission_is_refused_with_2015(venue: VenueClient) -> None:
    trader = venue.sim.trader_key
    reply = await venue.signed(
        "DELETE",
        "/sapi/v1/sub-account/subAccountApi",
        trader,
        {"email": "trader1@sub.sim", "subAccountApiKey": venue.sim.watchdog_key.api_key},
    )
    assert (reply.status, reply.code) == (401, -2015)


async def test_user_stream_endpoints_need_only_the_api_key(venue: VenueClient) -> None:
    key: SimKey = venue.sim.watchdog_key
    token = await venue.listen_key(key)
    assert len(token) == 64
    again = await venue.listen_key(key)
    assert again == token  # an active listen key is returned (and extended), not replaced
    keepalive = await venue.raw("PUT", "/fapi/v1/listenKey", api_key=key.api_key)
    assert keepalive.status == 200
    closed = await venue.raw("DELETE", "/fapi/v1/listenKey", api_key=key.api_key)
    assert closed.status == 200
    gone = await venue.raw("PUT", "/fapi/v1/listenKey", api_key=key.api_key)
    assert gone.code == -1125


async def test_public_endpoints_need_no_key(sim_process: SimProcess, venue: VenueClient) -> None:
    assert (await venue.raw("GET", "/fapi/v1/ping")).body == {}
    server_time = (await venue.raw("GET", "/fapi/v1/time")).body["serverTime"]
    assert abs(server_time - _now_ms()) < 60_000
    info = (await venue.raw("GET", "/fapi/v1/exchangeInfo")).body
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.1"
    assert filters["LOT_SIZE"]["stepSize"] == "0.001"
    assert filters["MIN_NOTIONAL"]["notional"] == "100"


async def test_unknown_paths_answer_json_not_html(venue: VenueClient) -> None:
    reply = await venue.raw("GET", "/fapi/v9/nothing")
    assert reply.status == 404
    assert isinstance(reply.body, dict)
    assert reply.code is not None


async def test_a_non_ascii_signature_is_refused_with_1022_and_journaled(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    since = venue.sim.admin.last_seq()
    reply = await venue.raw(
        "GET", "/fapi/v1/openOrders", f"timestamp={_now_ms()}&signature=%C3%A9", api_key=key.api_key
    )
    assert (reply.status, reply.code) == (400, -1022)
    entries = [e for e in venue.sim.admin.journal(since=since) if e["kind"] == "request"]
    assert [(e["endpoint"], e["status"], e["code"]) for e in entries] == [
        ("GET /fapi/v1/openOrders", 400, -1022)
    ]


async def test_a_non_ascii_digit_is_not_an_integer(venue: VenueClient) -> None:
    """ "²" is a digit to str.isdigit() but no number to int(): a named error, never a 500."""
    key = venue.sim.trader_key
    query = venue.signed("GET", "/fapi/v1/order", key, {"symbol": "BTCUSDT", "orderId": "\u00b2"})
    reply = await query
    assert (reply.status, reply.code) == (400, -1102)
    stamp = await venue.raw(
        "GET", "/fapi/v1/openOrders", "timestamp=%C2%B2&signature=00", api_key=key.api_key
    )
    assert (stamp.status, stamp.code) == (400, -1102)
