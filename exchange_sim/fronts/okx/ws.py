"""OKX v5 WebSockets: the public stream (``tickers``, ``bbo-tbt``) and the private stream
(``login``, then ``orders``, ``positions``, ``account``), with OKX's JSON ``op`` requests
(subscribe, unsubscribe, login), their ``event`` answers and the text ``ping`` / ``pong``, from
OKX's v5 WebSocket docs (overview, login, subscribe, public tickers and bbo-tbt, private orders,
positions and account channels).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from exchange_sim.core.engine import Key
from exchange_sim.core.market import Quote
from exchange_sim.core.state import SIM, Sim
from exchange_sim.core.streams import Conn
from exchange_sim.fronts.common.ws import Session, note, op_request, serve
from exchange_sim.fronts.okx import auth, wire
from exchange_sim.fronts.okx.contracts import Contract, Instruments

PUBLIC_CHANNELS = ("tickers", "bbo-tbt")
PRIVATE_CHANNELS = ("orders", "positions", "account")
INST_TYPES = ("SWAP", "ANY")
INSTRUMENTS = web.AppKey("okx_instruments", Instruments)


def topic(channel: str, inst_id: str) -> str:
    """The hub's name for a public subscription."""
    return f"{channel}:{inst_id}"


def public_push(channel: str, c: Contract, quote: Quote, now_ms: int, seq: int) -> bytes:
    if channel == "tickers":
        data = wire.ticker_record(c, quote, now_ms)
    else:
        data = wire.bbo_record(c, quote, now_ms, seq)
    return orjson.dumps({"arg": {"channel": channel, "instId": c.inst_id}, "data": [data]})


def private_push(arg: dict[str, str], rows: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"arg": arg, "data": rows})


class _Session(Session):
    def __init__(self, conn: Conn, private: bool) -> None:
        super().__init__(conn, private)
        self.conn_id = f"{id(conn) & 0xFFFFFFFF:08x}"  # unique while the connection lives

    def event(self, event: str, **fields: Any) -> None:
        self.send(orjson.dumps({"event": event, **fields, "connId": self.conn_id}))

    def error(self, code: int, msg: str) -> None:
        self.event("error", code=str(code), msg=msg)


async def public_ws(request: web.Request) -> web.StreamResponse:
    return await _serve(request, private=False)


async def private_ws(request: web.Request) -> web.StreamResponse:
    return await _serve(request, private=True)


async def _serve(request: web.Request, private: bool) -> web.StreamResponse:
    sim = request.app[SIM]
    return await serve(
        request, private, partial(_Session, private=private),
        partial(_on_text, sim, request),
        idle_cut=partial(_cut_when_idle, sim, idle_s=sim.config.okx_ws_idle_s),
    )  # fmt: skip


async def _cut_when_idle(sim: Sim, conn: Conn, idle_s: float) -> None:
    """OKX closes a connection it has sent nothing on for 30 s (no subscription, no push, no
    pong): a client that goes quiet must ``ping``. A stalled stream is not cut: a stall is a
    venue gone silent, not one that hangs up."""
    loop = asyncio.get_running_loop()
    while not conn.done:
        remaining = conn.sent_at + idle_s - loop.time()
        if remaining <= 0 and conn.kind not in sim.faults.stalled:
            sim.hub.close([conn], 1000, "idle: nothing sent")
            note(sim, "ws_idle_cut", None, f"{conn.kind} after {idle_s}s")
            return
        await asyncio.sleep(remaining if remaining > 0 else min(idle_s, 1.0))


def _on_text(sim: Sim, request: web.Request, session: _Session, text: str) -> None:
    if text != "ping":
        _on_request(sim, request, session, text)
    elif session.conn.kind not in sim.faults.stalled:  # a stalled stream answers nothing at all
        session.send(b"pong")


def _on_request(sim: Sim, request: web.Request, session: _Session, text: str) -> None:
    req = op_request(text)
    if req is None:
        session.error(60012, f"Invalid request: {text[:64]}")
        return
    op, args = req["op"], req.get("args")
    ops = ("login", "subscribe", "unsubscribe") if session.private else ("subscribe", "unsubscribe")
    if op not in ops:
        session.error(60019, f"Invalid op: {op[:32]}")
    elif not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
        session.error(60013, f"Invalid args: {str(args)[:64]}")
    elif op == "login":
        _login(sim, request, session, args[0])
    elif session.private:
        _private_subscribe(sim, session, op, args)
    else:
        _public_subscribe(sim, request, session, op, args)


