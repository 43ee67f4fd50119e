"""A minimal WebSocket client (RFC 6455) for one market stream, read in the socket's callback.

Why not a library: a general client parses frames in Python generators and queues each message
for a task that ``recv()``s it on a later loop turn; measured from the venue's send that costs
60-110 µs at the median on the tick path (``bench.tick_to_order``, floor). Here the protocol's
``data_received`` parses the frames and hands each complete message, with the read's
timestamp, straight to the feed: no queue, no task hop.

What a market stream needs and no more: the client handshake (no extensions, no
subprotocols), text/binary messages (fragmented ones reassembled), pings answered, a close
answered and reported, everything else a protocol error that ends the connection. The peer's
frames must not be masked; ours always are. The client writes only what a venue asks of a
market stream: pongs, the close reply, and the venue's own text requests (``send_text``: a
subscription, an application-level ping). A message larger than ``max_size`` ends the
connection before it is buffered. An exception from the message handler is not swallowed: it
ends the connection and is raised by ``wait_closed()`` to whoever runs the stream.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from yarl import URL

from trader.errors import FeedError

__all__ = ["StreamProtocol", "WebSocketError", "open_stream"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HANDSHAKE = 16 * 1024
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

MessageHandler = Callable[[bytes, int], None]


class WebSocketError(FeedError):
    """The peer broke the WebSocket protocol, or refused the upgrade."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    tls: bool
    request: bytes  # the upgrade request, with its key
    accept: str  # the Sec-WebSocket-Accept the server must answer with


