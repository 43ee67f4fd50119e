"""The feed's WebSocket client against a real websockets server and a scripted raw one."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.trader.helpers import wait_until
from trader.wsclient import (
    OP_BINARY,
    OP_PING,
    OP_TEXT,
    StreamProtocol,
    WebSocketError,
    client_frame,
    endpoint,
    open_stream,
)

Received = list[tuple[bytes, int]]


def test_the_upgrade_request_and_expected_accept_follow_rfc_6455() -> None:
    target = endpoint("ws://127.0.0.1:9000/stream?streams=a@bookTicker", key=b"the sample nonce")
    assert target.request.startswith(b"GET /stream?streams=a@bookTicker HTTP/1.1\r\n")
    assert b"Host: 127.0.0.1:9000\r\n" in target.request
    assert b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" in target.request
    assert target.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # the RFC's own example
    assert (target.host, target.port, target.tls) == ("127.0.0.1", 9000, False)
    assert endpoint("wss://venue.example/ws").port == 443


def test_client_frames_are_masked_and_final() -> None:
    frame = client_frame(OP_PING, b"abc", mask=b"\x01\x02\x03\x04")
    assert frame == bytes((0x89, 0x83, 1, 2, 3, 4, ord("a") ^ 1, ord("b") ^ 2, ord("c") ^ 3))


async def connect(url: str, received: Received, max_size: int = 1 << 20) -> StreamProtocol:
    def on_message(payload: bytes, received_ns: int) -> None:
        received.append((payload, received_ns))

    return await open_stream(url, on_message, open_timeout_s=5.0, max_size=max_size)


async def test_messages_pings_and_close_against_a_real_server() -> None:
    pong: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        await ws.send('{"n":1}')
        await ws.send(iter(["{", '"n":', "2}"]))  # one message in three fragments
        await ws.send(b"\x00\x01")
        pong.set_result(await (await ws.ping(b"hi")))
        await ws.close(1000, "bye")

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        received: Received = []
        stream = await connect(f"ws://127.0.0.1:{port}/x", received)
        async with asyncio.timeout(10):
            reason = await stream.wait_closed()
            await pong  # the server saw its ping answered
    assert [payload for payload, _ in received] == [b'{"n":1}', b'{"n":2}', b"\x00\x01"]
    assert all(stamp > 0 for _, stamp in received)
    assert reason == "closed: 1000 bye"


@pytest.mark.parametrize("size", [3, 126, 70_000])  # each of RFC 6455's three length forms
async def test_text_the_client_sends_reaches_a_real_server_whole(size: int) -> None:
    message = b"x" * size
    echoed: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        echoed.set_result(await ws.recv(decode=False))

    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=1 << 20) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        stream = await connect(f"ws://127.0.0.1:{port}/x", [])
        stream.send_text(message)
        async with asyncio.timeout(10):
            assert await echoed == message
        stream.abort()


def test_a_control_frame_over_125_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="125 bytes"):
        client_frame(OP_PING, b"x" * 126)


Script = Callable[[asyncio.StreamWriter], Awaitable[None]]


def server_frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = False) -> bytes:
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        head = bytes((first, (0x80 if masked else 0) | len(payload)))
    else:
        head = bytes((first, 126)) + len(payload).to_bytes(2, "big")
    return head + (b"\x00" * 4 if masked else b"") + payload


@pytest.fixture
async def raw() -> AsyncIterator[Callable[[Script, bool], Awaitable[str]]]:
    """A server that upgrades (with a right or wrong accept) and then runs a script."""
    servers: list[asyncio.Server] = []

    async def start(script: Script, good_accept: bool = True) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"Sec-WebSocket-Key: (\S+)", request)
            assert match is not None
            digest = hashlib.sha1(match.group(1) + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
            accept = base64.b64encode(digest.digest()).decode() if good_accept else "wrong"
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
            )
            await script(writer)
            await reader.read()  # until the client goes away

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/s"

    yield start
    for server in servers:
        server.close()


async def test_frames_cut_at_every_byte_are_reassembled(
    raw: Callable[[Script, bool], Awaitable[str]],
) -> None:
    message = b'{"stream":"x","data":{"s":"BTCUSDT"}}' * 5  # over 125 bytes: 16-bit length

    async def byte_by_byte(writer: asyncio.StreamWriter) -> None:
        for byte in server_frame(OP_TEXT, message) + server_frame(OP_BINARY, b"end"):
            writer.write(bytes((byte,)))
            await writer.drain()
            await asyncio.sleep(0)

    received: Received = []
    await connect(await raw(byte_by_byte, True), received)
    await wait_until(lambda: len(received) >= 2, what="both messages")
    assert [payload for payload, _ in received] == [message, b"end"]


@pytest.mark.parametrize(
    ("frames", "why"),
    [
        (server_frame(OP_TEXT, b"x", masked=True), "masked frame"),
        (bytes((0xC1, 0x01)) + b"x", "reserved bits"),
        (server_frame(0x3, b"x"), "unknown opcode"),
        (server_frame(0x0, b"x"), "continuation frame with no message"),
        (server_frame(OP_PING, b"x", fin=False), "fragmented or oversized control"),
        (server_frame(OP_TEXT, b"x" * 200), "over the 100-byte limit"),
    ],
)
async def test_a_protocol_violation_ends_the_connection_with_the_reason(
    raw: Callable[[Script, bool], Awaitable[str]], frames: bytes, why: str
) -> None:
    async def send(writer: asyncio.StreamWriter) -> None:
        writer.write(frames + server_frame(OP_TEXT, b"never delivered"))

    received: Received = []
    stream = await connect(await raw(send, True), received, max_size=100)
    async with asyncio.timeout(10):
        reason = await stream.wait_closed()
    assert reason.startswith("closed: protocol error:")
    assert why in reason
    assert received == []


async def test_a_wrong_accept_refuses_the_connection(
    raw: Callable[[Script, bool], Awaitable[str]],
) -> None:
    async def nothing(writer: asyncio.StreamWriter) -> None:
        return None

    with pytest.raises(WebSocketError, match="wrong Sec-WebSocket-Accept"):
        await connect(await raw(nothing, False), [])


async def test_what_the_handler_raises_is_raised_by_wait_closed(
    raw: Callable[[Script, bool], Awaitable[str]],
) -> None:
    async def two(writer: asyncio.StreamWriter) -> None:
        writer.write(server_frame(OP_TEXT, b"1") + server_frame(OP_TEXT, b"2"))

    seen: list[bytes] = []

    def on_message(payload: bytes, received_ns: int) -> None:
        seen.append(payload)
        raise RuntimeError("a bug in the handler")

    stream = await open_stream(await raw(two, True), on_message, open_timeout_s=5.0)
    with pytest.raises(RuntimeError, match="a bug in the handler"):
        async with asyncio.timeout(10):
            await stream.wait_closed()
    assert seen == [b"1"]  # nothing after the failure
