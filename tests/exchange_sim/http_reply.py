"""What every test client of a simulator front gets back: status, parsed body, headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import yarl
from multidict import CIMultiDictProxy


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: Any  # the JSON value, or the text when the answer is not JSON
    headers: CIMultiDictProxy[str]


R = TypeVar("R", bound=HttpReply)


async def send(
    session: aiohttp.ClientSession,
    reply: type[R],
    method: str,
    url: str,
    body: str | None,
    headers: dict[str, str],
) -> R:
    """One request, the URL sent exactly as written (a test may send what a client would not)."""
    async with session.request(
        method, yarl.URL(url, encoded=True), data=body, headers=headers
    ) as resp:
        text = await resp.text()
        try:
            parsed = await resp.json(content_type=None)
        except ValueError:
            parsed = text
        return reply(resp.status, parsed, resp.headers)