def endpoint(url: str, key: bytes | None = None) -> Endpoint:
    """The address and upgrade request for a ``ws://`` or ``wss://`` URL (pure, key passed in)."""
    parsed = URL(url)
    if parsed.scheme not in ("ws", "wss") or not parsed.host:
        raise ValueError(f"not a ws:// or wss:// URL with a host: {url!r}")
    tls = parsed.scheme == "wss"
    port = parsed.port or (443 if tls else 80)
    host = parsed.raw_host or parsed.host
    host_header = host if parsed.is_default_port() else f"{host}:{port}"
    nonce = base64.b64encode(key if key is not None else os.urandom(16))
    request = (
        f"GET {parsed.raw_path_qs or '/'} HTTP/1.1\r\nHost: {host_header}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {nonce.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode("ascii")
    accept = base64.b64encode(hashlib.sha1(nonce + _GUID).digest()).decode()  # noqa: S324 - RFC 6455 names SHA-1
    return Endpoint(parsed.host, port, tls, request, accept)


def client_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One masked, final client frame (control frames: at most 125 bytes)."""
    size = len(payload)
    if opcode & 0x8 and size > 125:
        raise ValueError("a control frame carries at most 125 bytes")
    key = mask if mask is not None else os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    if size <= 125:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    return head + key + masked


class StreamProtocol(asyncio.Protocol):
    """One WebSocket connection whose messages go to ``on_message(payload, received_ns)``."""

    def __init__(self, endpoint: Endpoint, on_message: MessageHandler, max_size: int) -> None:
        loop = asyncio.get_running_loop()
        self._endpoint = endpoint
        self._on_message = on_message
        self._max_size = max_size
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._upgraded = False
        self._fragments: list[bytes] | None = None
        self._fragments_size = 0
        self.opened: asyncio.Future[None] = loop.create_future()
        self.ended: asyncio.Future[str] = loop.create_future()

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._transport

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a stream connection, never datagrams
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._transport = transport
        transport.write(self._endpoint.request)

    def data_received(self, data: bytes) -> None:
        received_ns = time.perf_counter_ns()
        try:
            if not self._upgraded:
                rest = self._handshake(data)
                if not rest:
                    return
                data = rest
            self._frames(data, received_ns)
        except WebSocketError as exc:
            self._end(f"closed: protocol error: {exc}")
        except Exception as exc:  # noqa: BLE001 - not swallowed: wait_closed() raises it
            self._fail(exc)

    def eof_received(self) -> bool | None:
        self._end("closed: by the peer, without a close frame")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(f"closed: {exc}" if exc else "closed: connection closed")

    # -- the stream's life -----------------------------------------------------------------

    async def wait_closed(self) -> str:
        """Why the connection ended; raises what the message handler raised."""
        return await self.ended

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def send_text(self, message: bytes) -> None:
        """Write one text message (a venue's subscribe or ping request); dropped once closed."""
        if self._transport is not None and not self.ended.done():
            self._transport.write(client_frame(OP_TEXT, message))

    # -- internals -------------------------------------------------------------------------

    def _handshake(self, data: bytes) -> bytes:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_HANDSHAKE:
                raise WebSocketError("upgrade answer has no end")
            return b""
        head, rest = bytes(self._buffer[:end]), bytes(self._buffer[end + 4 :])
        self._buffer.clear()
        status, *lines = head.decode("latin-1").split("\r\n")
        if status.split(" ")[1:2] != ["101"]:
            raise WebSocketError(f"upgrade refused: {status[:200]}")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("upgrade", "").lower() != "websocket":
            raise WebSocketError("upgrade answer without Upgrade: websocket")
        if "upgrade" not in headers.get("connection", "").lower():
            raise WebSocketError("upgrade answer without Connection: upgrade")
        if headers.get("sec-websocket-accept") != self._endpoint.accept:
            raise WebSocketError("upgrade answer with a wrong Sec-WebSocket-Accept")
        if headers.get("sec-websocket-extensions"):
            raise WebSocketError("the server chose an extension none was offered")
        self._upgraded = True
        self.opened.set_result(None)
        return rest

    def _frames(self, data: bytes, received_ns: int) -> None:
        if self._buffer:
            self._buffer += data
            data = bytes(self._buffer)
            self._buffer.clear()
        pos, end = 0, len(data)
        while end - pos >= 2 and not self.ended.done():
            b0, b1 = data[pos], data[pos + 1]
            if b1 & 0x80:
                raise WebSocketError("a masked frame from the server")
            if b0 & 0x70:
                raise WebSocketError("reserved bits set, no extension was negotiated")
            size, head = b1 & 0x7F, 2
            if size == 126:
                if end - pos < 4:
                    break
                size, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            if size > self._max_size:
                raise WebSocketError(f"a {size}-byte frame, over the {self._max_size}-byte limit")
            if end - pos < head + size:
                break
            start = pos + head
            pos = start + size
            self._frame(b0 & 0x80 != 0, b0 & 0x0F, data[start:pos], received_ns)
        if pos < end and not self.ended.done():
            self._buffer += data[pos:]

    def _frame(self, fin: bool, opcode: int, payload: bytes, received_ns: int) -> None:
        if opcode in (OP_TEXT, OP_BINARY):
            if self._fragments is not None:
                raise WebSocketError("a new message inside a fragmented one")
            if fin:
                self._on_message(payload, received_ns)
            else:
                self._fragments, self._fragments_size = [payload], len(payload)
        elif opcode == OP_CONTINUATION:
            self._continuation(fin, payload, received_ns)
        elif opcode & 0x8:
            if not fin or len(payload) > 125:
                raise WebSocketError("a fragmented or oversized control frame")
            self._control(opcode, payload)
        else:
            raise WebSocketError(f"unknown opcode {opcode:#x}")

    def _continuation(self, fin: bool, payload: bytes, received_ns: int) -> None:
        if self._fragments is None:
            raise WebSocketError("a continuation frame with no message to continue")
        self._fragments.append(payload)
        self._fragments_size += len(payload)
        if self._fragments_size > self._max_size:
            raise WebSocketError(f"a message over the {self._max_size}-byte limit")
        if fin:
            message = b"".join(self._fragments)
            self._fragments = None
            self._on_message(message, received_ns)

    def _control(self, opcode: int, payload: bytes) -> None:
        transport = self._transport
        if opcode == OP_PING:
            if transport is not None:
                transport.write(client_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            reason = payload[2:].decode("utf-8", "replace")
            if transport is not None:
                transport.write(client_frame(OP_CLOSE, payload[:2]))
                transport.close()  # after the reply is flushed
            self._end(f"closed: {code} {reason}".rstrip(), abort=False)
        elif opcode != OP_PONG:
            raise WebSocketError(f"unknown control opcode {opcode:#x}")

    def _end(self, reason: str, *, abort: bool = True) -> None:
        if not self.opened.done():
            self.opened.set_exception(WebSocketError(reason))
            self.opened.exception()  # marked retrieved: open_stream raises it if it waits
        if not self.ended.done():
            self.ended.set_result(reason)
        if abort:
            self.abort()

    def _fail(self, exc: Exception) -> None:
        if not self.ended.done():
            self.ended.set_exception(exc)
        self._end(f"closed: the handler failed: {type(exc).__name__}")


async def open_stream(
    url: str, on_message: MessageHandler, *, open_timeout_s: float, max_size: int = 1 << 20
) -> StreamProtocol:
    """Connect and upgrade within ``open_timeout_s``; raises OSError, TimeoutError or
    WebSocketError. The caller owns the connection: ``wait_closed()``, ``abort()``."""
    target = endpoint(url)
    loop = asyncio.get_running_loop()
    context = ssl.create_default_context() if target.tls else None
    async with asyncio.timeout(open_timeout_s):
        _, protocol = await loop.create_connection(
            lambda: StreamProtocol(target, on_message, max_size),
            target.host,
            target.port,
            ssl=context,
            server_hostname=target.host if context else None,
        )
        try:
            await protocol.opened
        except BaseException:
            protocol.abort()
            raise
    return protocol
