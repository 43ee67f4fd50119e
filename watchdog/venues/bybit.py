"""Bybit v5 REST adapter (aiohttp, ``category=linear``) for the watchdog's kill and view.

Shares the process's one ``aiohttp.ClientSession`` (``open_session``). GET parameters travel in
the query string, POST parameters as a JSON body; either is signed exactly as sent
(``X-BAPI-SIGN``). The server-time offset is learnt from ``/v5/market/time`` and relearnt on
retCode 10002. A rate limit blocks this adapter until the venue's reset time: hammering a venue
that asked for a pause only makes it longer.

Kill steps are verified by their effect: ``cancel_everything`` lists until the venue shows no
order; ``key_accepted`` asks the venue whether a deleted key is refused; ``arm_dcp`` reads the
protection back. An answer the adapter cannot read is an error, never a success.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import aiohttp
import orjson

from watchdog.clock import Clock, SystemClock
from watchdog.venues import bybit_wire as wire
from watchdog.venues import rest
from watchdog.venues.base import (
    AccountView,
    CancelReport,
    DmsMode,
    DmsState,
    OpenOrder,
    Position,
    SubAccountRef,
)
from watchdog.venues.bybit_stream import BybitPrivateStream, BybitStreamConfig
from watchdog.venues.cancelling import cancel_until_none
from watchdog.venues.credentials import Credentials, redact_key
from watchdog.venues.errors import (
    DcpUnsupported,
    VenueError,
    VenueProtocolError,
    VenueRejected,
)
from watchdog.venues.market_stream import (
    BybitTickers,
    MarketFollower,
    MarketSink,
    MarketStreamConfig,
)
from watchdog.venues.user_stream import Sink

log = logging.getLogger(__name__)
T = TypeVar("T")

# A signature no secret produces: the probe's answer then tells "key refused" (10003) from "key
# accepted, signature wrong" (10004) without the watchdog ever holding the trader's secret.
_PROBE_SIGNATURE = "0" * 64
# Bybit documents up to 200 positions a page; 50 is accepted everywhere and costs one more
# page only past 50 open positions.
_POSITION_PAGE_LIMIT = "50"


@dataclass(frozen=True, slots=True)
class BybitEndpoint:
    """Where and how to reach the venue.

    ``settle_coins``: the linear books the account trades; open orders and positions are listed
    per settle coin (the venue needs a symbol, a base coin or a settle coin for ``linear``), so a
    coin left out here is a book the kill never sees.
    """

    base_url: str
    recv_window_ms: int = 5000
    request_timeout_s: float = 5.0
    connect_timeout_s: float = 2.0
    settle_coins: tuple[str, ...] = ("USDT", "USDC")
    page_limit: int = 50  # open orders per page: the venue's maximum
    max_pages: int = 100

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: expected an http(s) URL, got {self.base_url!r}")
        if not 0 < self.recv_window_ms <= 60_000:
            raise ValueError(f"recv_window_ms: must be in 1..60000, got {self.recv_window_ms}")
        if self.request_timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ValueError("request_timeout_s and connect_timeout_s must be > 0")
        if not self.settle_coins:
            raise ValueError("settle_coins: name at least one (e.g. USDT)")
        if not 1 <= self.page_limit <= 50:
            raise ValueError(f"page_limit: must be in 1..50, got {self.page_limit}")
        if self.max_pages < 1:
            raise ValueError(f"max_pages: must be >= 1, got {self.max_pages}")


class Bybit:
    """One API key on one Bybit account. ``credentials`` may be None for public and probe calls."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: BybitEndpoint,
        credentials: Credentials | None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._credentials = credentials
        self._clock = clock or SystemClock()
        self._offset_ms = 0.0
        gate = rest.RateGate(self._clock, "still backing off until the venue's rate-limit reset")
        self._link = rest.Link(
            session, endpoint.base_url, endpoint.request_timeout_s, endpoint.connect_timeout_s, gate
        )
        self._rate: Mapping[str, int] = {}

    def __repr__(self) -> str:
        return f"Bybit({self._endpoint.base_url!r}, credentials={self._credentials!r})"

    @property
    def time_offset_ms(self) -> float:
        return self._offset_ms

    def rate_counters(self) -> Mapping[str, int]:
        return self._rate

    # --- time -----------------------------------------------------------------------------

    async def sync_time(self) -> float:
        """Learn server time minus local wall time (ms), measured at the round trip's midpoint."""
        before = self._clock.wall()
        body = await self._send("GET", "/v5/market/time", "", None, {})
        after = self._clock.wall()
        self._offset_ms = wire.parse_server_time_ms(body) - (before + after) * 500.0
        return self._offset_ms

    # --- reads ----------------------------------------------------------------------------

    async def open_orders(self, symbol: str | None = None) -> tuple[OpenOrder, ...]:
        """Every open order of one symbol, or of every settle coin the endpoint names (the
        books are listed concurrently)."""
        scopes = [("symbol", symbol)] if symbol else [("settleCoin", c) for c in self._coins()]
        books = await asyncio.gather(*(self._orders_in(scope) for scope in scopes))
        return tuple(o for book in books for o in book)

    async def _orders_in(self, scope: tuple[str, str]) -> list[OpenOrder]:
        limit = str(self._endpoint.page_limit)
        return await self._paged("/v5/order/realtime", scope, limit, _orders_page)

    async def _paged(
        self,
        path: str,
        scope: tuple[str, str],
        limit: str,
        parse: Callable[[object], tuple[Sequence[T], str]],
    ) -> list[T]:
        """Every row of a cursor-paged list, until the cursor (or a page) is empty. A repeated
        cursor or more than ``max_pages`` pages is an error: never a partial list as the whole."""
        out: list[T] = []
        cursor = ""
        for _ in range(self._endpoint.max_pages):
            params = [("category", wire.CATEGORY), scope, ("limit", limit)]
            if cursor:
                params.append(("cursor", cursor))
            rows, following = parse(await self._get(path, params))
            out += rows
            if not following or not rows:
                return out
            if following == cursor:
                raise VenueProtocolError(f"GET {path}: the venue repeated cursor {cursor!r}")
            cursor = following
        raise VenueProtocolError(
            f"GET {path}: more than {self._endpoint.max_pages} pages for {scope[1]}"
        )

    async def account(self) -> AccountView:
        """Wallet totals and the non-zero positions (two reads; equity = margin balance)."""
        wallet = wire.parse_wallet(
            await self._get("/v5/account/wallet-balance", [("accountType", "UNIFIED")])
        )
        positions = await self.position_risk()
        return AccountView(
            equity=wallet.margin_balance,
            wallet=wallet.wallet,
            unrealized=wallet.unrealized,
            available=wallet.available,
            positions=tuple(p for p in positions if p.qty != 0),
        )

    async def position_risk(self, symbol: str | None = None) -> tuple[Position, ...]:
        """Positions with their mark price: a symbol's even when flat, otherwise the open ones."""
        scopes = [("symbol", symbol)] if symbol else [("settleCoin", c) for c in self._coins()]
        out: list[Position] = []
        for scope in scopes:
            out += await self._positions_in(scope)
        return tuple(out)

    async def _positions_in(self, scope: tuple[str, str]) -> list[Position]:
        return await self._paged("/v5/position/list", scope, _POSITION_PAGE_LIMIT, _positions_page)

    # --- cancels --------------------------------------------------------------------------

    async def cancel_all(self, symbol: str) -> str:
        """Cancel every open order of ``symbol``; the venue's answer, for the audit."""
        return await self._cancel_in(("symbol", symbol))

    async def _cancel_in(self, scope: tuple[str, str]) -> str:
        body = await self._post(
            "/v5/order/cancel-all", {"category": wire.CATEGORY, scope[0]: scope[1]}
        )
        ids = wire.parse_cancel_all(body)
        return f"venue cancelled {len(ids)} order(s)" + (f": {', '.join(ids)}" if ids else "")

    async def cancel_everything(
        self, symbols: Sequence[str] = (), *, max_rounds: int = 3
    ) -> CancelReport:
        """Cancel-all per settle coin while listing, then list until the venue lists no order.

        Cancelling by settle coin reaches every symbol of the book, those the watchdog has never
        seen included, in one request per coin (``symbols`` add nothing); the listing after it is
        the verification, and orders that landed in between are cancelled per symbol. Raises
        ``OrdersRemain`` when orders are still listed after ``max_rounds``.
        """
        return await cancel_until_none(
            [(coin, partial(self._cancel_in, ("settleCoin", coin))) for coin in self._coins()],
            self.open_orders,
            self.cancel_all,
            covered=lambda _symbol: True,
            max_rounds=max_rounds,
        )

    # --- disconnection protection (DCP) ---------------------------------------------------

    async def dcp_state(self) -> wire.DcpState:
        """The account's DCP for derivatives as the venue reports it (``configured`` False when
        the venue has not enabled DCP for this account)."""
        return wire.parse_dcp_info(await self._get("/v5/account/query-dcp-info", []))

    async def arm_dcp(self, window_s: int) -> wire.DcpState:
        """Set the derivatives DCP window and return the state read back from the venue.

        Refreshing is calling this again (and keeping a private WebSocket subscribed to ``dcp``:
        the venue only counts down once the last such connection is gone). Raises
        ``DcpUnsupported`` when the venue lists no DCP for the account: never assumed armed.
        The venue applies a change within about 10 s, so the read-back window may lag.
        """
        if not wire.DCP_WINDOW_MIN_S <= window_s <= wire.DCP_WINDOW_MAX_S:
            raise ValueError(
                f"window_s must be in {wire.DCP_WINDOW_MIN_S}..{wire.DCP_WINDOW_MAX_S}, "
                f"got {window_s}"
            )
        before = await self.dcp_state()
        if not before.configured:
            raise DcpUnsupported(
                "Bybit DCP is not configured for this account (query-dcp-info lists no "
                f"{wire.DCP_PRODUCT}): unsupported here; the venue will not cancel if the "
                "watchdog dies"
            )
        body = await self._post(
            "/v5/order/disconnected-cancel-all",
            {"product": wire.DCP_PRODUCT, "timeWindow": window_s},
        )
        wire.parse_empty_result(body, "disconnected-cancel-all")
        after = await self.dcp_state()
        if not after.configured or after.status != "ON":
            raise VenueProtocolError(
                f"disconnected-cancel-all: accepted, but the venue reads back {after}"
            )
        return after

    async def dms_state(self) -> DmsState:
        """The DCP as the venue reads it back; not configured for the account: unsupported."""
        state = await self.dcp_state()
        return _dms(state, "query-dcp-info")

    async def arm_dms(self, window_ms: int, symbols: Sequence[str]) -> DmsState:
        """``arm_dcp`` in whole seconds; an account without DCP is ``UNSUPPORTED`` (nothing
        sent). DCP has no "off" in the API (its window is 3..300 s): 0 reads the state back."""
        if window_ms == 0:
            return await self.dms_state()
        if window_ms % 1000:
            raise ValueError(f"Bybit's DCP window is whole seconds, got {window_ms} ms")
        try:
            state = await self.arm_dcp(window_ms // 1000)
        except DcpUnsupported as exc:
            return DmsState(DmsMode.UNSUPPORTED, None, str(exc))
        return _dms(state, "armed, read back")

    # --- the private stream ---------------------------------------------------------------

    def open_follower(
        self, ws_url: str, sink: Sink, *, hold_dms: bool = True
    ) -> BybitPrivateStream:
        """The private stream on this adapter's key, ``expires`` judged on the venue's clock;
        with ``hold_dms`` subscribed to ``dcp``: holding it open is what keeps the DCP from
        counting down (without, the watchdog's death or a disconnect leaves DCP alone)."""
        credentials = rest.require_credentials(self._credentials, "private stream")
        return BybitPrivateStream(
            credentials, BybitStreamConfig(ws_url, hold_dcp=hold_dms), sink, clock=self._clock,
            time_offset_ms=lambda: self._offset_ms,
        )  # fmt: skip

    def open_market_follower(
        self, ws_url: str, symbols: Sequence[str], sink: MarketSink, *, silence_s: float
    ) -> MarketFollower:
        """``tickers.<SYMBOL>`` on the public linear endpoint (``ws_url`` names it whole)."""
        market = BybitTickers(ws_url, symbols)
        return MarketFollower(market, MarketStreamConfig(silence_s=silence_s), sink)

    # --- key management (master credentials) and the key probe ---------------------------

    async def delete_sub_account_key(self, ref: SubAccountRef) -> str:
        """Delete a sub-account's API key; must run on the master's credentials. Bybit names the
        key alone."""
        body = await self._post("/v5/user/delete-sub-api", {"apikey": ref.api_key})
        wire.parse_empty_result(body, "delete-sub-api")
        return f"deleted {redact_key(ref.api_key)}"

    async def confirm_manages(self, ref: SubAccountRef) -> str:
        """The trader's key is listed under the trader's sub-account by this master key: it can
        delete it (``GET /v5/user/sub-apikeys``)."""
        if ref.uid is None:
            raise ValueError("Bybit lists a sub-account's keys by its UID: the ref has none")
        keys = wire.parse_sub_api_keys(
            await self._get("/v5/user/sub-apikeys", [("subMemberId", ref.uid)])
        )
        if ref.api_key not in keys:
            raise VenueRejected(
                None, f"key {redact_key(ref.api_key)} is not among sub-account {ref.uid}'s keys",
                http_status=200, endpoint="GET /v5/user/sub-apikeys",
            )  # fmt: skip
        return f"master manages sub-account {ref.uid} and its key {redact_key(ref.api_key)}"

    async def key_accepted(self, api_key: str) -> bool:
        """Does the venue still accept ``api_key``? Needs no secret of that key.

        A signed read with a deliberately wrong signature: the venue checks the key before the
        signature, so 10003/33004 means refused and 10004 (or 10010, a key bound to other IPs)
        means the key still exists. Reads nothing and changes nothing. Any other answer raises:
        "unknown" is never reported as "refused".
        """
        params = [("accountType", "UNIFIED")]

        async def probe() -> object:
            headers = wire.auth_headers(
                api_key, self._timestamp_ms(), self._endpoint.recv_window_ms, _PROBE_SIGNATURE
            )
            query = wire.query_string(params)
            return await self._send("GET", "/v5/account/wallet-balance", query, None, headers)

        try:
            await rest.resynced_once(probe, self.sync_time)
        except VenueRejected as exc:
            if exc.code in wire.KEY_GONE_CODES:
                return False
            if exc.code in (wire.RET_INVALID_SIGNATURE, wire.RET_IP_MISMATCH):
                return True
            raise
        raise VenueProtocolError("wallet-balance probe: a zero signature was accepted")

    # --- transport ------------------------------------------------------------------------

    def _coins(self) -> tuple[str, ...]:
        return self._endpoint.settle_coins

    def _timestamp_ms(self) -> int:
        return int(self._clock.wall() * 1000.0 + self._offset_ms)

    async def _get(self, path: str, params: list[tuple[str, str]]) -> object:
        return await self._signed("GET", path, wire.query_string(params), None)

    async def _post(self, path: str, payload: Mapping[str, object]) -> object:
        return await self._signed("POST", path, "", orjson.dumps(payload).decode())

    async def _signed(self, method: str, path: str, query: str, body: str | None) -> object:
        """A signed call; on 10002 the clock is resynced and the call is made once more."""
        credentials = rest.require_credentials(self._credentials, f"{method} {path}")

        async def call() -> object:
            stamp = self._timestamp_ms()
            window = self._endpoint.recv_window_ms
            signature = credentials.sign(
                wire.sign_payload(stamp, credentials.api_key, window, body or query)
            )
            headers = wire.auth_headers(credentials.api_key, stamp, window, signature)
            return await self._send(method, path, query, body, headers)

        return await rest.resynced_once(call, self.sync_time)

    async def _send(
        self, method: str, path: str, query: str, body: str | None, headers: dict[str, str]
    ) -> object:
        return await self._link.send(method, path, query, body, headers, self._judged)

    def _judged(
        self, status: int, answer: object, headers: Mapping[str, str], endpoint: str
    ) -> VenueError | None:
        """Bybit's reading of an answer. The rate counters are kept from every answer that
        carries them, a refusal's too; a rate limit's pause is judged on the venue's clock."""
        self._rate = wire.rate_counters(headers, self._rate)
        return wire.error_for(status, answer, headers, endpoint, now_ms=self._timestamp_ms())

    # --- order entry: the reference trader's (the watchdog itself never places an order) ----

    async def create_order(self, payload: Mapping[str, object]) -> str:
        """Place one order (``payload``: ``/v5/order/create``'s body, ``category`` included);
        the venue's order id. Bybit acknowledges with the ids alone: ``find_order`` reads the
        status."""
        return self._acked_id(await self._post("/v5/order/create", payload), "create")

    async def cancel_order(self, symbol: str, order_link_id: str) -> str:
        """Cancel one order by its client id; the venue's order id."""
        payload = {"category": wire.CATEGORY, "symbol": symbol, "orderLinkId": order_link_id}
        return self._acked_id(await self._post("/v5/order/cancel", payload), "cancel")

    async def find_order(self, symbol: str, order_link_id: str) -> OpenOrder | None:
        """One order by its client id, whatever its status: the live and recently closed ones
        (``realtime``), then the history. None when the venue knows no such order."""
        params = [("category", wire.CATEGORY), ("symbol", symbol), ("orderLinkId", order_link_id)]
        for path in ("/v5/order/realtime", "/v5/order/history"):
            page = wire.parse_orders_page(await self._get(path, params))
            for order in page.orders:
                if order.client_order_id == order_link_id and order.symbol == symbol:
                    return order
        return None

    @staticmethod
    def _acked_id(body: object, where: str) -> str:
        order_id = wire.result_of(body, where).get("orderId")
        if not isinstance(order_id, str) or not order_id:
            raise VenueProtocolError(f"{where}.result.orderId: expected a non-empty string")
        return order_id


def _dms(state: wire.DcpState, how: str) -> DmsState:
    if not state.configured:
        return DmsState(
            DmsMode.UNSUPPORTED, None,
            "Bybit DCP is not configured for this account: unsupported here",
        )  # fmt: skip
    window_ms = None if state.window_s is None else state.window_s * 1000
    mode = DmsMode.ARMED if state.status == "ON" else DmsMode.OFF
    return DmsState(mode, window_ms, f"DCP {state.status} {state.window_s} s ({how})")


def _orders_page(body: object) -> tuple[Sequence[OpenOrder], str]:
    page = wire.parse_orders_page(body)
    return page.orders, page.next_cursor


def _positions_page(body: object) -> tuple[Sequence[Position], str]:
    page = wire.parse_positions_page(body)
    return page.positions, page.next_cursor
