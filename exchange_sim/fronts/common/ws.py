"""One WebSocket connection's life in a front: registered with the hub, written to by the
core's write loop, its frames read (protocol pings answered, text handed to the front), and
journaled when it opens and closes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import orjson
from aiohttp import WSMsgType, web

from exchange_sim.core.engine import Key
from exchange_sim.core.state import SIM, Channel, Sim
from exchange_sim.core.streams import Conn, write_loop

MAX_MSG = 64 * 1024


class Session:
    """One connection's protocol state (the hub's ``Conn`` carries the delivery state): the key
    that logged in on it and the private channel it holds, which goes with the connection."""

    def __init__(self, conn: Conn, private: bool) -> None:
        self.conn = conn
        self.private = private
        self.key: Key | None = None
        self.channel: Channel | None = None

    def send(self, payload: bytes) -> None:
        self.conn.queue.append((0.0, payload))
        self.conn.wake.set()


S = TypeVar("S", bound=Session)


async def serve(
    request: web.Request,
    private: bool,
    session_of: Callable[[Conn], S],
    on_text: Callable[[S, str], None],
    ended: Callable[[S], None] | None = None,
    idle_cut: Callable[[Conn], Coroutine[Any, Any, None]] | None = None,
) -> web.WebSocketResponse:
    """Serve one connection until the client closes it. ``session_of`` makes the front's
    protocol state, ``on_text`` answers each text frame; once the hub has let the connection
    go and its channel is closed, ``ended`` releases what else the session held. ``idle_cut``
    runs beside it when the venue cuts idle connections."""
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
            await _read(sim, conn, session, on_text)
            conn.done = True
            conn.wake.set()
            for task in helpers:
                if not task.done():
                    task.cancel()
    finally:
        sim.hub.remove(conn)
        if session.channel is not None and session.channel.token in sim.channels:
            sim.close_channel(session.channel, "connection closed")
        if ended is not None:
            ended(session)
        note(sim, "ws_close", None, f"{kind} {request.path_qs[:120]} code={ws.close_code}")
    return ws


def note(sim: Sim, what: str, account: str | None, detail: str) -> None:
    """One journal line about a connection."""
    sim.journal.event(sim.clock.monotonic(), sim.clock.wall(), what, account, detail)


def op_request(text: str) -> dict[str, Any] | None:
    """A client's request: a JSON object with a string ``op``; None for anything else."""
    try:
        req = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(req, dict) or not isinstance(req.get("op"), str):
        return None
    return req


async def _read(sim: Sim, conn: Conn, session: S, on_text: Callable[[S, str], None]) -> None:
    async for msg in conn.ws:
        if msg.type == WSMsgType.PING:
            if conn.kind not in sim.faults.stalled:  # a stalled stream answers nothing at all
                with contextlib.suppress(ConnectionError):
                    await conn.ws.pong(msg.data)
        elif msg.type == WSMsgType.TEXT:
            on_text(session, msg.data)
        elif msg.type == WSMsgType.CLOSE:
            break
