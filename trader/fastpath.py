"""Order-entry fast path: new orders written synchronously on pre-connected keep-alive sockets.

Why a second way to reach the venue: through aiohttp a new order costs a task hop before the
send task runs plus aiohttp building the request, hundreds of microseconds against a goal of
50. Here the tick handler builds and signs the request and calls ``transport.write()`` itself,
on one of a few pre-connected HTTP/1.1 connections (TCP_NODELAY), with no await and no task
between the decision and the bytes. Only NEW ORDER uses it; cancels, queries, the account and
reconciliation stay on the process's one aiohttp session.

Safety rules:
- one request in flight per connection (no pipelining), so an answer can only be the answer to
  that request; an idle connection is picked, and when none is ready the caller falls back to
  the aiohttp path (``try_place`` returns None and counts it);
- anything we cannot read with certainty (a malformed answer, a close or reset before the answer
  is complete, no answer within the request timeout, an unsolicited answer) drops the connection
  and fails the order with ``VenueUnavailable``: outcome unknown, which the order manager
  resolves exactly like a timeout (cancel by client id, then query);
- the venue's answers are read with ``watchdog.venues``' own wire functions (errors, 429 with
  Retry-After, order parsing), so both paths mean the same thing by the same answer;
- connections are kept in the background: reconnect with capped backoff, and a ping on a
  connection idle for ``keepalive_s`` so that a dead one is found before an order needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

import orjson
from yarl import URL

import watchdog.venues as wv
from trader.http1 import HttpParseError, HttpResponse, ResponseParser
from trader.strategy import Side
from trader.venue import (
    OrderReport,
    OrderRequest,
    VenueRejected,
    VenueUnavailable,
    order_report,
    translated,
)
from watchdog.backoff import backoff_delay
from watchdog.venues import binance_wire as wire
from watchdog.venues.errors import CODE_TIMESTAMP_OUTSIDE_WINDOW

log = logging.getLogger(__name__)

ORDER_PATH = "/fapi/v1/order"
ENDPOINT = f"POST {ORDER_PATH}"
# Characters that percent-encoding leaves alone: values made only of these go out as they are.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


# -- the request: pure --------------------------------------------------------------------------


class OrderSigner:
    """Builds the exact bytes of a signed NEW ORDER request (pure: the timestamp is passed in).

    The signature is hex HMAC-SHA256 of the query string exactly as sent, as the venue
    recomputes it (``watchdog.venues.Credentials.sign``). Everything that does not change from
    one order to the next is prepared before the tick: per (symbol, side, time in force,
    reduce-only) the leading parameters, already absorbed by a keyed HMAC that each request
    copies, and the request line's start; the tick adds only quantity, price, client id and
    timestamp. Same bytes and digest as signing the whole query at once.
    """

    def __init__(self, base_url: str, credentials: wv.Credentials, recv_window_ms: int) -> None:
        url = URL(base_url)
        if url.host is None:
            raise ValueError(f"venue base_url has no host: {base_url!r}")
        default_port = 443 if url.scheme == "https" else 80
        host = url.raw_host or url.host
        host_header = host if url.port in (None, default_port) else f"{host}:{url.port}"
        self._path = url.raw_path.rstrip("/") + ORDER_PATH
        self._key = hmac.new(credentials.secret.encode(), digestmod=hashlib.sha256)
        self._tail = (
            f" HTTP/1.1\r\nHost: {host_header}\r\nX-MBX-APIKEY: {credentials.api_key}\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode("ascii")
        self._recv_window = str(recv_window_ms)
        self._suffix = f"&newOrderRespType=RESULT&recvWindow={self._recv_window}&timestamp="
        self._prepared: dict[tuple[str, Side, bool, bool], _Prepared] = {}

    def query(self, order: OrderRequest, timestamp_ms: int) -> str:
        """The signed parameters in the order sent (what the signature covers)."""
        return self._prepare(order).head + self._variable(order, timestamp_ms)

    def sign(self, query: str) -> str:
        mac = self._key.copy()
        mac.update(query.encode())
        return mac.hexdigest()

    def new_order(self, order: OrderRequest, timestamp_ms: int) -> bytes:
        prepared = self._prepare(order)
        variable = self._variable(order, timestamp_ms).encode()
        mac = prepared.mac.copy()
        mac.update(variable)
        signature = mac.hexdigest().encode()
        return b"".join((prepared.line, variable, b"&signature=", signature, self._tail))

    def ping(self) -> bytes:
        return f"GET {self._path.removesuffix(ORDER_PATH)}/fapi/v1/ping".encode() + self._tail

    def _variable(self, order: OrderRequest, timestamp_ms: int) -> str:
        reduce = "&reduceOnly=true" if order.reduce_only else ""
        return (
            f"quantity={_encode(order.qty)}&price={_encode(order.price)}{reduce}"
            f"&newClientOrderId={_encode(order.client_id)}{self._suffix}{timestamp_ms}"
        )

    def _prepare(self, order: OrderRequest) -> _Prepared:
        key = (order.symbol, order.side, order.post_only, order.reduce_only)
        prepared = self._prepared.get(key)
        if prepared is None:
            tif = "GTX" if order.post_only else "GTC"
            symbol, side = _encode(order.symbol), order.side.value
            head = f"symbol={symbol}&side={side}&type=LIMIT&timeInForce={tif}&"
            mac = self._key.copy()
            mac.update(head.encode())
            line = f"POST {self._path}?{head}".encode("ascii")
            prepared = self._prepared[key] = _Prepared(head, line, mac)
        return prepared


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What every order of one (symbol, side, time in force, reduce-only) shares."""

    head: str  # the leading parameters, through the '&' before quantity
    line: bytes  # b"POST <path>?" + head
    mac: hmac.HMAC  # keyed, with head absorbed: copied per request


