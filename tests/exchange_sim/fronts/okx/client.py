"""A deliberately small OKX v5 client for the tests (the venue's wire rules, nothing more)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import aiohttp

from harness.sim import SimKey, SimProcess, okx_headers
from tests.exchange_sim.http_reply import HttpReply, send

BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"


class Reply(HttpReply):
    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    @property
    def data(self) -> list[Any]:
        data: list[Any] = self.body["data"]
        return data

    @property
    def s_codes(self) -> list[str]:
        return [item["sCode"] for item in self.data]


class OkxClient:
    def __init__(self, sim: SimProcess, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session

    async def raw(
        self, method: str, path_qs: str, body: str | None = None, **headers: str
    ) -> Reply:
        hdrs = dict(headers)
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        return await send(self.session, Reply, method, f"{self.sim.base_url}{path_qs}", body, hdrs)

    async def get(self, path: str, key: SimKey | None = None, **params: Any) -> Reply:
        query = urllib.parse.urlencode(params)
        path_qs = f"{path}?{query}" if query else path
        headers = okx_headers(key, "GET", path_qs) if key is not None else {}
        return await self.raw("GET", path_qs, **headers)

    async def post(self, path: str, key: SimKey, doc: Any) -> Reply:
        body = json.dumps(doc)
        return await self.raw("POST", path, body, **okx_headers(key, "POST", path, body))

    async def limit(
        self, key: SimKey, side: str, px: str, sz: str = "1", inst: str = BTC, **extra: Any
    ) -> Reply:
        order = {"instId": inst, "tdMode": "cross", "side": side, "ordType": "limit", "sz": sz,
                 "px": px, **extra}  # fmt: skip
        return await self.post("/api/v5/trade/order", key, order)

    async def pending(self, key: SimKey, **params: Any) -> list[dict[str, Any]]:
        reply = await self.get("/api/v5/trade/orders-pending", key, **params)
        assert reply.code == "0", reply.body
        return reply.data
