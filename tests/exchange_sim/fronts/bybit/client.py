"""A deliberately small Bybit v5 client for the tests (the venue's wire rules, nothing more)."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import aiohttp

from harness.sim import SimKey, SimProcess, bybit_headers
from tests.exchange_sim.http_reply import HttpReply, send


class Reply(HttpReply):
    @property
    def code(self) -> int | None:
        return self.body.get("retCode") if isinstance(self.body, dict) else None

    @property
    def result(self) -> Any:
        return self.body["result"]


class BybitClient:
    def __init__(self, sim: SimProcess, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session

    async def raw(
        self, method: str, path: str, query: str = "", body: str | None = None, **headers: str
    ) -> Reply:
        url = f"{self.sim.base_url}{path}{'?' + query if query else ''}"
        hdrs = dict(headers)
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        return await send(self.session, Reply, method, url, body, hdrs)

    async def get(
        self, path: str, key: SimKey | None = None, timestamp_ms: int | None = None, **params: Any
    ) -> Reply:
        query = urllib.parse.urlencode(params)
        headers = bybit_headers(key, query, timestamp_ms) if key is not None else {}
        return await self.raw("GET", path, query, **headers)

    async def post(
        self, path: str, key: SimKey, timestamp_ms: int | None = None, **params: Any
    ) -> Reply:
        body = json.dumps(params)
        return await self.raw("POST", path, body=body, **bybit_headers(key, body, timestamp_ms))

    async def limit(
        self, key: SimKey, side: str, price: str, qty: str = "0.01", **extra: Any
    ) -> Reply:
        return await self.post(
            "/v5/order/create",
            key,
            category="linear",
            symbol="BTCUSDT",
            side=side,
            orderType="Limit",
            qty=qty,
            price=price,
            **extra,
        )

    async def open_orders(self, key: SimKey, **params: Any) -> list[dict[str, Any]]:
        reply = await self.get(
            "/v5/order/realtime", key, category="linear", settleCoin="USDT", **params
        )
        assert reply.code == 0, reply.body
        rows: list[dict[str, Any]] = reply.result["list"]
        return rows


def now_ms() -> int:
    return int(time.time() * 1000)
