"""The order-entry fast path against exchange_sim, a real aiohttp server and a misbehaving peer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import web

import watchdog.venues as wv
from harness.sim import SimProcess
from tests.trader.helpers import RealClock, wait_until
from tests.trader.test_orders import BID, BTC, Recorder
from trader.fastpath import FastOrderEntry, FastPathConfig, OrderSigner
from trader.orders import OrderManager
from trader.strategy import Plan, Side
from trader.venue import (
    BinanceOrderVenue,
    OrderRequest,
    VenueThrottled,
    VenueUnavailable,
    open_order_session,
)

SIM_ACCOUNT = "trader1"
FAST = FastPathConfig(connections=2, request_timeout_s=3.0, reconnect_initial_s=0.01)


def request(cid: str, price: str = "50000.0") -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, price, "0.002", cid, reduce_only=False)


async def no_resync() -> None:
    return None


def entry_for(url: str, creds: wv.Credentials, config: FastPathConfig = FAST) -> FastOrderEntry:
    clock = RealClock()
    return FastOrderEntry(
        url,
        OrderSigner(url, creds, 5000),
        lambda: int(clock.wall() * 1000),
        no_resync,
        config,
    )


@contextlib.asynccontextmanager
async def running(entry: FastOrderEntry, ready: int = 1) -> AsyncIterator[FastOrderEntry]:
    task = asyncio.get_running_loop().create_task(entry.run())
    try:
        async with asyncio.timeout(15):
            await entry.wait_ready(ready)
        yield entry
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    process = SimProcess.start(tmp_path_factory.mktemp("fastpath"))
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def creds(sim: SimProcess) -> Iterator[wv.Credentials]:
    sim.admin.clear_faults()
    yield wv.Credentials(sim.trader_key.api_key, sim.trader_key.secret)
    sim.admin.clear_faults()
    _cancel_all(sim)


def _cancel_all(sim: SimProcess) -> None:
    async def sweep() -> None:
        async with open_order_session() as session:
            key = sim.trader_key
            adapter = wv.BinanceFutures(
                session, wv.VenueEndpoint(sim.base_url), wv.Credentials(key.api_key, key.secret)
            )
            for order in await adapter.open_orders():
                await adapter.cancel_order(order.symbol, client_order_id=order.client_order_id)

    asyncio.run(sweep())


# -- the request bytes ---------------------------------------------------------------------


def test_the_signature_is_the_venue_adapters_over_the_exact_query_sent() -> None:
    creds = wv.Credentials("key", "secret")
    signer = OrderSigner("http://127.0.0.1:8080", creds, 5000)
    raw = signer.new_order(request("mm1-t-1"), 1_700_000_000_000).decode()
    line, _, rest = raw.partition("\r\n")
    target = line.split(" ")[1]
    path, _, query = target.partition("?")
    signed, _, signature = query.rpartition("&signature=")
    assert path == "/fapi/v1/order"
    assert signature == creds.sign(signed)
    assert "timeInForce=GTX" in signed
    assert "newClientOrderId=mm1-t-1" in signed
    assert "Host: 127.0.0.1:8080\r\nX-MBX-APIKEY: key\r\n" in rest
    assert raw.endswith("Content-Length: 0\r\n\r\n")


@pytest.mark.parametrize(("post_only", "reduce_only"), [(True, False), (False, True)])
def test_prepared_signing_sends_the_bytes_of_signing_the_whole_query(
    post_only: bool, reduce_only: bool
) -> None:
    creds = wv.Credentials("key", "secret")
    signer = OrderSigner("http://127.0.0.1:8080", creds, 5000)
    for n, side in enumerate((Side.BUY, Side.SELL, Side.BUY)):  # the third reuses a prepared one
        order = replace(
            request(f"mm1-t-{n}"), side=side, post_only=post_only, reduce_only=reduce_only
        )
        query = signer.query(order, 1_700_000_000_000 + n)
        assert query.startswith(f"symbol=BTCUSDT&side={side.value}&type=LIMIT&timeInForce=")
        assert ("&reduceOnly=true&" in query) is reduce_only
        expected = f"POST /fapi/v1/order?{query}&signature={creds.sign(query)} HTTP/1.1\r\n"
        raw = signer.new_order(order, 1_700_000_000_000 + n).decode()
        assert raw.startswith(expected)


def test_values_outside_the_unreserved_set_are_percent_encoded() -> None:
    signer = OrderSigner("http://h", wv.Credentials("k", "s"), 5000)
    assert "newClientOrderId=a%2Fb%3Ac" in signer.query(request("a/b:c"), 1)


# -- against exchange_sim ----------------------------------------------------------------------


async def test_orders_placed_over_the_fast_path_rest_at_the_venue(
    sim: SimProcess, creds: wv.Credentials
) -> None:
    async with running(entry_for(sim.base_url, creds), ready=2) as entry:
        pending = [entry.try_place(request(f"mm1-fp-{n}")) for n in range(2)]
        assert all(p is not None for p in pending)
        reports = [await p.report() for p in pending if p is not None]
        assert [r.status for r in reports] == ["NEW", "NEW"]
        # The same connections serve the next orders (keep-alive).
        again = entry.try_place(request("mm1-fp-2"))
        assert again is not None
        assert (await again.report()).client_id == "mm1-fp-2"
    resting = {o["clientOrderId"] for o in sim.admin.open_orders(SIM_ACCOUNT)}
    assert resting >= {"mm1-fp-0", "mm1-fp-1", "mm1-fp-2"}
    assert entry.fallbacks == 0


async def test_a_429_is_throttled_with_the_venues_retry_after(
    sim: SimProcess, creds: wv.Credentials
) -> None:
    sim.admin.set_fault(fail_next={"count": 1, "kind": "429", "endpoint": "POST /fapi/v1/order"})
    async with running(entry_for(sim.base_url, creds)) as entry:
        pending = entry.try_place(request("mm1-fp-9"))
        assert pending is not None
        with pytest.raises(VenueThrottled) as throttled:
            await pending.report()
    assert throttled.value.retry_after_s is not None


async def test_the_order_manager_pauses_new_orders_after_a_fast_path_429(
    sim: SimProcess, creds: wv.Credentials
) -> None:
    sim.admin.set_fault(fail_next={"count": 1, "kind": "429", "endpoint": "POST /fapi/v1/order"})
    async with running(entry_for(sim.base_url, creds)) as entry, _manager(sim, entry) as (m, rec):
        m.execute("BTCUSDT", Plan((), (BID,)), None)
        await wait_until(lambda: "rejected" in rec.kinds(), what="the 429")
        assert m.throttled()
        m.execute("BTCUSDT", Plan((), (BID,)), None)
        assert m.submitted == 1  # nothing was sent while the venue asked for a pause


async def test_with_no_connection_ready_new_orders_fall_back_to_aiohttp(
    sim: SimProcess, creds: wv.Credentials
) -> None:
    entry = entry_for(sim.base_url, creds)  # never started: no connection
    assert entry.try_place(request("mm1-fp-x")) is None
    assert entry.fallbacks == 1
    async with _manager(sim, entry) as (manager, rec):
        manager.execute("BTCUSDT", Plan((), (BID,)), None)
        await wait_until(lambda: "acked" in rec.kinds(), what="the aiohttp ack")
        assert len(sim.admin.open_orders(SIM_ACCOUNT)) == 1
    assert entry.fallbacks == 2


@contextlib.asynccontextmanager
async def _manager(
    sim: SimProcess, entry: FastOrderEntry
) -> AsyncIterator[tuple[OrderManager, Recorder]]:
    key = sim.trader_key
    async with open_order_session() as session:
        adapter = wv.BinanceFutures(
            session, wv.VenueEndpoint(sim.base_url), wv.Credentials(key.api_key, key.secret)
        )
        recorder = Recorder()
        async with asyncio.TaskGroup() as tg:
            manager = OrderManager(
                BinanceOrderVenue(adapter),
                {"BTCUSDT": BTC},
                recorder,
                RealClock(),
                tg.create_task,
                trader_id="mm1",
                session="fp",
                request_timeout_s=3.0,
                fast=entry,
            )
            yield manager, recorder
            manager.cancel_all("test over")
            async with asyncio.timeout(15):
                await manager.wait_no_orders()


# -- a peer that cuts the answer: the order is unknown, then resolved -------------------------


class CuttingProxy:
    """Forwards to the sim; for the first ``cut`` answers it forwards a few bytes, then resets."""

    def __init__(self, target_port: int, cut: int, mode: str) -> None:
        self._port = target_port
        self.cut = cut
        self.mode = mode  # "reset" (RST mid-answer) or "close" (FIN mid-answer)
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._port)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                up_writer.write(head)
                answer = await up_reader.readuntil(b"\r\n\r\n")
                length = _content_length(answer)
                answer += await up_reader.readexactly(length)
                if self.cut > 0:
                    self.cut -= 1
                    writer.write(answer[:20])
                    await writer.drain()
                    if self.mode == "reset":
                        writer.transport.abort()
                    else:
                        writer.close()
                    return
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            up_writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.mark.parametrize("mode", ["reset", "close"])
async def test_an_answer_cut_mid_way_makes_the_order_unknown_then_resolved(
    sim: SimProcess, creds: wv.Credentials, mode: str
) -> None:
    port = int(sim.base_url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, cut=1, mode=mode)
    url = await proxy.start()
    try:
        async with (
            running(entry_for(url, creds), ready=2) as entry,
            _manager(sim, entry) as (manager, rec),
        ):
            manager.execute("BTCUSDT", Plan((), (BID,)), None)
            await wait_until(lambda: "cancelled" in rec.kinds(), within=20, what="resolved")
            [(_, _, reason)] = [e for e in rec.events if e[0] == "cancelled"]
            assert reason == "outcome unknown"
            assert not manager.orders()
            # The order did reach the venue: the journal has it, and the cancel by client id
            # took it away.
            assert any(e["endpoint"] == "DELETE /fapi/v1/order" for e in sim.admin.journal())
            assert sim.admin.open_orders(SIM_ACCOUNT) == []
            # The dropped connection is replaced in the background.
            await wait_until(lambda: entry.ready_count == 2, what="reconnect")
    finally:
        assert proxy.server is not None
        proxy.server.close()


# -- against a real local aiohttp server ------------------------------------------------------


@contextlib.asynccontextmanager
async def aiohttp_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


ACK = {
    "symbol": "BTCUSDT",
    "orderId": 7,
    "clientOrderId": "mm1-a-1",
    "side": "BUY",
    "type": "LIMIT",
    "status": "NEW",
    "price": "50000.0",
    "origQty": "0.002",
    "executedQty": "0",
    "avgPrice": "0",
    "timeInForce": "GTX",
    "reduceOnly": False,
    "updateTime": 1,
}


async def test_a_chunked_answer_from_aiohttp_is_read_and_the_connection_reused() -> None:
    seen: list[str] = []

    async def handler(req: web.Request) -> web.StreamResponse:
        seen.append(req.path)
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(req)
        await resp.write(aiohttp.JsonPayload(ACK)._value)
        await resp.write_eof()
        return resp

    creds = wv.Credentials("k", "s")
    async with aiohttp_server(handler) as url, running(entry_for(url, creds)) as entry:
        for _ in range(3):
            pending = entry.try_place(request("mm1-a-1"))
            assert pending is not None
            assert (await pending.report()).status == "NEW"
        assert entry.ready_count == 2
    assert seen == ["/fapi/v1/order"] * 3


async def test_a_server_that_closes_after_answering_is_reconnected() -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        return web.json_response(ACK, headers={"Connection": "close"})

    creds = wv.Credentials("k", "s")
    config = FastPathConfig(connections=1, request_timeout_s=3.0, reconnect_initial_s=0.01)
    async with aiohttp_server(handler) as url, running(entry_for(url, creds, config)) as entry:
        for _ in range(3):
            await wait_until(lambda: entry.ready_count == 1, what="a ready connection")
            pending = entry.try_place(request("mm1-a-1"))
            assert pending is not None
            assert (await pending.report()).client_id == "mm1-a-1"


async def test_no_answer_within_the_timeout_is_an_unknown_outcome() -> None:
    release = asyncio.Event()

    async def handler(req: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.json_response(ACK)

    creds = wv.Credentials("k", "s")
    config = FastPathConfig(connections=1, request_timeout_s=0.3, reconnect_initial_s=0.01)
    async with aiohttp_server(handler) as url, running(entry_for(url, creds, config)) as entry:
        pending = entry.try_place(request("mm1-a-1"))
        assert pending is not None
        assert entry.try_place(request("mm1-a-2")) is None  # one request per connection
        with pytest.raises(VenueUnavailable, match="no answer within"):
            await pending.report()
        release.set()
