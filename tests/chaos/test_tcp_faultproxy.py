"""The TCP fault proxy against real local servers: each fault does what it says, and heals."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import websockets
from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve

from tests.chaos.echo import TcpEcho, tcp_echo_server, tcp_server, wait_for_condition
from tests.support.faultproxy import AcceptMode, Direction, Latency, TcpFaultProxy, TcpFaults

QUIET_S = 0.5  # how long "nothing arrives" is watched: a window, not a wait for a condition
DEADLINE_S = 10.0


@pytest.fixture
async def echo() -> AsyncIterator[TcpEcho]:
    async with tcp_echo_server() as server:
        yield server


@pytest.fixture
async def proxy(echo: TcpEcho) -> AsyncIterator[TcpFaultProxy]:
    async with TcpFaultProxy(("127.0.0.1", echo.port), rng=random.Random(7)) as running:
        yield running


async def connect(proxy: TcpFaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(*proxy.address)


async def roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> float:
    started = time.monotonic()
    writer.write(data)
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(len(data)), DEADLINE_S) == data
    return time.monotonic() - started


async def nothing_arrives(reader: asyncio.StreamReader) -> bool:
    try:
        await asyncio.wait_for(reader.read(1), QUIET_S)
    except TimeoutError:
        return True
    return False


async def test_a_healthy_proxy_relays_both_ways_and_counts_bytes(proxy: TcpFaultProxy) -> None:
    reader, writer = await connect(proxy)
    await roundtrip(reader, writer, b"hello")
    writer.close()
    stats = proxy.stats()
    assert stats.connections_accepted == 1
    assert stats.upstream.bytes_forwarded == 5
    assert stats.downstream.bytes_forwarded == 5
    assert stats.upstream.chunks_delayed == 0


@pytest.mark.parametrize("direction", list(Direction))
async def test_latency_delays_each_direction_by_at_least_its_base(
    proxy: TcpFaultProxy, direction: Direction
) -> None:
    reader, writer = await connect(proxy)
    await proxy.set_latency(direction, Latency(base_s=0.3, jitter_s=0.05))
    elapsed = await roundtrip(reader, writer, b"ping")
    assert 0.3 <= elapsed < DEADLINE_S
    assert proxy.stats().upstream.chunks_delayed == (direction is Direction.UPSTREAM)
    writer.close()


async def test_a_periodic_spike_hits_only_every_nth_chunk(proxy: TcpFaultProxy) -> None:
    reader, writer = await connect(proxy)
    await proxy.set_latency(Direction.DOWNSTREAM, Latency(spike_s=1.0, spike_every=3))
    elapsed = [await roundtrip(reader, writer, b"x") for _ in range(3)]
    assert elapsed[0] < 1.0
    assert elapsed[1] < 1.0
    assert elapsed[2] >= 1.0
    assert proxy.stats().downstream.chunks_delayed == 1
    writer.close()


async def test_latency_keeps_the_byte_order_of_the_stream(proxy: TcpFaultProxy) -> None:
    await proxy.set_latency(Direction.UPSTREAM, Latency(base_s=0.01, jitter_s=0.05))
    reader, writer = await connect(proxy)
    payload = b"".join(f"{i:05d}".encode() for i in range(200))
    for i in range(0, len(payload), 50):
        writer.write(payload[i : i + 50])
        await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(len(payload)), DEADLINE_S) == payload
    writer.close()


async def test_a_stall_keeps_the_socket_open_and_delivers_nothing_until_healed(
    proxy: TcpFaultProxy, echo: TcpEcho
) -> None:
    reader, writer = await connect(proxy)
    await roundtrip(reader, writer, b"warm")
    await proxy.stall()
    writer.write(b"held")
    await writer.drain()
    assert await nothing_arrives(reader)
    assert not reader.at_eof()
    assert bytes(echo.received) == b"warm"  # not even the upstream saw it
    assert proxy.stats().connections_open == 1
    await proxy.heal()
    assert await asyncio.wait_for(reader.readexactly(4), DEADLINE_S) == b"held"
    writer.close()


async def test_a_downstream_stall_lets_requests_through_but_no_answer_back(
    proxy: TcpFaultProxy, echo: TcpEcho
) -> None:
    reader, writer = await connect(proxy)
    await proxy.stall(Direction.DOWNSTREAM)
    writer.write(b"order")
    await writer.drain()
    await wait_for_condition(lambda: bytes(echo.received) == b"order", what="upstream got it")
    assert await nothing_arrives(reader)
    await proxy.heal()
    assert await asyncio.wait_for(reader.readexactly(5), DEADLINE_S) == b"order"
    writer.close()


async def test_a_stall_blocks_a_fast_sender_and_loses_no_byte_once_healed() -> None:
    # More than the proxy queue (4 MiB) plus the largest kernel buffers before it (tcp_wmem and
    # tcp_rmem maxima, 4 + 32 MiB on Debian 12): the sender must end up blocked.
    total = 64 * 1024 * 1024
    block = bytes(range(256)) * 256
    sent_all = asyncio.Event()
    received, digest = 0, hashlib.sha256()

    async def firehose(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(total // len(block)):
            writer.write(block)
            await writer.drain()
        sent_all.set()
        await reader.read()

    async def consume(reader: asyncio.StreamReader) -> None:
        nonlocal received
        while received < total:
            chunk = await reader.read(1 << 20)
            assert chunk, "the stream ended early"
            digest.update(chunk)
            received += len(chunk)

    async with tcp_server(firehose) as port, TcpFaultProxy(("127.0.0.1", port)) as proxy:
        await proxy.stall(Direction.DOWNSTREAM)
        reader, writer = await connect(proxy)
        async with asyncio.timeout(120), asyncio.TaskGroup() as tasks:
            tasks.create_task(consume(reader))  # a client that reads as fast as it can
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(sent_all.wait(), QUIET_S * 2)  # the sender is blocked
            assert received == 0
            assert proxy.stats().downstream.bytes_forwarded == 0
            await proxy.heal()
        expected = hashlib.sha256()
        for _ in range(total // len(block)):
            expected.update(block)
        assert received == total
        assert digest.digest() == expected.digest()
        writer.close()


async def test_reset_gives_both_peers_a_connection_reset(
    proxy: TcpFaultProxy, echo: TcpEcho
) -> None:
    reader, writer = await connect(proxy)
    await roundtrip(reader, writer, b"live")
    assert await proxy.reset_connections() == 1
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(1), DEADLINE_S)
    await wait_for_condition(lambda: echo.endings == ["reset"], what="upstream saw the reset")
    assert proxy.stats().connections_reset == 1
    assert proxy.stats().connections_open == 0


async def test_a_reset_from_the_upstream_reaches_the_client_as_a_reset(
    proxy: TcpFaultProxy, echo: TcpEcho
) -> None:
    reader, writer = await connect(proxy)
    await roundtrip(reader, writer, b"live")
    echo.reset_all()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(1), DEADLINE_S)
    await wait_for_condition(lambda: proxy.stats().connections_reset == 1)


async def test_close_connections_ends_both_sides_cleanly(
    proxy: TcpFaultProxy, echo: TcpEcho
) -> None:
    reader, writer = await connect(proxy)
    await roundtrip(reader, writer, b"live")
    assert await proxy.close_connections() == 1
    assert await asyncio.wait_for(reader.read(1), DEADLINE_S) == b""
    await wait_for_condition(lambda: echo.endings == ["eof"], what="upstream saw a clean close")
    writer.close()


async def test_a_half_close_travels_through_and_the_answer_still_arrives(
    proxy: TcpFaultProxy, echo: TcpEcho
) -> None:
    reader, writer = await connect(proxy)
    writer.write(b"last words")
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), DEADLINE_S) == b"last words"
    await wait_for_condition(lambda: echo.endings == ["eof"])
    writer.close()


async def test_refuse_by_reset_resets_new_connections_but_keeps_open_ones(
    proxy: TcpFaultProxy, echo: TcpEcho
) -> None:
    old_reader, old_writer = await connect(proxy)
    await proxy.refuse(AcceptMode.RESET)
    reader, writer = await connect(proxy)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(1), DEADLINE_S)
    await roundtrip(old_reader, old_writer, b"still here")
    assert echo.connections == 1
    assert proxy.stats().connections_refused == 1
    await proxy.heal()
    reader, writer = await connect(proxy)
    await roundtrip(reader, writer, b"back")
    old_writer.close()
    writer.close()


async def test_refuse_by_closing_the_listener_gives_connection_refused_then_comes_back(
    proxy: TcpFaultProxy,
) -> None:
    address = proxy.address
    await proxy.refuse(AcceptMode.CLOSED)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*address)
    await proxy.heal()
    assert proxy.address == address
    reader, writer = await asyncio.open_connection(*address)
    await roundtrip(reader, writer, b"back")
    writer.close()


async def test_a_hung_accept_connects_into_a_void(proxy: TcpFaultProxy, echo: TcpEcho) -> None:
    await proxy.refuse(AcceptMode.HANG)
    reader, writer = await connect(proxy)
    writer.write(b"anyone?")
    await writer.drain()
    assert await nothing_arrives(reader)
    assert echo.connections == 0
    assert proxy.stats().connections_hung == 1
    await proxy.reset_connections()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(1), DEADLINE_S)


async def test_an_unreachable_upstream_resets_the_client() -> None:
    async with tcp_echo_server() as gone:
        port = gone.port
    async with TcpFaultProxy(("127.0.0.1", port)) as proxy:
        reader, _ = await connect(proxy)
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(1), DEADLINE_S)
        assert proxy.stats().upstream_failures == 1


async def test_websocket_traffic_passes_and_feels_every_fault() -> None:
    async def echo_ws(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    async with serve(echo_ws, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with TcpFaultProxy(("127.0.0.1", port)) as proxy:
            host, proxy_port = proxy.address
            async with websockets.connect(f"ws://{host}:{proxy_port}/ws") as ws:
                await ws.send("tick")
                assert await asyncio.wait_for(ws.recv(), DEADLINE_S) == "tick"
                await proxy.set_latency(Direction.DOWNSTREAM, Latency(base_s=0.3))
                started = time.monotonic()
                await ws.send("slow")
                assert await asyncio.wait_for(ws.recv(), DEADLINE_S) == "slow"
                assert time.monotonic() - started >= 0.3
                await proxy.stall()
                await ws.send("stalled")
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(ws.recv(), QUIET_S)
                await proxy.heal()
                assert await asyncio.wait_for(ws.recv(), DEADLINE_S) == "stalled"
                await proxy.reset_connections()
                with pytest.raises(websockets.ConnectionClosedError):
                    await asyncio.wait_for(ws.recv(), DEADLINE_S)


async def test_http_keep_alive_reuses_one_proxied_connection() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/ping", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with TcpFaultProxy(("127.0.0.1", port)) as proxy:
            host, proxy_port = proxy.address
            timeout = aiohttp.ClientTimeout(total=DEADLINE_S)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                for _ in range(3):
                    async with session.get(f"http://{host}:{proxy_port}/ping") as response:
                        assert await response.text() == "ok"
            assert proxy.stats().connections_accepted == 1
    finally:
        await runner.cleanup()


async def test_closing_the_proxy_leaves_no_task_behind(echo: TcpEcho) -> None:
    proxy = TcpFaultProxy(("127.0.0.1", echo.port))
    async with proxy:
        await proxy.stall()
        writers = [(await connect(proxy))[1] for _ in range(3)]
        for writer in writers:
            writer.write(b"stuck")
        await wait_for_condition(lambda: proxy.stats().connections_open == 3)
    leftovers = [
        task
        for task in asyncio.all_tasks()
        if task.get_coro().__qualname__.startswith("TcpFaultProxy")  # type: ignore[union-attr]
    ]
    assert leftovers == []
    for writer in writers:
        writer.close()


async def test_faults_can_be_swapped_at_once(proxy: TcpFaultProxy) -> None:
    faults = TcpFaults(downstream=Latency(base_s=0.1), stall_upstream=True)
    await proxy.set_faults(faults)
    assert proxy.faults == faults
    await proxy.heal()
    assert proxy.faults == TcpFaults()


async def test_many_concurrent_connections_each_get_their_own_bytes_back(
    proxy: TcpFaultProxy,
) -> None:
    await proxy.set_latency(Direction.DOWNSTREAM, Latency(jitter_s=0.02))

    async def client(i: int) -> bytes:
        reader, writer = await connect(proxy)
        payload = f"client-{i:03d}".encode() * 100
        writer.write(payload)
        await writer.drain()
        got = await asyncio.wait_for(reader.readexactly(len(payload)), DEADLINE_S)
        writer.close()
        return got

    results = await asyncio.gather(*(client(i) for i in range(50)))
    assert results == [f"client-{i:03d}".encode() * 100 for i in range(50)]
    assert proxy.stats().connections_accepted == 50


async def test_a_proxy_started_closed_refuses_until_healed(echo: TcpEcho) -> None:
    closed = TcpFaults(accept=AcceptMode.CLOSED)
    async with TcpFaultProxy(("127.0.0.1", echo.port), faults=closed) as proxy:
        with pytest.raises(ConnectionRefusedError):
            await connect(proxy)
        await proxy.heal()
        reader, writer = await connect(proxy)
        await roundtrip(reader, writer, b"open")
        writer.close()