def _encode(value: str) -> str:
    return value if _UNRESERVED.issuperset(value) else quote(value, safe="")


# -- the answer: pure ---------------------------------------------------------------------------


def order_result(response: HttpResponse) -> OrderReport:
    """The venue's answer to a new order, with the same meaning as on the aiohttp path."""
    with translated(definite=True):
        body = _decode(response)
        error = wire.error_for(response.status, body, response.header_map(), ENDPOINT)
        if error is not None:
            raise error
        return order_report(wire.parse_order(body, "order"))


def _decode(response: HttpResponse) -> object:
    try:
        return orjson.loads(response.body) if response.body else None
    except orjson.JSONDecodeError:
        if response.status >= 400:
            return None  # an error page: the status alone decides
        raise wv.VenueProtocolError(f"{ENDPOINT}: answer is not JSON") from None


# -- one connection ------------------------------------------------------------------------------


class EntryConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self, request_timeout_s: float) -> None:
        self._timeout = request_timeout_s
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = ResponseParser()
        self._pending: asyncio.Future[HttpResponse] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.closed: asyncio.Future[str] = self._loop.create_future()
        self.answered = 0

    @property
    def ready(self) -> bool:
        return (
            self._transport is not None
            and self._pending is None
            and not self.closed.done()
            and not self._transport.is_closing()
        )

    def send(self, data: bytes) -> asyncio.Future[HttpResponse]:
        """Write one request now (synchronously); the future gets its answer."""
        transport = self._transport
        if not self.ready or transport is None:
            raise RuntimeError("send on a connection that is not ready")
        # The bytes first. The answer cannot overtake what follows: it is read in a later
        # loop turn, and a write error is reported there too (connection_lost).
        transport.write(data)
        future: asyncio.Future[HttpResponse] = self._loop.create_future()
        future.add_done_callback(self._on_waiter_done)
        self._pending = future
        self._timer = self._loop.call_later(self._timeout, self._timed_out)
        return future

    def abort(self, reason: str) -> None:
        self._fail(reason)

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a stream connection, never datagrams
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Order requests are small: Nagle would hold one behind an unacknowledged segment.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            responses = self._parser.feed(data)
        except HttpParseError as exc:
            self._fail(f"malformed answer: {exc}")
            return
        for response in responses:
            self._deliver(response)
        error = self._parser.pending_error
        if error is not None:  # complete answers came first; the rest is garbage
            self._fail(f"malformed answer: {error}")

    def eof_received(self) -> bool | None:
        try:
            for response in self._parser.feed_eof():
                self._deliver(response)
        except HttpParseError as exc:
            self._fail(f"malformed answer: {exc}")
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost: {exc}" if exc else "connection closed by the venue")

    # -- internals -------------------------------------------------------------------------

    def _deliver(self, response: HttpResponse) -> None:
        future = self._pending
        if future is None:
            self._fail(f"an answer nobody asked for (HTTP {response.status})")
            return
        self._clear_pending()
        if not future.done():
            future.set_result(response)
        self.answered += 1
        if not response.keep_alive:
            self._fail("the venue closes this connection")

    def _timed_out(self) -> None:
        self._fail(f"no answer within {self._timeout}s")

    def _on_waiter_done(self, future: asyncio.Future[HttpResponse]) -> None:
        # The caller gave up (its own timeout, or shutdown): a late answer would then meet the
        # next request, so this connection can no longer be trusted.
        if future.cancelled() and future is self._pending:
            self._fail("the request was abandoned")

    def _clear_pending(self) -> None:
        self._pending = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, reason: str) -> None:
        future = self._pending
        self._clear_pending()
        if future is not None and not future.done():
            future.set_exception(VenueUnavailable(f"{ENDPOINT}: {reason}"))
        if not self.closed.done():
            self.closed.set_result(reason)
        if self._transport is not None:
            self._transport.abort()


