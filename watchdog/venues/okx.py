"""OKX v5 REST adapter (aiohttp, USDT-margined perpetual swaps) for the watchdog's kill and view.

Shares the process's one ``aiohttp.ClientSession`` (``open_session``). GET parameters travel in
the query string, POST parameters as a JSON body; the signature covers the path with its query
and the body exactly as sent (``OK-ACCESS-SIGN``), with the key's passphrase beside it. The
server-time offset is learnt from ``/api/v5/public/time`` and relearnt on 50102/50112.

OKX has no account-wide cancel-all for ordinary orders: ``cancel_everything`` lists the pending
orders and cancels them per order, in batches of at most 20 sent concurrently, listing again
until the venue lists none. Sizes are contracts on the wire; this adapter reports the base coin
(contracts x the instrument's contract value), like the other venues.

Kill steps are verified by their effect: the listing after the cancels; ``key_accepted`` asks
the venue whether the deleted key is refused; ``arm_dms`` reads the switch back from the
venue's answer. An answer the adapter cannot read is an error, never a success.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from urllib.parse import quote

import aiohttp
import orjson

from watchdog.clock import Clock, SystemClock
from watchdog.venues import okx_wire as wire
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
from watchdog.venues.cancelling import strictest
from watchdog.venues.credentials import Credentials, redact_key
from watchdog.venues.errors import (
    DmsNotConfirmed,
    OrdersRemain,
    VenueProtocolError,
    VenueRejected,
)
from watchdog.venues.market_stream import (
    MarketFollower,
    MarketSink,
    MarketStreamConfig,
    OkxTickers,
)
from watchdog.venues.okx_stream import OkxPrivateStream, OkxStreamConfig
from watchdog.venues.user_stream import Sink

log = logging.getLogger(__name__)

# A signature and a passphrase no key has: the probe's answer then tells "key unknown"
# (50111/50119) from "key known, the rest wrong" (50113/50105) without the trader's secret.
_PROBE_SIGNATURE = "A" * 43 + "="  # 32 zero bytes in base64
_PROBE_PASSPHRASE = "not-the-passphrase"  # noqa: S105 - deliberately wrong, it signs nothing
# The venue answers the switch with the trigger time it set; a second of slack covers the
# venue's own rounding between its clock read and the stamp it returns.
_DMS_SLACK_MS = 1000


@dataclass(frozen=True, slots=True)
class OkxEndpoint:
    """Where and how to reach the venue; ``cancel_concurrency``: batches in flight at once
    (20 orders each; OKX allows 300 cancelled orders per 2 s on the batch endpoint)."""

    base_url: str
    request_timeout_s: float = 5.0
    connect_timeout_s: float = 2.0
    page_limit: int = wire.PAGE_MAX
    max_pages: int = 100
    cancel_concurrency: int = 5

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: expected an http(s) URL, got {self.base_url!r}")
        if self.request_timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ValueError("request_timeout_s and connect_timeout_s must be > 0")
        if not 1 <= self.page_limit <= wire.PAGE_MAX:
            raise ValueError(f"page_limit: must be in 1..{wire.PAGE_MAX}, got {self.page_limit}")
        if self.max_pages < 1:
            raise ValueError(f"max_pages: must be >= 1, got {self.max_pages}")
        if not 1 <= self.cancel_concurrency <= 15:
            raise ValueError(f"cancel_concurrency: must be in 1..15, got {self.cancel_concurrency}")


class Okx:
    """One API key on one OKX account. ``credentials`` may be None for public and probe calls;
    signed calls need its passphrase."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: OkxEndpoint,
        credentials: Credentials | None,
        *,
        clock: Clock | None = None,
    ) -> None:
        if credentials is not None and credentials.passphrase is None:
            raise ValueError("OKX credentials need the key's passphrase (passphrase = ...)")
        self._endpoint = endpoint
        self._credentials = credentials
        self._clock = clock or SystemClock()
        self._offset_ms = 0.0
        gate = rest.RateGate(self._clock, "still backing off after the venue's rate limit")
        self._link = rest.Link(
            session, endpoint.base_url, endpoint.request_timeout_s, endpoint.connect_timeout_s, gate
        )
        self._contracts: dict[str, Decimal] = {}
        self._dms = DmsState(DmsMode.OFF, None, "not armed by this watchdog")

    def __repr__(self) -> str:
        return f"Okx({self._endpoint.base_url!r}, credentials={self._credentials!r})"

    @property
    def time_offset_ms(self) -> float:
        return self._offset_ms

    def rate_counters(self) -> Mapping[str, int]:
        """OKX sends no rate-limit headers: nothing to report."""
        return {}

    # --- time and instruments --------------------------------------------------------------

    async def sync_time(self) -> float:
        """Learn server time minus local wall time (ms), measured at the round trip's midpoint."""
        before = self._clock.wall()
        body = await self._send("GET", "/api/v5/public/time", "", None, {})
        after = self._clock.wall()
        self._offset_ms = wire.parse_server_time_ms(body) - (before + after) * 500.0
        return self._offset_ms

    async def contract_value(self, symbol: str) -> Decimal:
        """The base coin one contract of ``symbol`` is worth; the instruments are read once and
        again when a symbol is missing. A symbol the venue does not list is an error: a size is
        never guessed."""
        if symbol not in self._contracts:
            query = f"instType={wire.INST_TYPE}"
            body = await self._send("GET", "/api/v5/public/instruments", query, None, {})
            self._contracts = wire.parse_contract_values(body)
        if symbol not in self._contracts:
            raise VenueProtocolError(f"public/instruments: no USDT swap {symbol!r} listed")
        return self._contracts[symbol]

    async def _scaled(self, symbol: str, contracts: Decimal) -> Decimal:
        return contracts * await self.contract_value(symbol)

    # --- reads ----------------------------------------------------------------------------

    async def open_orders(self, symbol: str | None = None) -> tuple[OpenOrder, ...]:
        """Every pending order (of one symbol), newest first, every page. Without a symbol, on
        every instrument the account has, not only USDT swaps: the kill must see them all.
        USDT swaps are sized in the base coin; any other instrument keeps OKX's units and its
        ``instId`` as the symbol (``wire.listed_symbol``)."""
        raw = await self._pending(symbol)
        return tuple([await self._order_in_coin(o) for o in raw])

    async def _pending(self, symbol: str | None) -> list[OpenOrder]:
        """Pages of ``orders-pending`` (in contracts) until one is short; a repeated or missing
        cursor or more than ``max_pages`` pages is an error: never a partial list as the whole.
        No ``instType`` without a symbol: OKX then lists every instrument type."""
        base = _scope(symbol)
        limit = self._endpoint.page_limit
        out: list[OpenOrder] = []
        after = ""
        for _ in range(self._endpoint.max_pages):
            params = [*base, ("limit", str(limit))] + ([("after", after)] if after else [])
            page = wire.parse_orders(await self._get("/api/v5/trade/orders-pending", params))
            out += page
            if len(page) < limit:
                return out
            following = page[-1].order_id
            if following == after:
                raise VenueProtocolError(f"orders-pending: the venue repeated page {after!r}")
            after = following
        raise VenueProtocolError(f"orders-pending: more than {self._endpoint.max_pages} pages")

    async def _order_in_coin(self, o: OpenOrder) -> OpenOrder:
        if not wire.valued(o.symbol):
            return o  # OKX's own units: the suite cannot value this instrument
        value = await self.contract_value(o.symbol)
        return replace(o, orig_qty=o.orig_qty * value, executed_qty=o.executed_qty * value)

    async def account(self) -> AccountView:
        """The USDT balance and the non-zero positions (two reads; equity includes UPL).

        Positions are read on every instrument type. One the suite cannot value (an inverse
        swap, a future, margin, an option: its PnL is not in the USDT equity) is left out of
        ``positions`` and named in ``unvalued``, which the daemon halts on."""
        balance = wire.parse_balance(
            await self._get("/api/v5/account/balance", [("ccy", wire.QUOTE)])
        )
        rows = wire.parse_positions(await self._get("/api/v5/account/positions", []))
        held = [p for p in rows if p.qty != 0]
        return AccountView(
            equity=balance.equity,
            wallet=balance.cash,
            unrealized=balance.unrealized,
            available=balance.available,
            positions=tuple([await self._in_coin(p) for p in held if wire.valued(p.symbol)]),
            unvalued=tuple(sorted({p.symbol for p in held if not wire.valued(p.symbol)})),
        )

    async def _in_coin(self, p: Position) -> Position:
        return replace(p, qty=await self._scaled(p.symbol, p.qty))

    async def position_risk(self, symbol: str | None = None) -> tuple[Position, ...]:
        """USDT swap positions with their mark price, sizes in the base coin (positions on
        instruments the suite cannot value are ``account()``'s ``unvalued``)."""
        params = [("instType", wire.INST_TYPE)]
        if symbol:
            params.append(("instId", wire.inst_id(symbol)))
        rows = wire.parse_positions(await self._get("/api/v5/account/positions", params))
        return tuple([await self._in_coin(p) for p in rows if wire.valued(p.symbol)])

    # --- cancels --------------------------------------------------------------------------

    async def cancel_all(self, symbol: str) -> str:
        """Cancel every pending order of ``symbol`` (listed, then cancelled in batches); a
        symbol ``open_orders`` gave, an instrument's ``instId`` included. The venue's answers,
        for the audit. Verification is the caller's next listing."""
        return await self._cancel_listed(await self._pending(symbol))

    async def cancel_everything(
        self, symbols: Sequence[str] = (), *, max_rounds: int = 3
    ) -> CancelReport:
        """List every pending order, on every instrument, and cancel it by ``instId`` and
        ``ordId``, listing again until the venue lists none (``symbols`` add nothing: the
        listing covers every instrument). Raises
        ``OrdersRemain`` when orders are still listed after ``max_rounds`` rounds of cancels."""
        if max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
        notes: list[str] = []
        for round_no in range(1, max_rounds + 2):
            listed = await self._pending(None)
            if not listed:
                return CancelReport(round_no, tuple(notes))
            if round_no > max_rounds:
                break
            notes.append(await self._cancel_listed(listed))
        raise OrdersRemain(
            f"the venue still lists {len(listed)} pending order(s) after {max_rounds} rounds of "
            f"batch cancels ({', '.join(sorted({o.symbol for o in listed}))}): {'; '.join(notes)}",
            remaining=len(listed),
        )

    async def _cancel_listed(self, orders: Sequence[OpenOrder]) -> str:
        """Cancel ``orders`` in batches of 20, ``cancel_concurrency`` at a time. Every batch is
        answered (none abandoned) before a failed item is raised: an order already gone is no
        failure, a rate limit is raised before any other failure."""
        if not orders:
            return "nothing listed"
        batches = [orders[i : i + wire.BATCH_MAX] for i in range(0, len(orders), wire.BATCH_MAX)]
        slots = asyncio.Semaphore(self._endpoint.cancel_concurrency)

        async def one(batch: Sequence[OpenOrder]) -> tuple[wire.BatchItem, ...]:
            async with slots:
                return await self._cancel_batch(batch)

        answers = await asyncio.gather(*(one(b) for b in batches), return_exceptions=True)
        failures: list[BaseException] = [a for a in answers if isinstance(a, BaseException)]
        items = [i for a in answers if not isinstance(a, BaseException) for i in a]
        endpoint = "POST /api/v5/trade/cancel-batch-orders"
        failures += [
            wire.item_error(i.s_code, f"order {i.order_id}: {i.s_msg}", endpoint)
            for i in items
            if i.s_code != wire.CODE_OK and not i.gone
        ]
        if failures:
            raise strictest(failures)
        done = sum(1 for i in items if i.s_code == wire.CODE_OK)
        gone = sum(1 for i in items if i.gone)
        return f"{len(batches)} batch(es): {done} cancelled, {gone} already gone"

    async def _cancel_batch(self, batch: Sequence[OpenOrder]) -> tuple[wire.BatchItem, ...]:
        payload = [{"instId": wire.listed_inst_id(o.symbol), "ordId": o.order_id} for o in batch]
        body = await self._post("/api/v5/trade/cancel-batch-orders", payload, batch=True)
        return wire.parse_batch_cancel(body, sent=len(batch))

    # --- the dead man's switch: cancel-all-after ------------------------------------------

    async def cancel_all_after(self, timeout_s: int) -> wire.CancelAfter:
        """Arm (10..120 s) or with 0 disarm the account's countdown that cancels every order;
        the venue's answer carries the trigger time it set."""
        if timeout_s != 0 and not wire.DMS_MIN_S <= timeout_s <= wire.DMS_MAX_S:
            raise ValueError(
                f"timeout_s must be 0 (off) or in {wire.DMS_MIN_S}..{wire.DMS_MAX_S}, "
                f"got {timeout_s}"
            )
        body = await self._post("/api/v5/trade/cancel-all-after", {"timeOut": str(timeout_s)})
        return wire.parse_cancel_all_after(body)

    async def arm_dms(self, window_ms: int, symbols: Sequence[str]) -> DmsState:
        """``cancel_all_after`` in whole seconds, account-wide (``symbols`` add nothing); armed
        only when the answer's trigger time lies one window after the venue's stamp, off only
        when it is 0. Anything else raises ``DmsNotConfirmed``."""
        if window_ms % 1000:
            raise ValueError(f"OKX's cancel-all-after counts whole seconds, got {window_ms} ms")
        answer = await self.cancel_all_after(window_ms // 1000)
        if window_ms == 0:
            if answer.armed:
                raise DmsNotConfirmed(f"cancel-all-after 0: the venue still triggers at {answer}")
            self._dms = DmsState(DmsMode.OFF, None, "cancel-all-after disarmed (triggerTime 0)")
            return self._dms
        if not answer.armed or abs(answer.remaining_ms - window_ms) > _DMS_SLACK_MS:
            raise DmsNotConfirmed(
                f"cancel-all-after {window_ms // 1000} s: the venue answered triggerTime "
                f"{answer.trigger_ms} at ts {answer.ts_ms}"
            )
        self._dms = DmsState(
            DmsMode.ARMED, window_ms,
            f"cancel-all-after {window_ms // 1000} s, triggers at {answer.trigger_ms}",
        )  # fmt: skip
        return self._dms

    async def dms_state(self) -> DmsState:
        """OKX has no read of the countdown: the state is the venue's last confirmation."""
        return self._dms

    # --- the streams ----------------------------------------------------------------------

    def open_follower(self, ws_url: str, sink: Sink, *, hold_dms: bool = True) -> OkxPrivateStream:
        """The private stream on this adapter's key (``orders``, ``positions``, ``account``).
        OKX's switch is a countdown the watchdog refreshes, not tied to a connection:
        ``hold_dms`` changes nothing here."""
        credentials = rest.require_credentials(self._credentials, "private stream")
        return OkxPrivateStream(
            credentials, OkxStreamConfig(ws_url), sink, self.contract_value, clock=self._clock,
            time_offset_ms=lambda: self._offset_ms,
        )  # fmt: skip

    def open_market_follower(
        self, ws_url: str, symbols: Sequence[str], sink: MarketSink, *, silence_s: float
    ) -> MarketFollower:
        """``tickers`` of each symbol's swap on the public endpoint (``ws_url`` names it whole)."""
        market = OkxTickers(ws_url, symbols)
        return MarketFollower(market, MarketStreamConfig(silence_s=silence_s), sink)

    # --- key management (master credentials) and the key probe ---------------------------

    async def delete_sub_account_key(self, ref: SubAccountRef) -> str:
        """Delete the trader's key from its sub-account; must run on the master's credentials
        (OKX requires that key to be bound to an IP address)."""
        sub = _sub_account(ref)
        body = await self._post(
            "/api/v5/users/subaccount/delete-apikey", {"subAcct": sub, "apiKey": ref.api_key}
        )
        wire.parse_delete_api_key(body, sub)
        return f"deleted {redact_key(ref.api_key)} of sub-account {sub}"

    async def confirm_manages(self, ref: SubAccountRef) -> str:
        """This key is the master's, bound to an IP (``account/config``), and lists the
        trader's key on its sub-account (``users/subaccount/apikey``): it can delete it.
        Otherwise ``VenueRejected`` names what is missing."""
        sub = _sub_account(ref)
        config = wire.parse_account_config(await self._get("/api/v5/account/config", []))
        where = "GET /api/v5/account/config"
        if not config.is_master:
            raise _refusal(where, f"key is a sub-account's (uid {config.uid}), not the master's")
        if not config.ip:
            raise _refusal(
                where,
                "master key is bound to no IP address: OKX lets it manage sub-account keys "
                "only when bound; bind it to the watchdog's address",
            )
        params = [("subAcct", sub), ("apiKey", ref.api_key)]
        keys = wire.parse_sub_api_keys(await self._get("/api/v5/users/subaccount/apikey", params))
        if ref.api_key not in keys:
            raise _refusal(
                "GET /api/v5/users/subaccount/apikey",
                f"key {redact_key(ref.api_key)} is not among sub-account {sub}'s keys",
            )
        return (
            f"master (bound to {config.ip}) manages sub-account {sub} and its key "
            f"{redact_key(ref.api_key)}"
        )

    async def key_accepted(self, api_key: str) -> bool:
        """Does the venue still know ``api_key``? Needs no secret of that key.

        A signed read carrying the key with a signature and a passphrase it cannot have: the
        venue must find the key before it can check either, so 50111/50119 means the key is
        gone, and 50113/50105 (or 50110, bound to other IPs) means it still exists. Reads
        nothing and changes nothing. Any other answer raises: "unknown" is never "refused".
        """

        async def probe() -> object:
            stamp = wire.iso_timestamp(self._timestamp_ms())
            headers = wire.auth_headers(api_key, stamp, _PROBE_SIGNATURE, _PROBE_PASSPHRASE)
            return await self._send(
                "GET", "/api/v5/account/balance", f"ccy={wire.QUOTE}", None, headers
            )

        try:
            await rest.resynced_once(probe, self.sync_time)
        except VenueRejected as exc:
            if exc.code in wire.KEY_GONE_CODES:
                return False
            if exc.code in wire.KEY_EXISTS_CODES:
                return True
            raise
        raise VenueProtocolError("account/balance probe: a made-up signature was accepted")

    # --- transport ------------------------------------------------------------------------

    def _timestamp_ms(self) -> int:
        return int(self._clock.wall() * 1000.0 + self._offset_ms)

    async def _get(self, path: str, params: list[tuple[str, str]]) -> object:
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
        return await self._signed("GET", path, query, None)

    async def _post(self, path: str, payload: object, *, batch: bool = False) -> object:
        return await self._signed("POST", path, "", orjson.dumps(payload).decode(), batch=batch)

    async def _signed(
        self, method: str, path: str, query: str, body: str | None, *, batch: bool = False
    ) -> object:
        """A signed call; on 50102/50112 the clock is resynced and the call is made once more."""
        credentials = rest.require_credentials(self._credentials, f"{method} {path}")
        passphrase = credentials.passphrase or ""  # checked at construction
        request_path = path + (f"?{query}" if query else "")

        async def call() -> object:
            stamp = wire.iso_timestamp(self._timestamp_ms())
            signature = credentials.sign_base64(
                wire.sign_payload(stamp, method, request_path, body or "")
            )
            headers = wire.auth_headers(credentials.api_key, stamp, signature, passphrase)
            return await self._send(method, path, query, body, headers, batch=batch)

        return await rest.resynced_once(call, self.sync_time)

    async def _send(
        self,
        method: str,
        path: str,
        query: str,
        body: str | None,
        headers: dict[str, str],
        *,
        batch: bool = False,
    ) -> object:
        judge = partial(wire.error_for, batch=batch)
        return await self._link.send(method, path, query, body, headers, judge)


def _scope(symbol: str | None) -> list[tuple[str, str]]:
    """The listing's filter: none for every instrument, else the symbol's ``instId``."""
    if symbol is None:
        return []
    if wire.valued(symbol):
        return [("instType", wire.INST_TYPE), ("instId", wire.inst_id(symbol))]
    return [("instId", symbol)]


def _sub_account(ref: SubAccountRef) -> str:
    if not ref.sub_account:
        raise ValueError(
            "OKX names a sub-account's key by the sub-account's name: the ref has none"
        )
    return ref.sub_account


def _refusal(endpoint: str, msg: str) -> VenueRejected:
    return VenueRejected(None, msg, http_status=200, endpoint=endpoint)
