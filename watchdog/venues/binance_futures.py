"""Binance USDⓈ-M futures REST adapter (aiohttp), for the watchdog and the trader's order entry.

One ``aiohttp.ClientSession`` per process (``open_session``), shared by every adapter: keep-alive
connections, TCP_NODELAY, explicit timeouts on every request. Every parameter travels in the
query string, signed exactly as sent. The server-time offset is learnt from ``/fapi/v1/time``
and relearnt on -1021. A 429/418 blocks this adapter until the venue's ``Retry-After`` has passed:
hammering a venue that asked for a pause only turns a pause into a ban.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import aiohttp
import orjson
from yarl import URL

from watchdog.clock import Clock, SystemClock
from watchdog.venues import binance_wire as wire
from watchdog.venues import rest
from watchdog.venues.base import (
    AccountView,
    CancelReport,
    CountdownAck,
    DmsMode,
    DmsState,
    OpenOrder,
    OrderAck,
    OrderType,
    Position,
    RateState,
    Side,
    SubAccountRef,
    TimeInForce,
)
from watchdog.venues.cancelling import cancel_per_symbol
from watchdog.venues.credentials import Credentials, redact_key
from watchdog.venues.errors import (
    DmsNotConfirmed,
    InvalidSignature,
    KeyRefused,
    VenueError,
    VenueProtocolError,
    VenueRejected,
)
from watchdog.venues.market_stream import (
    BinanceBookTicker,
    MarketFollower,
    MarketSink,
    MarketStreamConfig,
)
from watchdog.venues.user_stream import Sink, UserStreamConfig, UserStreamFollower

log = logging.getLogger(__name__)

Security = Literal["NONE", "KEY", "SIGNED"]
# A signature no secret produces: the probe's answer then tells "key refused" (-2015) from
# "key accepted, signature wrong" (-1022) without the watchdog ever holding the trader's secret.
_PROBE_SIGNATURE = "0" * 64


@dataclass(frozen=True, slots=True)
class VenueEndpoint:
    """Where and how to reach the venue. ``sapi_url`` serves sub-account key management."""

    base_url: str
    sapi_url: str | None = None
    recv_window_ms: int = 5000
    request_timeout_s: float = 5.0
    connect_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("base_url", "sapi_url"):
            url = getattr(self, name)
            if url is not None and not url.startswith(("http://", "https://")):
                raise ValueError(f"{name}: expected an http(s) URL, got {url!r}")
        if not 0 < self.recv_window_ms <= 60_000:
            raise ValueError(f"recv_window_ms: must be in 1..60000, got {self.recv_window_ms}")
        if self.request_timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ValueError("request_timeout_s and connect_timeout_s must be > 0")


def _nodelay_socket(addr_info: tuple[object, ...]) -> socket.socket:
    family, type_, proto = addr_info[0], addr_info[1], addr_info[2]
    sock = socket.socket(family, type_, proto)  # type: ignore[arg-type]
    # Small requests must leave at once: Nagle would hold a cancel behind an unacked segment.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def open_session(*, max_connections: int = 32, keepalive_s: float = 30.0) -> aiohttp.ClientSession:
    """The process's one session: pooled keep-alive connections with TCP_NODELAY."""
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        keepalive_timeout=keepalive_s,
        ttl_dns_cache=300,
        socket_factory=_nodelay_socket,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=10.0, sock_connect=3.0),
        json_serialize=lambda o: orjson.dumps(o).decode(),
        raise_for_status=False,
        cookie_jar=aiohttp.DummyCookieJar(),  # the venue sets none: skip the per-request work
    )


