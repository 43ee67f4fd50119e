"""The admin API (loopback only, its own port): steer faults and inspect the venue's state."""

from __future__ import annotations

import os
from typing import Any

import orjson
from aiohttp import web

from exchange_sim.core.faults import STREAM_KINDS, Faults, FaultSpecError, apply_spec
from exchange_sim.core.orders import fmt, order_record
from exchange_sim.core.state import SIM, Sim
from exchange_sim.errors import SimError

STREAM_ACTIONS = ("stall", "resume", "close", "reset")


class AdminInputError(SimError, ValueError):
    """An admin request was malformed (answered with 400 and the reason)."""


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        raw = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError:
        raise AdminInputError("body: not valid JSON") from None
    if not isinstance(raw, dict):
        raise AdminInputError("body: must be a JSON object")
    return raw


def _int_query(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise AdminInputError(f"{name}: must be an integer") from None


def _account(sim: Sim, request: web.Request) -> str:
    name = request.query.get("account", "")
    if name not in sim.engine.accounts:
        raise AdminInputError(f"account: unknown account {name!r}")
    return name


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except (FaultSpecError, AdminInputError) as err:
        return _json({"error": str(err)}, 400)
    return response


async def health(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    return _json(
        {
            "ok": True,
            "pid": os.getpid(),
            "journal_seq": sim.journal.last_seq,
            "venue": sim.front.name,
        }
    )


async def journal(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    since = _int_query(request, "since", 0)
    limit = min(max(_int_query(request, "limit", 10_000), 1), 100_000)
    entries = sim.journal.since(since, limit)
    return _json({"entries": [e.to_json() for e in entries], "last_seq": sim.journal.last_seq})


async def open_orders(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    account = _account(sim, request)
    symbol = request.query.get("symbol")
    orders = sim.engine.open_orders(account, symbol)
    return _json({"account": account, "orders": [order_record(o, with_time=True) for o in orders]})


def _key_view(sim: Sim, api_key: str) -> dict[str, Any] | None:
    key = sim.engine.keys.get(api_key)
    if key is None:
        return None
    return {
        "api_key": api_key,
        "label": key.config.label,
        "account": key.account,
        "permissions": sorted(key.config.permissions),
        "status": "deleted" if key.deleted else "active",
        "deleted_ms": key.deleted_ms,
        "listen_key_open": sim.channel_for(api_key) is not None,
    }


async def key_status(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    view = _key_view(sim, request.match_info["api_key"])
    if view is None:
        return _json({"error": "unknown api key"}, 404)
    return _json(view)


async def keys(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    return _json({"keys": [_key_view(sim, k) for k in sim.engine.keys]})


async def accounts(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    out = []
    for name, account in sim.engine.accounts.items():
        totals = {k: fmt(v) for k, v in sim.account_totals(name).items()}
        out.append(
            {
                "name": name,
                "email": account.email,
                "master": account.master,
                "open_orders": len(account.open),
                **totals,
            }
        )
    return _json({"accounts": out})


async def positions(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    account = _account(sim, request)
    return _json({"account": account, "positions": sim.position_view(account)})


async def countdowns(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    now = sim.clock.monotonic()
    out = [
        {"account": a.name, "symbol": s, "remaining_ms": max(0.0, (d - now) * 1000)}
        for a in sim.engine.accounts.values()
        for s, d in a.countdowns.items()
    ]
    return _json({"countdowns": out})


async def quotes(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    return _json(
        {
            s: {"bid": fmt(q.bid), "ask": fmt(q.ask), "mid": fmt(q.mid)}
            for s, q in sim.engine.quotes.items()
        }
    )


async def get_faults(request: web.Request) -> web.Response:
    return _json(request.app[SIM].faults.to_json())


async def set_faults(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    apply_spec(sim.faults, await _body(request))
    sim.engine.paused = sim.faults.pause_matching
    _note(sim, "faults_set", orjson.dumps(sim.faults.to_json()).decode())
    return _json(sim.faults.to_json())


async def clear_faults(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    fresh = Faults()
    for name in (
        "rest_latency",
        "stream_latency",
        "fail_next",
        "reject_orders",
        "pause_matching",
        "stalled",
    ):
        setattr(sim.faults, name, getattr(fresh, name))
    sim.engine.paused = False
    _note(sim, "faults_cleared", "")
    return _json(sim.faults.to_json())


async def streams(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    body = await _body(request)
    action, kind = body.pop("action", None), body.pop("kind", "all")
    if body:
        raise AdminInputError(f"body: unknown key {sorted(body)[0]!r}")
    if action not in STREAM_ACTIONS:
        raise AdminInputError(f"action: must be one of {', '.join(STREAM_ACTIONS)}")
    if kind not in (*STREAM_KINDS, "all"):
        raise AdminInputError("kind: must be market, user or all")
    kinds = set(STREAM_KINDS) if kind == "all" else {kind}
    conns = sim.hub.select(kind)
    affected = len(conns)
    if action == "stall":
        sim.faults.stalled |= kinds
    elif action == "resume":
        sim.faults.stalled -= kinds
    elif action == "close":
        sim.hub.close(conns, 1001, "closed by venue")
    else:
        sim.hub.reset(conns)
    _note(sim, f"streams_{action}", f"{kind} ({affected} connections)")
    return _json({"action": action, "kind": kind, "connections": affected})


async def price_jump(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    body = await _body(request)
    symbol, pct = body.pop("symbol", None), body.pop("pct", None)
    if body:
        raise AdminInputError(f"body: unknown key {sorted(body)[0]!r}")
    if symbol not in sim.engine.symbols:
        raise AdminInputError(f"symbol: unknown symbol {symbol!r}")
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not -90 <= pct <= 1000:
        raise AdminInputError("pct: must be a number in [-90, 1000]")
    quote = sim.jump(symbol, float(pct))
    return _json({"symbol": symbol, "bid": fmt(quote.bid), "ask": fmt(quote.ask)})


def _note(sim: Sim, what: str, detail: str) -> None:
    sim.journal.event(sim.clock.monotonic(), sim.clock.wall(), what, None, detail)


def build_admin_app(sim: Sim) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[SIM] = sim
    r = app.router
    r.add_get("/admin/health", health)
    r.add_get("/admin/journal", journal)
    r.add_get("/admin/open-orders", open_orders)
    r.add_get("/admin/keys", keys)
    r.add_get("/admin/keys/{api_key}", key_status)
    r.add_get("/admin/accounts", accounts)
    r.add_get("/admin/positions", positions)
    r.add_get("/admin/countdowns", countdowns)
    r.add_get("/admin/quotes", quotes)
    r.add_get("/admin/faults", get_faults)
    r.add_post("/admin/faults", set_faults)
    r.add_delete("/admin/faults", clear_faults)
    r.add_post("/admin/streams", streams)
    r.add_post("/admin/price-jump", price_jump)
    return app