# -- the pool ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FastPathConfig:
    connections: int = 2
    request_timeout_s: float = 2.0
    connect_timeout_s: float = 2.0
    keepalive_s: float = 15.0
    reconnect_initial_s: float = 0.05
    reconnect_max_s: float = 2.0


class FastPathHooks(Protocol):
    """Metric hooks (``trader.metrics.FastPathMetrics``)."""

    def fallback(self) -> None: ...

    def open_connections(self, count: int) -> None: ...

    def connected(self) -> None: ...


class NoHooks:
    def fallback(self) -> None:
        return None

    def open_connections(self, count: int) -> None:
        return None

    def connected(self) -> None:
        return None


class PendingOrder:
    """A new order whose bytes are written; ``report()`` waits for and reads the answer."""

    __slots__ = ("_future", "_resync")

    def __init__(
        self, future: asyncio.Future[HttpResponse], resync: Callable[[], Awaitable[object]]
    ) -> None:
        self._future = future
        self._resync = resync

    async def report(self) -> OrderReport:
        response = await self._future
        try:
            return order_result(response)
        except VenueRejected as exc:
            if exc.code == CODE_TIMESTAMP_OUTSIDE_WINDOW:
                # A definite refusal; relearn the venue's clock before the next orders.
                await self._resync_quietly()
            raise

    async def _resync_quietly(self) -> None:
        try:
            await self._resync()
        except (wv.VenueError, TimeoutError) as exc:
            log.warning("venue_clock_resync_failed", extra={"error": str(exc)})