class BinanceFutures:
    """One API key on the venue. ``credentials`` may be None for public and probe calls only."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: VenueEndpoint,
        credentials: Credentials | None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._session = session
        self._endpoint = endpoint
        self._credentials = credentials
        self._clock = clock or SystemClock()
        self._offset_ms = 0.0
        self._gate = rest.RateGate(
            self._clock, "still backing off as the venue asked (Retry-After)"
        )
        self._rate = RateState(None, None, None)
        self._dms = DmsState(DmsMode.OFF, None, "not armed by this watchdog")

    def __repr__(self) -> str:
        return f"BinanceFutures({self._endpoint.base_url!r}, credentials={self._credentials!r})"

    @property
    def endpoint(self) -> VenueEndpoint:
        return self._endpoint

    @property
    def time_offset_ms(self) -> float:
        return self._offset_ms

    @property
    def rate(self) -> RateState:
        return self._rate

    def rate_counters(self) -> Mapping[str, int]:
        counters = {
            "used_weight_1m": self._rate.used_weight_1m,
            "order_count_10s": self._rate.order_count_10s,
            "order_count_1m": self._rate.order_count_1m,
        }
        return {name: value for name, value in counters.items() if value is not None}

    # --- time -----------------------------------------------------------------------------

    async def sync_time(self) -> float:
        """Learn server time minus local wall time (ms), measured at the round trip's midpoint."""
        before = self._clock.wall()
        body = await self._send("GET", "/fapi/v1/time", (), security="NONE")
        after = self._clock.wall()
        server_ms = wire.parse_server_time(body)
        self._offset_ms = server_ms - (before + after) * 500.0
        return self._offset_ms

    async def ping(self) -> None:
        await self._send("GET", "/fapi/v1/ping", (), security="NONE")

    # --- reads ----------------------------------------------------------------------------

    async def open_orders(self, symbol: str | None = None) -> tuple[OpenOrder, ...]:
        params = [("symbol", symbol)] if symbol else []
        return wire.parse_open_orders(await self._signed("GET", "/fapi/v1/openOrders", params))

    async def account(self) -> AccountView:
        return wire.parse_account(await self._signed("GET", "/fapi/v2/account", []))

    async def balance_assets(self) -> dict[str, Decimal]:
        """Wallet balance per asset (``GET /fapi/v2/balance``): the cheapest signed read."""
        return wire.parse_balances(await self._signed("GET", "/fapi/v2/balance", []))

    async def position_risk(self, symbol: str | None = None) -> tuple[Position, ...]:
        params = [("symbol", symbol)] if symbol else []
        return wire.parse_position_risk(await self._signed("GET", "/fapi/v2/positionRisk", params))

    # --- cancels and the dead man's switch ------------------------------------------------

    async def cancel_all(self, symbol: str) -> str:
        body = await self._signed("DELETE", "/fapi/v1/allOpenOrders", [("symbol", symbol)])
        return wire.parse_cancel_all(body)

    async def cancel_everything(
        self, symbols: Sequence[str] = (), *, max_rounds: int = 3
    ) -> CancelReport:
        """Cancel-all on every symbol in ``symbols`` while listing every symbol's open orders,
        then on every symbol the list shows; list again until it is empty."""
        return await cancel_per_symbol(
            symbols, self.open_orders, self.cancel_all, max_rounds=max_rounds
        )

    async def arm_dms(self, window_ms: int, symbols: Sequence[str]) -> DmsState:
        """The countdown on every symbol (0 disarms); confirmed only when every symbol's answer
        echoes it. Raises ``DmsNotConfirmed`` naming each symbol that was not."""
        if not symbols:
            raise ValueError("the countdown cancel-all needs at least one symbol")
        ordered = tuple(dict.fromkeys(symbols))
        results = await asyncio.gather(
            *(self.countdown_cancel_all(s, window_ms) for s in ordered), return_exceptions=True
        )
        problems: list[str] = []
        for symbol, result in zip(ordered, results, strict=True):
            if isinstance(result, VenueError):
                problems.append(f"{symbol}: {type(result).__name__}: {result}")
            elif isinstance(result, BaseException):
                raise result  # not a venue answer: a bug, let it surface
            elif (result.symbol, result.countdown_ms) != (symbol, window_ms):
                problems.append(f"{symbol}: venue confirmed {result.symbol} {result.countdown_ms}")
        if problems:
            raise DmsNotConfirmed("; ".join(problems))
        mode = DmsMode.ARMED if window_ms else DmsMode.OFF
        self._dms = DmsState(mode, window_ms or None, f"{window_ms} ms on {', '.join(ordered)}")
        return self._dms

    async def dms_state(self) -> DmsState:
        """Binance has no read of the countdown: the state is the venue's last confirmation."""
        return self._dms

    async def countdown_cancel_all(self, symbol: str, countdown_ms: int) -> CountdownAck:
        """Arm (or with 0, disarm) the venue's per-symbol countdown that cancels all its orders."""
        if countdown_ms < 0:
            raise ValueError(f"countdown_ms must be >= 0, got {countdown_ms}")
        params = [("symbol", symbol), ("countdownTime", str(countdown_ms))]
        return wire.parse_countdown(
            await self._signed("POST", "/fapi/v1/countdownCancelAll", params)
        )

    # --- user-data stream (API key only, no signature) ------------------------------------

    def open_follower(
        self, ws_url: str, sink: Sink, *, hold_dms: bool = True
    ) -> UserStreamFollower:
        """The user-data stream, on listen keys this adapter creates and keeps alive. Binance's
        switch is a REST countdown: the stream holds nothing (``hold_dms`` changes nothing)."""
        return UserStreamFollower(self, UserStreamConfig(ws_url), sink)

    def open_market_follower(
        self, ws_url: str, symbols: Sequence[str], sink: MarketSink, *, silence_s: float
    ) -> MarketFollower:
        """The combined ``<symbol>@bookTicker`` streams on the market base URL."""
        market = BinanceBookTicker(ws_url, tuple(symbols))
        return MarketFollower(market, MarketStreamConfig(silence_s=silence_s), sink)

    async def create_listen_key(self) -> str:
        return wire.parse_listen_key(await self._send("POST", "/fapi/v1/listenKey", (), "KEY"))

    async def keepalive_listen_key(self) -> None:
        await self._send("PUT", "/fapi/v1/listenKey", (), security="KEY")

    async def close_listen_key(self) -> None:
        await self._send("DELETE", "/fapi/v1/listenKey", (), security="KEY")

    # --- key management (master credentials) and the key probe ---------------------------

    async def delete_sub_account_key(self, ref: SubAccountRef) -> str:
        """Delete a sub-account's API key; must run on the master account's credentials."""
        params = [("email", _email(ref)), ("subAccountApiKey", ref.api_key)]
        body = await self._signed(
            "DELETE", "/sapi/v1/sub-account/subAccountApi", params, base=self._sapi_url()
        )
        return f"deleted {redact_key(ref.api_key)}: {orjson.dumps(body).decode()[:200]}"

    async def confirm_manages(self, ref: SubAccountRef) -> str:
        """The trader's sub-account is among the master's: the master can delete its key."""
        email = _email(ref)
        if email not in await self.sub_account_emails():
            raise VenueRejected(
                None, f"sub-account {email} is not managed by this master key",
                http_status=200, endpoint="GET /sapi/v1/sub-account/list",
            )  # fmt: skip
        return f"master manages {email}"

    async def sub_account_emails(self) -> tuple[str, ...]:
        """The master account's sub-accounts (``GET /sapi/v1/sub-account/list``): a harmless
        signed read that proves the master key works and still manages the trader's account."""
        body = await self._signed("GET", "/sapi/v1/sub-account/list", [], base=self._sapi_url())
        return wire.parse_sub_accounts(body)

    async def key_accepted(self, api_key: str) -> bool:
        """Does the venue still accept ``api_key``? Needs no secret of that key.

        A signed read with a deliberately wrong signature: the venue checks the key before the
        signature, so -2015/-2014 means refused and -1022 means accepted. Creates nothing and
        changes nothing (a listen-key probe would share, and closing it cut, the account's
        stream). Any other answer raises: "unknown" is never reported as "refused".
        """

        async def probe() -> object:
            params = wire.signed_params(
                [], timestamp_ms=self._timestamp_ms(), recv_window_ms=self._endpoint.recv_window_ms
            )
            return await self._send(
                "GET", "/fapi/v2/balance", params, security="NONE", api_key=api_key,
                signature=_PROBE_SIGNATURE,
            )  # fmt: skip

        try:
            await rest.resynced_once(probe, self.sync_time)
        except KeyRefused:
            return False
        except InvalidSignature:
            return True
        raise VenueProtocolError("balance probe: a zero signature was accepted")

    # --- order entry (the trader) ----------------------------------------------------------

    async def new_order(
        self,
        symbol: str,
        side: Side,
        order_type: OrderType,
        quantity: Decimal,
        *,
        price: Decimal | None = None,
        time_in_force: TimeInForce | None = None,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> OrderAck:
        params = _order_params(
            symbol, side, order_type, quantity, price, time_in_force, reduce_only, client_order_id
        )
        return wire.parse_order(await self._signed("POST", "/fapi/v1/order", params), "order")

    async def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderAck:
        params = [("symbol", symbol), *_order_ref(order_id, client_order_id)]
        return wire.parse_order(await self._signed("DELETE", "/fapi/v1/order", params), "order")

    async def query_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderAck:
        params = [("symbol", symbol), *_order_ref(order_id, client_order_id)]
        return wire.parse_order(await self._signed("GET", "/fapi/v1/order", params), "order")

    # --- transport ------------------------------------------------------------------------

    def _sapi_url(self) -> str:
        return self._endpoint.sapi_url or self._endpoint.base_url

    def _timestamp_ms(self) -> int:
        return int(self._clock.wall() * 1000.0 + self._offset_ms)

    async def _signed(
        self, method: str, path: str, params: list[tuple[str, str]], *, base: str | None = None
    ) -> object:
        """A signed call; on -1021 the clock is resynced and the call is made once more."""

        async def call() -> object:
            full = wire.signed_params(
                params,
                timestamp_ms=self._timestamp_ms(),
                recv_window_ms=self._endpoint.recv_window_ms,
            )
            return await self._send(method, path, full, security="SIGNED", base=base)

        return await rest.resynced_once(call, self.sync_time)

    async def _send(
        self,
        method: str,
        path: str,
        params: wire.Params,
        security: Security,
        *,
        base: str | None = None,
        api_key: str | None = None,
        signature: str | None = None,
    ) -> object:
        endpoint = f"{method} {path}"
        self._gate.check(endpoint)
        query = wire.query_string(params)
        headers: dict[str, str] = {}
        if security != "NONE" or api_key is not None:
            headers["X-MBX-APIKEY"] = (
                api_key or rest.require_credentials(self._credentials, endpoint).api_key
            )
        if security == "SIGNED":
            signature = rest.require_credentials(self._credentials, endpoint).sign(query)
        if signature is not None:
            query = f"{query}&signature={signature}" if query else f"signature={signature}"
        url = URL(
            f"{base or self._endpoint.base_url}{path}" + (f"?{query}" if query else ""),
            encoded=True,
        )
        status, resp_headers, body = await rest.roundtrip(
            self._session,
            method,
            url,
            headers=headers,
            request_timeout_s=self._endpoint.request_timeout_s,
            connect_timeout_s=self._endpoint.connect_timeout_s,
            endpoint=endpoint,
        )
        self._rate = wire.rate_state(resp_headers, self._rate)
        error = wire.error_for(status, body, resp_headers, endpoint)
        if error is not None:
            self._gate.note(error)
            raise error
        return body


def _email(ref: SubAccountRef) -> str:
    if ref.email is None:
        raise ValueError("Binance names a sub-account key by its e-mail: the ref has none")
    return ref.email


def _order_ref(order_id: str | None, client_order_id: str | None) -> list[tuple[str, str]]:
    if (order_id is None) == (client_order_id is None):
        raise ValueError("give exactly one of order_id and client_order_id")
    if order_id is not None:
        return [("orderId", order_id)]
    return [("origClientOrderId", str(client_order_id))]


def _order_params(
    symbol: str,
    side: Side,
    order_type: OrderType,
    quantity: Decimal,
    price: Decimal | None,
    time_in_force: TimeInForce | None,
    reduce_only: bool,
    client_order_id: str | None,
) -> list[tuple[str, str]]:
    if quantity <= 0:
        raise ValueError(f"quantity must be > 0, got {quantity}")
    params = [("symbol", symbol), ("side", side.value), ("type", order_type.value)]
    if order_type is OrderType.LIMIT:
        if price is None or price <= 0:
            raise ValueError("a LIMIT order needs a price > 0")
        params.append(("timeInForce", (time_in_force or TimeInForce.GTC).value))
    elif price is not None or time_in_force is not None:
        raise ValueError("a MARKET order takes neither price nor timeInForce")
    params.append(("quantity", wire.fmt_decimal(quantity)))
    if price is not None:
        params.append(("price", wire.fmt_decimal(price)))
    if reduce_only:
        params.append(("reduceOnly", "true"))
    if client_order_id is not None:
        params.append(("newClientOrderId", client_order_id))
    params.append(("newOrderRespType", "RESULT"))
    return params
