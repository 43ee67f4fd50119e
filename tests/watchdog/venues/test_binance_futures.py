"""The adapter on a real HTTP connection to a scripted fake venue on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from tests.watchdog.venues.fake_venue import FakeVenue, Reply, running
from watchdog.venues import (
    BinanceFutures,
    Credentials,
    KeyRefused,
    OrderType,
    RateLimited,
    Side,
    SubAccountRef,
    TimeInForce,
    TimestampOutOfWindow,
    VenueEndpoint,
    VenueProtocolError,
    VenueTimeout,
    VenueUnavailable,
)

KEY = "WATCHDOGKEY0123456789"
SECRET = "watchdog-secret"


class FakeClock:
    def __init__(self, wall: float = 1_700_000_000.0) -> None:
        self.now = wall
        self.mono = 100.0

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono


@pytest.fixture
async def venue() -> AsyncIterator[FakeVenue]:
    async with running(FakeVenue(secrets={KEY: SECRET})) as v:
        v.defaults["GET /fapi/v1/time"] = Reply(200, {"serverTime": 1_700_000_000_000})
        yield v


def _adapter(
    venue: FakeVenue, session: aiohttp.ClientSession, clock: FakeClock | None = None, **kw: float
) -> BinanceFutures:
    endpoint = VenueEndpoint(venue.base_url, **kw)  # type: ignore[arg-type]
    return BinanceFutures(session, endpoint, Credentials(KEY, SECRET), clock=clock or FakeClock())


ORDER = {
    "symbol": "BTCUSDT",
    "orderId": 7,
    "clientOrderId": "c7",
    "side": "BUY",
    "type": "LIMIT",
    "status": "NEW",
    "price": "100",
    "origQty": "1",
    "executedQty": "0",
    "reduceOnly": False,
    "time": 1,
    "updateTime": 1,
}


async def test_signed_reads_carry_the_key_header_and_a_valid_signature(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.defaults["GET /fapi/v1/openOrders"] = Reply(200, [ORDER])
    orders = await _adapter(venue, session).open_orders()
    assert [o.order_id for o in orders] == ["7"]
    (call,) = venue.calls("GET /fapi/v1/openOrders")
    assert call.api_key == KEY
    assert call.signature_ok is True
    assert call.query.startswith("recvWindow=5000&timestamp=1700000000000&signature=")


async def test_order_entry_sends_the_documented_parameters_in_order(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.defaults["POST /fapi/v1/order"] = Reply(200, ORDER)
    ack = await _adapter(venue, session).new_order(
        "BTCUSDT",
        Side.BUY,
        OrderType.LIMIT,
        Decimal("0.0010"),
        price=Decimal("100.50"),
        time_in_force=TimeInForce.GTX,
        reduce_only=True,
        client_order_id="abc-1",
    )
    assert ack.order_id == "7"
    (call,) = venue.calls("POST /fapi/v1/order")
    assert call.signature_ok is True
    assert call.query.split("&recvWindow")[0] == (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTX&quantity=0.001&price=100.5"
        "&reduceOnly=true&newClientOrderId=abc-1&newOrderRespType=RESULT"
    )


async def test_bad_order_arguments_never_reach_the_venue(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    adapter = _adapter(venue, session)
    with pytest.raises(ValueError, match="LIMIT order needs a price"):
        await adapter.new_order("BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal(1))
    with pytest.raises(ValueError, match="MARKET order takes neither"):
        await adapter.new_order("BTCUSDT", Side.BUY, OrderType.MARKET, Decimal(1), price=Decimal(1))
    with pytest.raises(ValueError, match="exactly one of"):
        await adapter.cancel_order("BTCUSDT")
    assert venue.requests == []


async def test_minus_1021_resyncs_the_clock_and_retries_once(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock(wall=1_700_000_000.0 - 30.0)  # local clock 30 s behind the venue
    venue.script(
        "DELETE /fapi/v1/allOpenOrders",
        Reply(400, {"code": -1021, "msg": "Timestamp outside recvWindow"}),
    )
    venue.defaults["DELETE /fapi/v1/allOpenOrders"] = Reply(200, {"code": 200, "msg": "done"})
    adapter = _adapter(venue, session, clock)
    assert await adapter.cancel_all("BTCUSDT") == "200 done"
    first, second = venue.calls("DELETE /fapi/v1/allOpenOrders")
    assert "timestamp=1699999970000" in first.query
    assert "timestamp=1700000000000" in second.query
    assert adapter.time_offset_ms == pytest.approx(30_000.0)


async def test_a_second_minus_1021_surfaces(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.defaults["GET /fapi/v2/account"] = Reply(400, {"code": -1021, "msg": "t"})
    with pytest.raises(TimestampOutOfWindow):
        await _adapter(venue, session).account()
    assert len(venue.calls("GET /fapi/v2/account")) == 2


async def test_429_blocks_the_adapter_until_retry_after_has_passed(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    venue.script(
        "GET /fapi/v1/openOrders", Reply(429, {"code": -1003, "msg": "slow"}, {"Retry-After": "2"})
    )
    venue.defaults["GET /fapi/v1/openOrders"] = Reply(200, [])
    adapter = _adapter(venue, session, clock)
    with pytest.raises(RateLimited) as first:
        await adapter.open_orders()
    assert first.value.retry_after == 2.0
    with pytest.raises(RateLimited, match="still backing off"):
        await adapter.open_orders()
    assert len(venue.calls("GET /fapi/v1/openOrders")) == 1  # the venue was left alone
    clock.mono += 2.5
    assert await adapter.open_orders() == ()


async def test_5xx_is_unavailable_and_weight_headers_are_tracked(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.script("GET /fapi/v1/openOrders", Reply(503, {"code": -1000, "msg": "busy"}))
    venue.defaults["GET /fapi/v1/openOrders"] = Reply(200, [], {"X-MBX-USED-WEIGHT-1M": "41"})
    adapter = _adapter(venue, session)
    with pytest.raises(VenueUnavailable, match="HTTP 503"):
        await adapter.open_orders()
    await adapter.open_orders()
    assert adapter.rate.used_weight_1m == 41


async def test_a_refused_key_is_key_refused(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.defaults["GET /fapi/v2/account"] = Reply(401, {"code": -2015, "msg": "Invalid API-key"})
    with pytest.raises(KeyRefused):
        await _adapter(venue, session).account()


async def test_a_malformed_success_is_an_error_not_an_empty_answer(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.defaults["GET /fapi/v1/openOrders"] = Reply(200, {"unexpected": True})
    with pytest.raises(VenueProtocolError, match="openOrders: expected a JSON array"):
        await _adapter(venue, session).open_orders()


async def test_the_key_probe_needs_no_secret_and_reads_refused_and_accepted(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.script(
        "GET /fapi/v2/balance",
        Reply(400, {"code": -1022, "msg": "Signature for this request is not valid."}),
        Reply(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions"}),
    )
    probe = BinanceFutures(session, VenueEndpoint(venue.base_url), None, clock=FakeClock())
    assert await probe.key_accepted("TRADERKEY") is True
    assert await probe.key_accepted("TRADERKEY") is False
    calls = venue.calls("GET /fapi/v2/balance")
    assert {c.api_key for c in calls} == {"TRADERKEY"}
    assert all(c.query.endswith("&signature=" + "0" * 64) for c in calls)


async def test_the_key_probe_never_reads_an_outage_as_refused(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.defaults["GET /fapi/v2/balance"] = Reply(502, None)
    with pytest.raises(VenueUnavailable):
        await _adapter(venue, session).key_accepted("TRADERKEY")


async def test_sub_account_key_deletion_goes_to_the_sapi_url_signed_by_the_master(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.defaults["DELETE /sapi/v1/sub-account/subAccountApi"] = Reply(200, {})
    endpoint = VenueEndpoint("http://127.0.0.1:9", sapi_url=venue.base_url)
    master = BinanceFutures(session, endpoint, Credentials(KEY, SECRET), clock=FakeClock())
    detail = await master.delete_sub_account_key(
        SubAccountRef("TRADERKEY0123456789", email="trader@sub.example")
    )
    assert "TRAD…6789" in detail
    (call,) = venue.calls("DELETE /sapi/v1/sub-account/subAccountApi")
    assert call.signature_ok is True
    assert call.query.startswith("email=trader%40sub.example&subAccountApiKey=TRADERKEY")


async def test_listen_key_calls_carry_the_key_but_no_signature(
    venue: FakeVenue, session: aiohttp.ClientSession
) -> None:
    venue.defaults["POST /fapi/v1/listenKey"] = Reply(200, {"listenKey": "LK1"})
    venue.defaults["PUT /fapi/v1/listenKey"] = Reply(200, {"listenKey": "LK1"})
    adapter = _adapter(venue, session)
    assert await adapter.create_listen_key() == "LK1"
    await adapter.keepalive_listen_key()
    assert [(c.api_key, c.query) for c in venue.requests] == [(KEY, ""), (KEY, "")]


async def test_a_silent_venue_times_out_as_venue_timeout(session: aiohttp.ClientSession) -> None:
    import asyncio

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.Event().wait()  # accept, read, never answer

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    endpoint = VenueEndpoint(f"http://127.0.0.1:{port}", request_timeout_s=0.3)
    adapter = BinanceFutures(session, endpoint, Credentials(KEY, SECRET), clock=FakeClock())
    with pytest.raises(VenueTimeout):
        await adapter.open_orders()
    server.close()


async def test_a_closed_port_is_unavailable(session: aiohttp.ClientSession) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    adapter = BinanceFutures(
        session,
        VenueEndpoint(f"http://127.0.0.1:{port}"),
        Credentials(KEY, SECRET),
        clock=FakeClock(),
    )
    with pytest.raises(VenueUnavailable):
        await adapter.ping()
