"""Real local echo servers the proxy tests put behind the proxy, each recording what it saw."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from tests.support.faultproxy import send_rst


async def wait_for_condition(
    condition: Callable[[], bool], *, timeout_s: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``condition`` until true; fail with ``what`` after a generous deadline."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 -- the state polled has no event to await
            await asyncio.sleep(0.01)
    assert condition(), what


@dataclass
class TcpEcho:
    """Echoes every chunk back; records connections, bytes and how each connection ended."""

    port: int = 0
    connections: int = 0
    received: bytearray = field(default_factory=bytearray)
    endings: list[str] = field(default_factory=list)  # "eof" | "reset"
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while data := await reader.read(65536):
                self.received += data
                writer.write(data)
                await writer.drain()
            self.endings.append("eof")
        except ConnectionResetError:
            self.endings.append("reset")
        finally:
            writer.close()

    def reset_all(self) -> None:
        for writer in self.writers:
            send_rst(writer)


@contextlib.asynccontextmanager
async def tcp_echo_server() -> AsyncIterator[TcpEcho]:
    echo = TcpEcho()
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        await echo.handle(reader, writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    echo.port = server.sockets[0].getsockname()[1]
    try:
        yield echo
    finally:
        server.close()
        for writer in echo.writers:
            writer.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


@contextlib.asynccontextmanager
async def tcp_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    """A server with a custom per-connection handler; yields its port."""
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


class DatagramEcho(asyncio.DatagramProtocol):
    """Echoes every datagram to its sender; records payloads and senders in arrival order."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.received: list[bytes] = []
        self.senders: list[Any] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append(data)
        self.senders.append(addr)
        if self.transport is not None and addr:
            self.transport.sendto(b"echo:" + data, addr)


class DatagramClient(asyncio.DatagramProtocol):
    """A client endpoint that queues what it receives."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.inbox: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.inbox.put_nowait((data, addr))

    def send(self, data: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.transport.sendto(data, addr)

    async def receive(self, timeout_s: float = 10.0) -> bytes:
        data, _ = await asyncio.wait_for(self.inbox.get(), timeout_s)
        return data

    def drain(self) -> list[bytes]:
        items = []
        while not self.inbox.empty():
            items.append(self.inbox.get_nowait()[0])
        return items


@contextlib.asynccontextmanager
async def udp_echo_server() -> AsyncIterator[tuple[DatagramEcho, tuple[str, int]]]:
    loop = asyncio.get_running_loop()
    transport, echo = await loop.create_datagram_endpoint(DatagramEcho, local_addr=("127.0.0.1", 0))
    try:
        yield echo, transport.get_extra_info("sockname")[:2]
    finally:
        transport.close()


@contextlib.asynccontextmanager
async def unix_echo_server(path: str) -> AsyncIterator[DatagramEcho]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    transport, echo = await loop.create_datagram_endpoint(DatagramEcho, sock=sock)
    try:
        yield echo
    finally:
        transport.close()


@contextlib.asynccontextmanager
async def datagram_client(bind: Any = None, *, unix: bool = False) -> AsyncIterator[DatagramClient]:
    loop = asyncio.get_running_loop()
    if unix:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if bind is not None:
            sock.bind(bind)
        transport, client = await loop.create_datagram_endpoint(DatagramClient, sock=sock)
    else:
        transport, client = await loop.create_datagram_endpoint(
            DatagramClient, local_addr=("127.0.0.1", 0)
        )
    try:
        yield client
    finally:
        transport.close()