def _login(sim: Sim, request: web.Request, session: _Session, arg: dict[str, Any]) -> None:
    """``timestamp`` in seconds within 30 s of the venue's clock; ``sign`` the Base64
    HMAC-SHA256 of ``timestamp + "GET" + "/users/self/verify"``."""
    if session.key is not None:
        session.error(60009, "Login failed: this connection is already logged in.")
        return
    fields = [arg.get(name) for name in ("apiKey", "passphrase", "timestamp", "sign")]
    if not all(isinstance(f, str) and f for f in fields):
        session.error(60013, "Invalid args: apiKey, passphrase, timestamp and sign are required")
        return
    api_key, passphrase, stamp, signature = (str(f) for f in fields)
    key = sim.engine.keys.get(api_key)
    failure = _login_failure(sim, request, key, passphrase, stamp, signature)
    if failure is not None:
        session.error(*failure)
        note(sim, "ws_login_refused", key.account if key else None, failure[1])
        return
    assert key is not None
    session.key = key
    session.channel = sim.open_channel(key)
    sim.hub.join_user(session.conn, session.channel.token)
    session.event("login", code="0", msg="")
    note(sim, "ws_login", key.account, key.config.label)


def _login_failure(
    sim: Sim, request: web.Request, key: Key | None, passphrase: str, stamp: str, signature: str
) -> tuple[int, str] | None:
    if key is None or key.deleted:
        return 60005, "Invalid OK-ACCESS-KEY"
    if passphrase != key.config.passphrase:
        return 60024, "Wrong passphrase"
    if not auth.digits(stamp) or len(stamp) > 12:
        return 60004, "Invalid timestamp"
    if abs(int(stamp) * 1000 - sim.now_ms()) > auth.MAX_SKEW_MS:
        return 60006, "Timestamp request expired"
    if not auth.ws_login_valid(key.config.secret, stamp, signature):
        return 60007, "Invalid sign"
    remote = request.remote or "?"
    if key.config.ips and remote not in key.config.ips:
        return 60009, f"Login failed: your IP {remote} is not in the API key's whitelist."
    return None


def _private_subscribe(sim: Sim, session: _Session, op: str, args: list[dict[str, Any]]) -> None:
    """Whole channels only: ``orders`` and ``positions`` for instType SWAP or ANY, ``account``
    for every currency (per-instrument or per-currency subscriptions are not simulated)."""
    if session.key is None:
        session.error(60011, "Please log in")
        return
    for arg in args:
        channel = arg.get("channel")
        extra = set(arg) - {"channel", "instType", "extraParams"}
        scoped = channel != "account" and arg.get("instType") not in INST_TYPES
        if channel not in PRIVATE_CHANNELS or extra or scoped:
            session.error(60018, f"Wrong URL or channel:{str(channel)[:32]} doesn't exist.")
            return
    wanted = session.conn.topics
    assert wanted is not None
    for arg in args:
        if op == "subscribe":
            wanted.add(arg["channel"])
        else:
            wanted.discard(arg["channel"])
        session.event(op, arg=arg)


def _public_subscribe(
    sim: Sim, request: web.Request, session: _Session, op: str, args: list[dict[str, Any]]
) -> None:
    instruments = request.app[INSTRUMENTS]
    names: list[tuple[str, Contract]] = []
    for arg in args:
        channel, inst_id = arg.get("channel"), arg.get("instId")
        c = instruments.by_inst_id.get(inst_id) if isinstance(inst_id, str) else None
        if channel not in PUBLIC_CHANNELS or c is None or set(arg) - {"channel", "instId"}:
            detail = f"channel:{str(channel)[:32]},instId:{str(inst_id)[:32]}"
            session.error(60018, f"Wrong URL or {detail} doesn't exist.")
            return
        names.append((str(channel), c))
    topics = [topic(channel, c.inst_id) for channel, c in names]
    if op == "subscribe":
        sim.hub.subscribe(session.conn, topics)
    else:
        sim.hub.unsubscribe(session.conn, topics)
    for arg in args:
        session.event(op, arg=arg)
    # A stalled market sends nothing, the first push of a new subscriber included.
    if op == "subscribe" and "market" not in sim.faults.stalled:
        for channel, c in names:
            quote = sim.engine.quotes[c.sym.symbol]
            session.send(public_push(channel, c, quote, sim.now_ms(), sim.update_id))
