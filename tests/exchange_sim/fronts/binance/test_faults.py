"""Every fault the admin API injects, observed from the client side."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from harness.sim import AdminError, SimProcess
from tests.exchange_sim.venue_client import VenueClient


async def test_rest_latency_delays_every_response(venue: VenueClient) -> None:
    venue.sim.admin.set_fault(rest_latency={"fixed_ms": 300})
    start = time.monotonic()
    assert (await venue.raw("GET", "/fapi/v1/ping")).status == 200
    assert time.monotonic() - start >= 0.29
    venue.sim.admin.clear_faults()
    assert venue.sim.admin.set_fault()["rest_latency"] is None


async def test_latency_spikes_hit_some_requests(venue: VenueClient) -> None:
    venue.sim.admin.set_fault(
        rest_latency={"fixed_ms": 0, "jitter_ms": 5, "spike_ms": 250, "spike_probability": 0.5}
    )
    durations = []
    for _ in range(16):
        start = time.monotonic()
        await venue.raw("GET", "/fapi/v1/ping")
        durations.append(time.monotonic() - start)
    assert any(d >= 0.24 for d in durations)  # P(no spike in 16) = 2**-16
    assert any(d < 0.24 for d in durations)


@pytest.mark.parametrize(
    ("kind", "status", "code"), [("5xx", 502, -1001), ("429", 429, -1003), ("-1021", 400, -1021)]
)
async def test_fail_next_n_requests(venue: VenueClient, kind: str, status: int, code: int) -> None:
    venue.sim.admin.set_fault(fail_next={"count": 2, "kind": kind, "status": 502})
    key = venue.sim.trader_key
    for _ in range(2):
        reply = await venue.open_orders(key)
        assert (reply.status, reply.code) == (status, code)
        if kind == "429":
            assert int(reply.headers["Retry-After"]) >= 1
    assert (await venue.open_orders(key)).status == 200


async def test_fail_next_can_target_one_endpoint(venue: VenueClient) -> None:
    venue.sim.admin.set_fault(
        fail_next={"count": 1, "kind": "5xx", "endpoint": "POST /fapi/v1/order"}
    )
    key = venue.sim.trader_key
    assert (await venue.open_orders(key)).status == 200
    assert (await venue.limit(key, "BUY", "50000")).status == 503
    assert (await venue.limit(key, "BUY", "50000")).status == 200


async def test_reject_orders_refuses_new_orders_but_never_cancels(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    placed = await venue.limit(key, "BUY", "50000")
    venue.sim.admin.set_fault(reject_orders=True)
    refused = await venue.limit(key, "BUY", "50000")
    assert refused.status >= 400
    assert refused.code is not None
    cancel = await venue.signed("DELETE", "/fapi/v1/allOpenOrders", key, {"symbol": "BTCUSDT"})
    assert cancel.status == 200
    assert venue.sim.admin.open_orders("trader1") == []
    assert placed.status == 200


async def test_reject_orders_answers_the_overload_error_by_default(venue: VenueClient) -> None:
    state = venue.sim.admin.set_fault(reject_orders=True)
    assert state["reject_orders"] == {"code": -1008}
    refused = await venue.limit(venue.sim.trader_key, "BUY", "50000")
    assert (refused.status, refused.code) == (503, -1008)


async def test_reject_orders_can_answer_a_real_rejection(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    state = venue.sim.admin.set_fault(reject_orders={"code": -2019})
    assert state["reject_orders"] == {"code": -2019}
    refused = await venue.limit(key, "BUY", "50000", newClientOrderId="refused-1")
    assert refused.status == 400
    assert refused.body == {"code": -2019, "msg": "Margin is insufficient."}
    assert venue.sim.admin.open_orders("trader1") == []  # a definite rejection: no order
    gone = await venue.signed(
        "GET", "/fapi/v1/order", key, {"symbol": "BTCUSDT", "origClientOrderId": "refused-1"}
    )
    assert gone.code == -2013
    assert venue.sim.admin.set_fault(reject_orders=False)["reject_orders"] is False
    assert (await venue.limit(key, "BUY", "50000")).status == 200


async def test_paused_matching_leaves_crossed_orders_resting(venue: VenueClient) -> None:
    sim, key = venue.sim, venue.sim.trader_key
    bid = float(sim.admin.quotes()["BTCUSDT"]["bid"])
    resting = await venue.limit(key, "BUY", f"{bid - 100:.1f}")
    sim.admin.set_fault(pause_matching=True)
    sim.admin.price_jump("BTCUSDT", -5)
    assert sim.admin.open_orders("trader1")[0]["status"] == "NEW"
    market = await venue.order(
        key, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newOrderRespType="RESULT"
    )
    assert market.body["status"] == "EXPIRED"
    assert market.body["executedQty"] == "0"
    sim.admin.set_fault(pause_matching=False)
    sim.admin.price_jump("BTCUSDT", -0.01)
    assert sim.admin.open_orders("trader1") == []
    assert resting.status == 200


async def test_bad_fault_specs_are_refused(frozen_sim: SimProcess) -> None:
    specs: tuple[dict[str, Any], ...] = (
        {"rest_latency": {"fixed_ms": -1}},
        {"fail_next": {"kind": "teapot"}},
        {"nonsense": True},
        {"reject_orders": "yes"},
        {"reject_orders": {"code": -2020}},
        {"reject_orders": {"code": "-2019"}},
        {"reject_orders": {"code": -2019, "msg": "custom"}},
        {"reject_orders": {}},
    )
    for spec in specs:
        with pytest.raises(AdminError, match="400"):
            frozen_sim.admin.set_fault(**spec)
    with pytest.raises(AdminError, match="400"):
        frozen_sim.admin.streams("explode")


async def _next_ticker(ws: websockets.ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), 10.0)


async def _drain(ws: websockets.ClientConnection) -> None:
    while True:
        await _next_ticker(ws)


async def _until_closed(ws: websockets.ClientConnection) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as closed:
        await _drain(ws)
    return closed.value


async def test_a_stalled_stream_stays_open_and_silent_until_resumed(
    sim_process: SimProcess,
) -> None:
    async with websockets.connect(f"{sim_process.ws_url}/ws/btcusdt@bookTicker") as ws:
        await _next_ticker(ws)
        assert sim_process.admin.streams("stall", "market") == 1
        await asyncio.sleep(0.3)  # let messages already in flight arrive, then expect silence
        while True:
            try:
                await asyncio.wait_for(ws.recv(), 0.3)
            except TimeoutError:
                break
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 1.0)  # 10 Hz market: 10 events would have come
        assert ws.state.name == "OPEN"
        sim_process.admin.streams("resume", "market")
        await _next_ticker(ws)


async def test_close_sends_a_clean_close_frame(sim_process: SimProcess) -> None:
    async with websockets.connect(f"{sim_process.ws_url}/ws/btcusdt@bookTicker") as ws:
        await _next_ticker(ws)
        assert sim_process.admin.streams("close", "market") == 1
        closed = await _until_closed(ws)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 1001


async def test_reset_drops_the_connection_without_a_close_frame(sim_process: SimProcess) -> None:
    async with websockets.connect(f"{sim_process.ws_url}/ws/btcusdt@bookTicker") as ws:
        await _next_ticker(ws)
        assert sim_process.admin.streams("reset", "all") == 1
        closed = await _until_closed(ws)
        assert closed.rcvd is None  # no close frame: the socket was reset


async def test_reset_of_user_streams_spares_market_streams(
    sim_process: SimProcess, session: aiohttp.ClientSession
) -> None:
    venue = VenueClient(sim_process, session)
    token = await venue.listen_key(sim_process.watchdog_key)
    user = await session.ws_connect(f"{sim_process.ws_url}/ws/{token}")
    market = await session.ws_connect(f"{sim_process.ws_url}/ws/ethusdt@bookTicker")
    assert sim_process.admin.streams("reset", "user") == 1
    msg = await user.receive(timeout=10)
    assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE)
    assert (await market.receive_json(timeout=10))["s"] == "ETHUSDT"
    await market.close()


async def test_stream_latency_delays_events(sim_process: SimProcess) -> None:
    async with websockets.connect(f"{sim_process.ws_url}/ws/btcusdt@bookTicker") as ws:
        await _next_ticker(ws)
        sim_process.admin.set_fault(stream_latency={"fixed_ms": 600})
        lags: list[float] = []
        deadline = time.monotonic() + 10
        while len(lags) < 3 and time.monotonic() < deadline:
            event = orjson.loads(await _next_ticker(ws))
            lags.append(time.time() * 1000 - event["E"])
        assert max(lags) >= 500


async def test_price_jump_moves_the_market(frozen_sim: SimProcess) -> None:
    before = float(frozen_sim.admin.quotes()["BTCUSDT"]["mid"])
    after = frozen_sim.admin.price_jump("BTCUSDT", -10)
    assert float(after["bid"]) == pytest.approx(before * 0.9, rel=1e-3)
    assert any(e["endpoint"] == "price_jump" for e in frozen_sim.admin.journal())


async def test_a_stalled_user_stream_delivers_nothing_until_resumed(
    venue: VenueClient, session: aiohttp.ClientSession
) -> None:
    sim = venue.sim
    ws = await session.ws_connect(f"{sim.ws_url}/ws/{await venue.listen_key(sim.watchdog_key)}")
    sim.admin.streams("stall", "user")
    await venue.limit(sim.trader_key, "BUY", "50000")
    with pytest.raises(TimeoutError):
        await ws.receive(timeout=1.0)
    sim.admin.streams("resume", "user")
    await venue.limit(sim.trader_key, "BUY", "50001")
    event = await ws.receive_json(timeout=10)
    assert event["o"]["p"] == "50001"  # the stalled event was never sent: a gap, as on a real stall
    await ws.close()


def test_admin_input_is_validated_not_crashed(frozen_sim: SimProcess) -> None:
    for method, path, body in [
        ("POST", "/admin/faults", b"not json"),
        ("POST", "/admin/faults", b"[1, 2]"),
        ("POST", "/admin/price-jump", b'{"symbol": "BTCUSDT", "pct": "lots"}'),
        ("POST", "/admin/price-jump", b'{"symbol": "NOPE", "pct": 1}'),
        ("POST", "/admin/streams", b'{"action": "close", "kind": "both"}'),
        ("GET", "/admin/journal?since=abc", None),
        ("GET", "/admin/open-orders?account=nobody", None),
    ]:
        req = urllib.request.Request(frozen_sim.admin_url + path, data=body, method=method)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 400, path
        assert "error" in json.loads(err.value.read())


async def test_fail_next_can_answer_what_no_venue_documents(venue: VenueClient) -> None:
    """A proxy's HTML page, an empty answer, an unknown code: what a client must not trust."""
    admin, key = venue.sim.admin, venue.sim.trader_key
    admin.set_fault(fail_next={"count": 1, "kind": "html", "status": 502})
    html = await venue.open_orders(key)
    assert html.status == 502
    assert html.headers["Content-Type"].startswith("text/html")
    assert isinstance(html.body, str)
    assert "<html>" in html.body
    admin.set_fault(fail_next={"count": 1, "kind": "empty"})
    empty = await venue.limit(key, "BUY", "50000")
    assert (empty.status, empty.body) == (200, {})
    admin.set_fault(fail_next={"count": 1, "kind": "unknown_code"})
    unknown = await venue.open_orders(key)
    assert (unknown.status, unknown.code) == (400, -9999)
    kinds = [e["detail"] for e in admin.journal() if e["endpoint"] == "GET /fapi/v1/openOrders"]
    assert kinds[:2] == ["injected proxy page", ""]
