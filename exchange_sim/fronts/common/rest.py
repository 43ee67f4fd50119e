"""One REST request's life in a front: injected latency, the front's own handling, its answer,
and one journal line whatever happened (a refusal, a client that left, a bug)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from aiohttp import web

from exchange_sim.core.engine import Key
from exchange_sim.core.faults import RawAnswer
from exchange_sim.core.state import SIM
from exchange_sim.errors import VenueError

CLIENT_GONE = 499  # the journal's status for a request whose client left before the answer


class Named(Protocol):
    @property
    def name(self) -> str: ...  # "METHOD /path"


E = TypeVar("E", bound=Named)


def by_route(table: Iterable[E]) -> dict[tuple[str, str], E]:
    """A front's endpoints by (method, path), from names written "METHOD /path"."""
    out: dict[tuple[str, str], E] = {}
    for endpoint in table:
        method, path = endpoint.name.split(" ", 1)
        out[(method, path)] = endpoint
    return out


@dataclass(slots=True)
class Outcome:
    """What the journal says about a request (who sent it, what it did) and the headers its
    answer carries."""

    key: Key | None = None
    detail: str = ""
    headers: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Answered:
    """A handled request's body and the code the journal records (None: success)."""

    body: bytes
    code: int | None = None


async def journaled(
    request: web.Request,
    endpoint: str | None,
    api_key_header: str,
    out: Outcome,
    handle: Callable[[], Awaitable[Answered]],
    refusal: Callable[[VenueError], bytes],
) -> web.Response:
    """Answer one request with ``handle`` (``refusal`` words a refused one); journal it
    whatever happens. ``endpoint``: the route's name, None for an unknown route."""
    sim = request.app[SIM]
    arrival, wall = sim.clock.monotonic(), sim.clock.wall()
    method, path = request.method, request.path
    status, code, body = 500, None, b""
    content_type = "application/json"
    try:
        latency = sim.faults.rest_latency
        if latency is not None:
            await asyncio.sleep(latency.sample_s(sim.rng))
        answered = await handle()
        status, body, code = 200, answered.body, answered.code
    except RawAnswer as raw:
        status, body, content_type, out.detail = raw.status, raw.body, raw.content_type, str(raw)
    except VenueError as err:
        status, code, body = err.status, err.code, refusal(err)
    except ConnectionError:  # the client left while its body was still awaited
        status, out.detail = CLIENT_GONE, "client disconnected before the answer"
    except asyncio.CancelledError:
        status, out.detail = CLIENT_GONE, "client disconnected before the answer"
        raise
    finally:
        sim.journal.record(
            mono=arrival,
            wall=wall,
            kind="request",
            method=method,
            path=path,
            endpoint=endpoint or f"{method} {path}",
            api_key=request.headers.get(api_key_header),
            account=out.key.account if out.key is not None else None,
            status=status,
            code=code,
            detail=out.detail,
        )
    return web.Response(body=body, status=status, headers=out.headers, content_type=content_type)
