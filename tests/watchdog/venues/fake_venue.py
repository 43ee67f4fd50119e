"""A scripted HTTP venue on loopback that records every request (a fake, not a simulator).

Each route answers from a queue of scripted replies, then from its default. It checks what the
adapter must get right on the wire: the API-key header and the signature over the exact query
string received.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import orjson
from aiohttp import web


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    api_key: str | None
    signature_ok: bool | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Reply:
    status: int
    body: object
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeVenue:
    secrets: dict[str, str]
    server_time_ms: int | None = None  # None: the fake's own wall clock
    requests: list[Recorded] = field(default_factory=list)
    scripts: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    defaults: dict[str, Reply] = field(default_factory=dict)
    base_url: str = ""

    def script(self, route: str, *replies: Reply) -> None:
        self.scripts[route].extend(replies)

    def calls(self, route: str) -> list[Recorded]:
        return [r for r in self.requests if f"{r.method} {r.path}" == route]

    async def handle(self, request: web.Request) -> web.Response:
        query = request.rel_url.raw_query_string
        key = request.headers.get("X-MBX-APIKEY")
        body = await request.read()
        signature_ok = self._signature_ok(query, key)
        headers = dict(request.headers)
        self.requests.append(
            Recorded(request.method, request.path, query, key, signature_ok, headers, body)
        )
        route = f"{request.method} {request.path}"
        queue = self.scripts.get(route)
        reply = queue.popleft() if queue else self.defaults.get(route)
        if reply is None:
            reply = Reply(404, {"code": -1, "msg": f"no reply scripted for {route}"})
        return web.Response(
            status=reply.status,
            body=reply.body if isinstance(reply.body, bytes) else orjson.dumps(reply.body),
            headers=reply.headers,
            content_type="application/json",
        )

    def _signature_ok(self, query: str, key: str | None) -> bool | None:
        payload, sep, signature = query.rpartition("&signature=")
        if not sep or key not in self.secrets:
            return None
        expected = hmac.new(self.secrets[key].encode(), payload.encode(), hashlib.sha256)
        return hmac.compare_digest(expected.hexdigest(), signature)


@asynccontextmanager
async def running(venue: FakeVenue) -> AsyncIterator[FakeVenue]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", venue.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    venue.base_url = f"http://127.0.0.1:{port}"
    try:
        yield venue
    finally:
        await runner.cleanup()
