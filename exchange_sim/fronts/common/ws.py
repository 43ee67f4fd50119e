"""One WebSocket connection's life in a front: registered with the hub, written to by the
core's write loop, read by the front, and journaled when it opens and closes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

from exchange_sim.core.state import SIM, Sim
from exchange_sim.core.streams import Conn, write_loop

MAX_MSG = 64 * 1024

S = TypeVar("S")


async def serve(
    request: web.Request,
    private: bool,
    session_of: Callable[[Conn], S],
    read: Callable[[S], Awaitable[None]],
    ended: Callable[[S], None],
    idle_cut: Callable[[Conn], Coroutine[Any, Any, None]] | None = None,
) -> web.WebSocketResponse:
    """Serve one connection until its reader ends. ``session_of`` makes the front's protocol
    state, ``read`` answers the client, ``ended`` releases what the session held once the hub
    has let the connection go; ``idle_cut`` runs beside it when the venue cuts idle ones."""
    sim = request.app[SIM]
    ws = web.WebSocketResponse(autoping=False, max_msg_size=MAX_MSG)
    await ws.prepare(request)
    kind = "user" if private else "market"
    conn = Conn(ws=ws, kind=kind, combined=False, topics=set() if private else None)
    conn.sent_at = asyncio.get_running_loop().time()
    session = session_of(conn)
    sim.hub.add(conn)
    note(sim, "ws_open", None, f"{kind} {request.path_qs[:120]}")
    try:
        async with asyncio.TaskGroup() as tg:
            helpers = [tg.create_task(write_loop(conn, request))]
            if idle_cut is not None:
                helpers.append(tg.create_task(idle_cut(conn)))
            await read(session)
            conn.done = True
            conn.wake.set()
            for task in helpers:
                if not task.done():
                    task.cancel()
    finally:
        sim.hub.remove(conn)
        ended(session)
        note(sim, "ws_close", None, f"{kind} {request.path_qs[:120]} code={ws.close_code}")
    return ws


def note(sim: Sim, what: str, account: str | None, detail: str) -> None:
    """One journal line about a connection."""
    sim.journal.event(sim.clock.monotonic(), sim.clock.wall(), what, account, detail)
