"""A deliberately small signed client for the tests (the venue's wire rules, nothing more)."""

from __future__ import annotations

from typing import Any

import aiohttp

from harness.sim import SimKey, SimProcess, sign, signed_query
from tests.exchange_sim.http_reply import HttpReply, send


class Reply(HttpReply):
    @property
    def code(self) -> int | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


class VenueClient:
    def __init__(self, sim: SimProcess, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session

    async def raw(
        self,
        method: str,
        path: str,
        query: str = "",
        body: str | None = None,
        api_key: str | None = None,
    ) -> Reply:
        url = f"{self.sim.base_url}{path}{'?' + query if query else ''}"
        headers = {"X-MBX-APIKEY": api_key} if api_key is not None else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return await send(self.session, Reply, method, url, body, headers)

    async def signed(
        self, method: str, path: str, key: SimKey, params: dict[str, Any] | None = None
    ) -> Reply:
        return await self.raw(method, path, signed_query(key, params or {}), api_key=key.api_key)

    async def order(self, key: SimKey, **params: Any) -> Reply:
        return await self.signed("POST", "/fapi/v1/order", key, params)

    async def limit(
        self,
        key: SimKey,
        side: str,
        price: str,
        qty: str = "0.01",
        tif: str = "GTC",
        *,
        symbol: str = "BTCUSDT",
        **extra: Any,
    ) -> Reply:
        return await self.order(
            key,
            symbol=symbol,
            side=side,
            type="LIMIT",
            timeInForce=tif,
            quantity=qty,
            price=price,
            **extra,
        )

    async def open_orders(self, key: SimKey, symbol: str | None = None) -> Reply:
        return await self.signed(
            "GET", "/fapi/v1/openOrders", key, {"symbol": symbol} if symbol else {}
        )

    async def listen_key(self, key: SimKey) -> str:
        reply = await self.raw("POST", "/fapi/v1/listenKey", api_key=key.api_key)
        assert reply.status == 200, reply.body
        token: str = reply.body["listenKey"]
        return token


__all__ = ["Reply", "VenueClient", "sign"]
