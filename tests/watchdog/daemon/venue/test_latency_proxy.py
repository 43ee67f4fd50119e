"""The latency proxy adds its delay to each direction and keeps bytes in order."""

from __future__ import annotations

import asyncio
import time

from tests.watchdog.daemon.venue.latency_proxy import latency_proxy


async def test_a_round_trip_through_the_proxy_costs_twice_the_delay() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with latency_proxy("127.0.0.1", port, 0.05) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        began = time.monotonic()
        writer.write(b"ping-1 ")
        writer.write(b"ping-2")
        await writer.drain()
        got = b""
        while len(got) < 13:
            got += await reader.read(1024)
        elapsed = time.monotonic() - began
        writer.close()
    server.close()
    assert got == b"ping-1 ping-2"
    assert elapsed >= 0.1
