"""``OrderVenue`` over OKX v5 REST (USDT-margined perpetual swaps, cross margin, net mode).

The signing, the envelope, the typed errors and the instrument names are the watchdog adapter's
(``watchdog.venues.okx_wire``); the request's bounded time and the venue's rate-limit hold-off
are ``watchdog.venues.rest``'s. What is the trader's own here: order entry, and sizes.

- **Sizes.** OKX counts swaps in contracts (``sz``, ``accFillSz``, ``pos``), each the
  instrument's ``ctVal`` x ``ctMult`` of the base coin; the trader counts in the base coin, as
  on every venue. ``Contracts`` is the one place that converts, both ways, from the values the
  venue lists (``/api/v5/public/instruments``, read once, before the first order): a size the
  contract value does not divide exactly is refused before anything is sent, never rounded;
  an order whose contract values could not be read is refused too (nothing was sent).
- **New orders** are post-only limit orders (``ordType=post_only``) with the client id as
  ``clOrdId`` (letters and digits, at most 32: ``trader.orders.ClientIds.alphanumeric``). OKX
  answers with the ids alone: the order is reported ``NEW``, reconciliation reads how it ended.
  A post-only order that would cross is refused (sCode 51019) or accepted and then cancelled
  by the venue: both end as a cancel, never a reject. New orders go through the aiohttp
  session: the fast path signs Binance's query strings, OKX signs a JSON body with its own
  headers.
- **Cancel** by ``clOrdId``, then the order is read back (``/api/v5/trade/order``), so fills
  that landed before it are counted; an order still resting is an unknown outcome, retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import partial
from urllib.parse import quote

import aiohttp
import orjson

import watchdog.venues as wv
from trader.strategy import Side
from trader.venue import (
    AccountReport,
    OrderReport,
    OrderRequest,
    PositionReport,
    SentHook,
    UnknownOrder,
    VenueRejected,
    VenueUnavailable,
    acknowledged,
    cancel_and_read_back,
    note_sent,
    translated,
    warm_connections,
)
from watchdog.clock import Clock
from watchdog.venues import okx_wire as wire
from watchdog.venues import rest

log = logging.getLogger(__name__)
# OKX's order states in the words the order manager reads (Binance's).
_STATUS = {
    "live": "NEW",
    "partially_filled": "PARTIALLY_FILLED",
    "filled": "FILLED",
    "canceled": "CANCELED",
    "mmp_canceled": "CANCELED",
}
TD_MODE = "cross"  # the margin mode the trader's orders use on a swap
PAGE_LIMIT = 100  # orders-pending rows per page: OKX's maximum
MAX_PAGES = 100


class Contracts:
    """The base coin per contract of each symbol, as the venue lists it: the one place sizes
    change units between the trader (base coin) and OKX (contracts)."""

    def __init__(self, values: Mapping[str, Decimal]) -> None:
        self._values = dict(values)

    def value(self, symbol: str) -> Decimal:
        found = self._values.get(symbol)
        if found is None:
            raise VenueRejected(0, f"OKX lists no USDT swap for {symbol}: nothing was sent")
        return found

    def to_contracts(self, symbol: str, qty: str) -> str:
        """``qty`` of the base coin as OKX's ``sz`` (contracts, a fraction where the instrument's
        lot allows: the venue judges its lot). A size the contract value does not divide exactly
        is refused, never rounded: a rounded size is another order than the one decided."""
        value = self.value(symbol)
        try:
            base = Decimal(qty)
            contracts = base / value
        except InvalidOperation:
            raise VenueRejected(0, f"{symbol}: quantity {qty!r} is not a number") from None
        if not base.is_finite() or base <= 0 or contracts * value != base:
            raise VenueRejected(
                0, f"{symbol}: {qty} is no exact number of contracts of {value} (nothing sent)"
            )
        return f"{contracts.normalize():f}"

    def to_base(self, symbol: str, contracts: Decimal) -> Decimal:
        return contracts * self.value(symbol)


class OkxOrderVenue:
    """One trade key on one OKX account: the trader's order entry, reads and account."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        credentials: wv.Credentials,
        *,
        clock: Clock,
        request_timeout_s: float,
        connect_timeout_s: float = 2.0,
    ) -> None:
        if credentials.passphrase is None:
            raise ValueError("OKX signs with a passphrase: the credentials file has none")
        self._credentials = credentials
        self._passphrase = credentials.passphrase
        self._clock = clock
        self._offset_ms = 0.0
        gate = rest.RateGate(clock, "still backing off after the venue's rate limit")
        self._link = rest.Link(
            session, base_url.rstrip("/"), request_timeout_s, connect_timeout_s, gate
        )
        self._contracts: Contracts | None = None
        self._learning = asyncio.Lock()

    # --- OrderVenue -------------------------------------------------------------------------

    async def place(self, order: OrderRequest, on_sent: SentHook | None = None) -> OrderReport:
        try:
            contracts = await self.contracts()
        except VenueUnavailable as exc:
            # The order itself never left: a definite refusal, so no cancel or query follows
            # for an order the venue cannot have.
            raise VenueRejected(0, f"contract values unread, nothing was sent: {exc}") from exc
        payload = {
            "instId": wire.inst_id(order.symbol),
            "tdMode": TD_MODE,
            "side": "buy" if order.side is Side.BUY else "sell",
            "ordType": "post_only" if order.post_only else "limit",
            "px": order.price,
            "sz": contracts.to_contracts(order.symbol, order.qty),
            "clOrdId": order.client_id,
            "reduceOnly": order.reduce_only,
        }
        note_sent(on_sent)
        with translated(definite=True):
            await self._one_item("POST", "/api/v5/trade/order", payload)
        return acknowledged(order)

    async def cancel(self, symbol: str, client_id: str) -> OrderReport:
        return await cancel_and_read_back(symbol, client_id, self._cancel_order, self.query)

    async def query(self, symbol: str, client_id: str) -> OrderReport:
        params = [("instId", wire.inst_id(symbol)), ("clOrdId", client_id)]
        with translated(definite=True):
            rows = wire.parse_orders(await self._get("/api/v5/trade/order", params))
        found = [o for o in rows if o.client_order_id == client_id and o.symbol == symbol]
        if len(found) != 1:
            raise UnknownOrder(0, f"OKX answered {len(rows)} order(s) for {client_id} on {symbol}")
        return await self._report(found[0])

    async def open_orders(self) -> list[OrderReport]:
        """The pending orders on the USDT swaps the trader trades. One on any other instrument
        (an inverse swap) was not placed by this trader: it is logged by name, never read as
        its own (the watchdog counts it, and a kill cancels it)."""
        with translated(definite=False):
            orders = await self._pending()
        _note_others("okx_orders_on_other_instruments", [o.symbol for o in orders])
        return [await self._report(o) for o in orders if wire.valued(o.symbol)]

    async def account(self) -> AccountReport:
        with translated(definite=False):
            balance = wire.parse_balance(
                await self._get("/api/v5/account/balance", [("ccy", wire.QUOTE)])
            )
            positions = wire.parse_positions(
                await self._get("/api/v5/account/positions", [("instType", wire.INST_TYPE)])
            )
            contracts = await self.contracts()
        held = [p for p in positions if p.qty != 0]
        _note_others("okx_positions_on_other_instruments", [p.symbol for p in held])
        return AccountReport(
            float(balance.equity),
            float(balance.unrealized),
            tuple(_position(p, contracts) for p in held if wire.valued(p.symbol)),
        )

    async def warm_up(self, connections: int) -> None:
        """Open keep-alive connections, learn the venue's clock and its contract values."""
        await warm_connections(connections, self.sync_time, self.sync_time)
        await self.contracts()

    # --- what the venue lists once ----------------------------------------------------------

    async def contracts(self) -> Contracts:
        """The contract values, read from the venue on first use (one reader at a time)."""
        async with self._learning:
            if self._contracts is None:
                with translated(definite=False):
                    body = await self._get(
                        "/api/v5/public/instruments", [("instType", wire.INST_TYPE)], signed=False
                    )
                    self._contracts = Contracts(wire.parse_contract_values(body))
            return self._contracts

    async def sync_time(self) -> float:
        """Learn server time minus local wall time (ms), measured at the round trip's midpoint."""
        before = self._clock.wall()
        body = await self._get("/api/v5/public/time", [], signed=False)
        after = self._clock.wall()
        self._offset_ms = wire.parse_server_time_ms(body) - (before + after) * 500.0
        return self._offset_ms

    # --- requests ---------------------------------------------------------------------------

    async def _pending(self) -> list[wv.OpenOrder]:
        """Every pending swap order, page after page (``after`` the last order id). A repeated
        page or more than ``MAX_PAGES`` is an error: never a partial list taken for the whole."""
        out: list[wv.OpenOrder] = []
        after = ""
        for _ in range(MAX_PAGES):
            params = [("instType", wire.INST_TYPE), ("limit", str(PAGE_LIMIT))]
            if after:
                params.append(("after", after))
            page = wire.parse_orders(await self._get("/api/v5/trade/orders-pending", params))
            out += page
            if len(page) < PAGE_LIMIT:
                return out
            if page[-1].order_id == after:
                raise wv.VenueProtocolError(f"orders-pending: the venue repeated page {after!r}")
            after = page[-1].order_id
        raise wv.VenueProtocolError(f"orders-pending: more than {MAX_PAGES} pages")

    async def _report(self, order: wv.OpenOrder) -> OrderReport:
        status = _STATUS.get(order.status)
        if status is None:
            # An unknown state is an unread answer, never a guess at "resting" or "gone".
            raise VenueUnavailable(f"OKX order {order.client_order_id}: state {order.status!r}")
        contracts = await self.contracts()
        return OrderReport(
            symbol=order.symbol,
            client_id=order.client_order_id,
            side=Side(order.side.value),
            status=status,
            price=float(order.price),
            orig_qty=float(contracts.to_base(order.symbol, order.orig_qty)),
            executed_qty=float(contracts.to_base(order.symbol, order.executed_qty)),
            avg_price=0.0,  # a post-only limit order fills at its price
        )

    async def _cancel_order(self, symbol: str, client_id: str) -> None:
        payload = {"instId": wire.inst_id(symbol), "clOrdId": client_id}
        await self._one_item("POST", "/api/v5/trade/cancel-order", payload)

    async def _one_item(self, method: str, path: str, payload: Mapping[str, object]) -> None:
        """A single-order request: OKX answers code "1" with the item's own sCode on failure."""
        body = await self._send(method, path, [], orjson.dumps(payload).decode(), batch=True)
        rows = wire.data_of(body, path, batch=True)
        if len(rows) != 1 or not isinstance(rows[0], dict):
            raise wv.VenueProtocolError(f"{path}.data: expected one entry, got {len(rows)}")
        item = rows[0]
        s_code, s_msg = item.get("sCode"), item.get("sMsg")
        if not isinstance(s_code, str) or not s_code.isdigit() or not isinstance(s_msg, str):
            raise wv.VenueProtocolError(f"{path}.data[0]: no sCode of digits and sMsg")
        if int(s_code) != wire.CODE_OK:
            raise wire.item_error(int(s_code), s_msg, f"{method} {path}")
        if wire.code_of(body) != wire.CODE_OK:
            raise wv.VenueProtocolError(f"{path}: a failure code with a successful item")

    async def _get(
        self, path: str, params: Sequence[tuple[str, str]], *, signed: bool = True
    ) -> object:
        return await self._send("GET", path, params, None, signed=signed)

    async def _send(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]],
        body: str | None,
        *,
        signed: bool = True,
        batch: bool = False,
    ) -> object:
        """One request, signed afresh on each try; on an expired timestamp the clock is
        relearnt and the request made once more."""
        # Percent-encoded once: the signature covers the path exactly as it is sent.
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
        request_path = f"{path}?{query}" if query else path
        judge = partial(wire.error_for, batch=batch)

        async def call() -> object:
            headers = self._headers(method, request_path, body) if signed else {}
            return await self._link.send(method, path, query, body, headers, judge)

        if not signed:
            return await call()
        return await rest.resynced_once(call, self.sync_time)

    def _headers(self, method: str, request_path: str, body: str | None) -> dict[str, str]:
        stamp = wire.iso_timestamp(int(self._clock.wall() * 1000.0 + self._offset_ms))
        signature = self._credentials.sign_base64(
            wire.sign_payload(stamp, method, request_path, body or "")
        )
        return wire.auth_headers(self._credentials.api_key, stamp, signature, self._passphrase)


def _note_others(event: str, symbols: Sequence[str]) -> None:
    """Name the instruments a read showed that the trader does not trade (their instIds)."""
    others = sorted({s for s in symbols if not wire.valued(s)})
    if others:
        log.warning(event, extra={"instruments": others})


def _position(p: wv.Position, contracts: Contracts) -> PositionReport:
    return PositionReport(
        p.symbol,
        float(contracts.to_base(p.symbol, p.qty)),
        float(p.mark_price) if p.mark_price is not None else 0.0,
        float(p.unrealized_pnl),
        float(p.entry_price),
    )