class FastOrderEntry:
    """A few pre-connected order-entry connections, kept alive in the background by ``run()``."""

    def __init__(
        self,
        base_url: str,
        signer: OrderSigner,
        timestamp_ms: Callable[[], int],
        resync: Callable[[], Awaitable[object]],
        config: FastPathConfig,
        hooks: FastPathHooks | None = None,
        rng: random.Random | None = None,
    ) -> None:
        url = URL(base_url)
        if url.host is None or url.scheme not in ("http", "https"):
            raise ValueError(f"venue base_url must be http(s)://host[:port]: {base_url!r}")
        self._host = url.host
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if url.scheme == "https" else None
        self._signer = signer
        self._timestamp_ms = timestamp_ms
        self._resync = resync
        self._config = config
        self._hooks = hooks or NoHooks()
        self._rng = rng or random.Random()
        self._conns: list[EntryConnection | None] = [None] * config.connections
        self._changed = asyncio.Event()
        self.fallbacks = 0
        self.placed = 0

    @property
    def signer(self) -> OrderSigner:
        """The request builder (the cache heater rehearses it; it is pure)."""
        return self._signer

    @property
    def ready_count(self) -> int:
        return sum(1 for c in self._conns if c is not None and c.ready)

    # -- the hot path ----------------------------------------------------------------------

    def try_place(self, order: OrderRequest) -> PendingOrder | None:
        """Build, sign and write the order now; None (counted) when no connection is ready."""
        for conn in self._conns:
            if conn is not None and conn.ready:
                future = conn.send(self._signer.new_order(order, self._timestamp_ms()))
                self.placed += 1
                return PendingOrder(future, self._resync)
        self.fallbacks += 1
        self._hooks.fallback()
        return None

    # -- keeping the connections -----------------------------------------------------------

    async def run(self) -> None:
        """Keep every slot connected until cancelled."""
        try:
            async with asyncio.TaskGroup() as tg:
                for slot in range(len(self._conns)):
                    tg.create_task(self._keep(slot), name=f"order-entry-{slot}")
        finally:
            self.close()

    async def wait_ready(self, count: int = 1) -> None:
        """Return once ``count`` connections are ready (callers bound it with a timeout)."""
        while self.ready_count < count:
            self._changed.clear()
            await self._changed.wait()

    def close(self) -> None:
        for slot, conn in enumerate(self._conns):
            if conn is not None:
                conn.abort("order entry closed")
                self._conns[slot] = None
        self._hooks.open_connections(0)

    async def _keep(self, slot: int) -> None:
        failures = 0  # connects since one last answered: paces the next
        while True:
            conn = await self._connect()
            if conn is None:
                await asyncio.sleep(
                    backoff_delay(
                        failures,
                        initial_s=self._config.reconnect_initial_s,
                        max_s=self._config.reconnect_max_s,
                        draw=self._rng.random,
                    )
                )
                failures += 1
                continue
            self._conns[slot] = conn
            self._hooks.connected()
            self._publish()
            reason = await self._serve(conn)
            self._conns[slot] = None
            self._publish()
            if conn.answered:
                failures = 0
            log.info("order_entry_connection_closed", extra={"slot": slot, "reason": reason})

    async def _connect(self) -> EntryConnection | None:
        loop = asyncio.get_running_loop()
        timeout = self._config.request_timeout_s
        try:
            async with asyncio.timeout(self._config.connect_timeout_s):
                _, conn = await loop.create_connection(
                    lambda: EntryConnection(timeout),
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl else None,
                )
        except (OSError, TimeoutError) as exc:
            log.warning("order_entry_connect_failed", extra={"error": f"{type(exc).__name__}"})
            return None
        return conn

    async def _serve(self, conn: EntryConnection) -> str:
        """Wait for the connection to end; ping it when idle so a dead one is found early."""
        while True:
            done, _ = await asyncio.wait([conn.closed], timeout=self._config.keepalive_s)
            if done:
                return conn.closed.result()
            if conn.ready:
                with contextlib.suppress(VenueUnavailable):
                    response = await conn.send(self._signer.ping())
                    if response.status != 200:
                        conn.abort(f"keep-alive ping answered HTTP {response.status}")

    def _publish(self) -> None:
        self._hooks.open_connections(sum(1 for c in self._conns if c is not None))
        self._changed.set()
