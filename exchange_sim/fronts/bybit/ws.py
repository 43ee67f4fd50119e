"""Bybit v5 WebSockets: the public linear stream (``orderbook.1.<SYMBOL>``, ``tickers.<SYMBOL>``)
and the private stream (``auth`` with ``expires``, then ``order``, ``execution``, ``position``,
``wallet`` and ``dcp``), with Bybit's JSON ``op`` requests (subscribe, unsubscribe, ping) and
their answers, from Bybit's v5 WebSocket docs (ws/connect, public/orderbook, public/ticker,
private/order, execution, position, wallet, dcp).
"""

from __future__ import annotations

import asyncio
import re
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from exchange_sim.core.state import SIM, Sim
from exchange_sim.core.streams import Conn
from exchange_sim.fronts.bybit import auth, wire
from exchange_sim.fronts.bybit.dcp import DCP
from exchange_sim.fronts.common.ws import Session, note, op_request, serve

PRIVATE_TOPICS = frozenset({"order", "execution", "position", "wallet"})
DCP_TOPICS = frozenset({"dcp", "dcp.future"})
CATEGORISED = frozenset({"order", "execution", "position"})  # also as <topic>.linear
_ACTIVE_TIME = re.compile(r"([0-9]{1,4})([sm])")
_PUBLIC_TOPIC = re.compile(r"(orderbook\.1|tickers)\.([A-Z0-9]{2,24})")


def public_topics(symbol: str) -> tuple[str, str]:
    return f"orderbook.1.{symbol}", f"tickers.{symbol}"


class _Session(Session):
    def __init__(self, conn: Conn, private: bool) -> None:
        super().__init__(conn, private)
        self.conn_id = id(conn)  # unique while the connection lives, which is all it must be
        self.watching_dcp = False

    def reply(self, op: str, req_id: Any, success: bool, ret_msg: str) -> None:
        body: dict[str, Any] = {
            "success": success,
            "ret_msg": ret_msg,
            "conn_id": f"{self.conn_id:x}",
            "op": op,
        }
        if req_id is not None:
            body["req_id"] = req_id
        self.send(orjson.dumps(body))


async def public_ws(request: web.Request) -> web.StreamResponse:
    return await _serve(request, private=False)


async def private_ws(request: web.Request) -> web.StreamResponse:
    raw = request.query.get("max_active_time")
    idle_s = request.app[SIM].config.bybit_private_idle_s
    if raw is not None:
        match = _ACTIVE_TIME.fullmatch(raw)
        idle_s = int(match.group(1)) * (60 if match.group(2) == "m" else 1) if match else 0
        if not 30 <= idle_s <= 600:
            body = orjson.dumps({"success": False, "ret_msg": "max_active_time: 30s..10m"})
            return web.Response(body=body, status=400, content_type="application/json")
    return await _serve(request, private=True, idle_s=idle_s)


async def _serve(
    request: web.Request, private: bool, idle_s: float | None = None
) -> web.StreamResponse:
    sim = request.app[SIM]
    cutter = None if idle_s is None else partial(_cut_when_idle, sim, idle_s=idle_s)
    return await serve(
        request, private, partial(_Session, private=private),
        partial(_on_request, sim, request), partial(_ended, sim, request), cutter,
    )  # fmt: skip


async def _cut_when_idle(sim: Sim, conn: Conn, idle_s: float) -> None:
    """Bybit cuts a private connection that neither pinged nor was sent anything for
    ``idle_s`` (every answer, a pong included, counts as sent)."""
    loop = asyncio.get_running_loop()
    while not conn.done:
        remaining = conn.sent_at + idle_s - loop.time()
        if remaining <= 0:
            sim.hub.close([conn], 1000, "idle: no ping and nothing sent")
            note(sim, "ws_idle_cut", None, f"after {idle_s}s")
            return
        await asyncio.sleep(remaining)


def _ended(sim: Sim, request: web.Request, session: _Session) -> None:
    """DCP arms when the last connection watching it is gone."""
    if session.key is None or not session.watching_dcp:
        return
    account = session.key.account
    window = request.app[DCP].leave(account, session.conn_id)
    if window is not None:
        sim.engine.set_countdown(account, None, window * 1000, sim.clock.monotonic())
        note(sim, "dcp_armed", account, f"{window}s")


def _on_request(sim: Sim, request: web.Request, session: _Session, text: str) -> None:
    req = op_request(text)
    if req is None:
        session.reply("", None, False, "Invalid request: not a JSON object with an op")
        return
    op, req_id, args = req["op"], req.get("req_id"), req.get("args", [])
    if op == "ping":
        _pong(sim, session, req_id)
    elif not isinstance(args, list):
        session.reply(op, req_id, False, "args must be a list")
    elif op == "auth" and session.private:
        _auth(sim, session, req_id, args)
    elif op in ("subscribe", "unsubscribe"):
        if session.private:
            _private_topics(sim, request, session, op, req_id, args)
        else:
            _public_topics(sim, session, op, req_id, args)
    else:
        session.reply(op, req_id, False, f"unknown op {op[:32]}")


