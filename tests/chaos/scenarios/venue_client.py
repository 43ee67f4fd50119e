"""A second client holding the trader's key, acting behind the watchdog's back (no telemetry):
a runaway copy of the bot, or the test moving the trader's positions. It speaks the protocol of
the sim it is given (``SimProcess.venue``) through the suite's own adapter for that venue."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

import aiohttp
import orjson
from yarl import URL

from harness.sim import SimProcess
from watchdog.venues import (
    BinanceFutures,
    Bybit,
    BybitEndpoint,
    Credentials,
    KeyRefused,
    OrderType,
    RateLimited,
    Side,
    VenueEndpoint,
    VenueRejected,
    okx_wire,
    open_session,
    rest,
)

# Far from the market (BTC 60000, ETH 3000): they rest.
RESTING = {
    "BTCUSDT": (Decimal("50000"), Decimal("0.002")),
    "ETHUSDT": (Decimal("2500"), Decimal("0.01")),
}

# (symbol, side, qty, limit price or None for a market order, client id or None)
Place = Callable[[str, Side, Decimal, Decimal | None, str | None], Awaitable[object]]


def _placer(sim: SimProcess, session: aiohttp.ClientSession) -> Place:
    key = sim.trader_key
    credentials = Credentials(key.api_key, key.secret, key.passphrase)
    if sim.venue == "okx":
        return _okx_placer(sim, session, credentials)
    if sim.venue == "bybit":
        bybit = Bybit(session, BybitEndpoint(sim.base_url), credentials)

        async def place_on_bybit(
            symbol: str, side: Side, qty: Decimal, price: Decimal | None, cid: str | None
        ) -> object:
            order: dict[str, object] = {
                "category": "linear",
                "symbol": symbol,
                "side": "Buy" if side is Side.BUY else "Sell",
                "orderType": "Market" if price is None else "Limit",
                "qty": str(qty),
            }
            if price is not None:
                order["price"] = str(price)
            if cid is not None:
                order["orderLinkId"] = cid
            return await bybit.create_order(order)

        return place_on_bybit
    binance = BinanceFutures(session, VenueEndpoint(sim.base_url), credentials)

    async def place_on_binance(
        symbol: str, side: Side, qty: Decimal, price: Decimal | None, cid: str | None
    ) -> object:
        kind = OrderType.MARKET if price is None else OrderType.LIMIT
        return await binance.new_order(symbol, side, kind, qty, price=price, client_order_id=cid)

    return place_on_binance


def _okx_placer(sim: SimProcess, session: aiohttp.ClientSession, credentials: Credentials) -> Place:
    """OKX's ``/api/v5/trade/order``, signed and read with the watchdog adapter's wire module;
    sizes in contracts of the sim's contract value (a refusal is its item's typed error)."""
    values = {s.symbol: Decimal(s.contract_value or s.step_size) for s in sim.config.symbols}
    path = "/api/v5/trade/order"
    endpoint = f"POST {path}"

    async def place_on_okx(
        symbol: str, side: Side, qty: Decimal, price: Decimal | None, cid: str | None
    ) -> object:
        order = {
            "instId": okx_wire.inst_id(symbol),
            "tdMode": "cross",
            "side": side.value.lower(),
            "ordType": "market" if price is None else "limit",
            "sz": f"{(qty / values[symbol]).normalize():f}",
        }
        if price is not None:
            order["px"] = str(price)
        if cid is not None:
            order["clOrdId"] = "".join(c for c in cid if c.isalnum())
        body = orjson.dumps(order).decode()
        stamp = okx_wire.iso_timestamp(int(time.time() * 1000))
        signature = credentials.sign_base64(okx_wire.sign_payload(stamp, "POST", path, body))
        headers = okx_wire.auth_headers(
            credentials.api_key, stamp, signature, credentials.passphrase or ""
        ) | {"Content-Type": "application/json"}
        status, answer_headers, answer = await rest.roundtrip(
            session, "POST", URL(f"{sim.base_url}{path}"), headers=headers, body=body.encode(),
            request_timeout_s=5.0, connect_timeout_s=2.0, endpoint=endpoint,
        )  # fmt: skip
        error = okx_wire.error_for(status, answer, answer_headers, endpoint, batch=True)
        if error is not None:
            raise error
        [item] = okx_wire.data_of(answer, endpoint, batch=True)
        assert isinstance(item, dict)
        if item["sCode"] != "0":
            raise okx_wire.item_error(int(item["sCode"]), str(item["sMsg"]), endpoint)
        return item["ordId"]

    return place_on_okx


async def _flood(sim: SimProcess, limit: int) -> int:
    session = open_session()
    place = _placer(sim, session)
    placed = 0
    run = uuid.uuid4().hex[:8]
    symbols = itertools.cycle(RESTING)
    try:
        for n in range(limit):
            symbol = next(symbols)
            price, qty = RESTING[symbol]
            try:
                await place(symbol, Side.BUY, qty, price, f"flood-{run}-{n}")
            except KeyRefused:
                return placed
            except RateLimited as exc:
                await asyncio.sleep(exc.retry_after or 0.05)  # a flooder, not a fool
                continue
            except VenueRejected:
                # The book is full (Bybit: 110020, too many active orders on the symbol): the
                # flood has outrun the watchdog's reaction; keep at it until the key goes.
                await asyncio.sleep(0.05)
                continue
            placed += 1
    finally:
        await session.close()
    raise AssertionError(f"the key was never refused after {limit} orders")


def flood_until_refused(sim: SimProcess, limit: int = 20_000) -> int:
    """Place resting orders as fast as the venue takes them until it refuses the key."""
    return asyncio.run(_flood(sim, limit))


async def _market(sim: SimProcess, symbol: str, side: Side, qty: Decimal) -> None:
    session = open_session()
    try:
        await _placer(sim, session)(symbol, side, qty, None, None)
    finally:
        await session.close()


def market_order(sim: SimProcess, symbol: str, side: Side, qty: Decimal) -> None:
    asyncio.run(_market(sim, symbol, side, qty))