def _pong(sim: Sim, session: _Session, req_id: Any) -> None:
    if session.private:
        body: dict[str, Any] = {
            "op": "pong",
            "args": [str(sim.now_ms())],
            "conn_id": f"{session.conn_id:x}",
        }
        if req_id is not None:
            body["req_id"] = req_id
        session.send(orjson.dumps(body))
    else:
        session.reply("ping", req_id if req_id is not None else "", True, "pong")


def _auth(sim: Sim, session: _Session, req_id: Any, args: list[Any]) -> None:
    if session.key is not None:
        session.reply("auth", req_id, False, "Repeat auth")
        return
    if len(args) != 3 or not all(isinstance(a, str | int) for a in args):
        session.reply("auth", req_id, False, "Params Error")
        return
    api_key, expires_raw, signature = (str(a) for a in args)
    key = sim.engine.keys.get(api_key)
    if key is None or key.deleted:
        session.reply("auth", req_id, False, "Invalid apikey")
        return
    if not auth.digits(expires_raw) or len(expires_raw) > 16 or int(expires_raw) <= sim.now_ms():
        session.reply("auth", req_id, False, "Params Error: expires must be in the future")
        return
    if not auth.ws_auth_valid(key.config.secret, int(expires_raw), signature):
        session.reply("auth", req_id, False, "Invalid sign")
        return
    session.key = key
    session.channel = sim.open_channel(key)
    sim.hub.join_user(session.conn, session.channel.token)
    session.reply("auth", req_id, True, "")
    note(sim, "ws_auth", key.account, key.config.label)


def _private_topics(
    sim: Sim, request: web.Request, session: _Session, op: str, req_id: Any, args: list[Any]
) -> None:
    if session.key is None:
        session.reply(op, req_id, False, "Request not authorized")
        return
    categorised = {
        a.endswith(".linear")
        for a in args
        if isinstance(a, str) and a.removesuffix(".linear") in CATEGORISED
    }
    if len(categorised) > 1:
        session.reply(op, req_id, False, "All-In-One and Categorised topics in one request")
        return
    topics = [a.removesuffix(".linear") if isinstance(a, str) else a for a in args]
    known = PRIVATE_TOPICS | DCP_TOPICS
    bad = [t for t in topics if not isinstance(t, str) or t not in known]
    if bad or not topics:
        session.reply(op, req_id, False, f"Invalid topic: {str(bad[:1])[:64]}")
        return
    wanted = session.conn.topics
    assert wanted is not None
    for topic in topics:
        if op == "subscribe":
            wanted.add(topic)
        else:
            wanted.discard(topic)
    session.reply(op, req_id, True, "")
    watching = bool(wanted & DCP_TOPICS)
    if watching != session.watching_dcp:
        _watch_dcp(sim, request, session, watching)


def _watch_dcp(sim: Sim, request: web.Request, session: _Session, watching: bool) -> None:
    assert session.key is not None
    account = session.key.account
    dcp = request.app[DCP]
    session.watching_dcp = watching
    if watching:
        dcp.join(account, session.conn_id)
        sim.engine.set_countdown(account, None, 0, sim.clock.monotonic())  # back in time
        return
    window = dcp.leave(account, session.conn_id)
    if window is not None:
        sim.engine.set_countdown(account, None, window * 1000, sim.clock.monotonic())
        note(sim, "dcp_armed", account, f"{window}s")


def _public_topics(sim: Sim, session: _Session, op: str, req_id: Any, args: list[Any]) -> None:
    names: list[str] = []
    for arg in args:
        match = _PUBLIC_TOPIC.fullmatch(arg) if isinstance(arg, str) else None
        if match is None or match.group(2) not in sim.engine.symbols:
            session.reply(
                op, req_id if req_id is not None else "", False, f"Invalid topic: {str(arg)[:64]}"
            )
            return
        names.append(arg)
    if op == "subscribe":
        sim.hub.subscribe(session.conn, names)
    else:
        sim.hub.unsubscribe(session.conn, names)
    session.reply(op, req_id if req_id is not None else "", True, "")
    # A stalled market sends nothing, the first snapshot of a new subscriber included.
    if op == "subscribe" and "market" not in sim.faults.stalled:
        for name in names:
            symbol = name.rsplit(".", 1)[1]
            quote = sim.engine.quotes[symbol]
            session.send(wire.topic_message(name, symbol, quote, sim.now_ms(), sim.update_id))
