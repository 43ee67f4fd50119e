"""The Bybit v5 front (``category=linear``): REST under /v5, WebSockets under /v5/public/linear
and /v5/private.

One dispatcher runs Bybit's checks (route, API key, timestamp window, signature, permission,
rate limit, then the endpoint's parameters) before a handler sees the request, answers in
Bybit's ``{"retCode", "retMsg", "result", "retExtInfo", "time"}`` envelope, and journals every
request it received whatever happens to it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from exchange_sim.config import SymbolConfig
from exchange_sim.core.engine import Key
from exchange_sim.core.events import OrderEvent, UserEvent
from exchange_sim.core.faults import raw_answer
from exchange_sim.core.market import Quote
from exchange_sim.core.orders import Order
from exchange_sim.core.refusals import REJECTION_CODES, Refused
from exchange_sim.core.state import SIM, Channel, Sim
from exchange_sim.errors import VenueError
from exchange_sim.fronts.bybit import auth, codes, dcp, wire, ws
from exchange_sim.fronts.bybit.ratelimit import RateLimiter
from exchange_sim.fronts.common.rest import Answered, Outcome, by_route, journaled

MAX_BODY = 64 * 1024
PAGE_DEFAULT, PAGE_MAX = 20, 50
RECENT_CLOSED = 500  # closed orders /v5/order/realtime still shows (openOnly=1)


@dataclass(frozen=True, slots=True)
class Ctx:
    sim: Sim
    front: BybitFront
    params: dict[str, str]
    key: Key | None
    now_ms: int

    @property
    def account(self) -> str:
        assert self.key is not None
        return self.key.account

    def symbol(self, required: bool = True) -> SymbolConfig | None:
        raw = self.params.get("symbol")
        if raw is None:
            if required:
                raise codes.params("symbol is required")
            return None
        sym = self.sim.engine.symbols.get(raw)
        if sym is None:
            raise codes.params(f"symbol invalid: {raw[:32]}")
        return sym

    def order_ref(self) -> tuple[int | None, str | None]:
        raw_id, link_id = self.params.get("orderId"), self.params.get("orderLinkId")
        if raw_id is None and link_id is None:
            raise codes.params("orderId or orderLinkId is required")
        if raw_id is None:
            return None, link_id
        if not auth.digits(raw_id) or len(raw_id) > 19:
            raise codes.order_not_found()
        return int(raw_id), link_id

    def symbols_selected(self) -> list[str]:
        """``symbol`` > ``baseCoin`` > ``settleCoin``: Bybit's priority; one is required."""
        sym = self.symbol(required=False)
        if sym is not None:
            return [sym.symbol]
        symbols = self.sim.config.symbols
        base = self.params.get("baseCoin")
        if base is not None:
            return [s.symbol for s in symbols if s.base_asset == base]
        settle = self.params.get("settleCoin")
        if settle is not None:
            return [s.symbol for s in symbols if s.quote_asset == settle]
        raise codes.params("symbol, baseCoin or settleCoin is required for category linear")

    def page(self) -> tuple[int, int]:
        limit_raw, cursor = self.params.get("limit", str(PAGE_DEFAULT)), self.params.get("cursor")
        if not auth.digits(limit_raw) or not 1 <= int(limit_raw) <= PAGE_MAX:
            raise codes.params(f"limit must be in [1, {PAGE_MAX}]")
        if cursor is not None and (not auth.digits(cursor) or len(cursor) > 9):
            raise codes.params("cursor invalid")
        return int(limit_raw), int(cursor or 0)


Handler = Callable[[Ctx], Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    signed: bool
    permission: str | None  # read, trade or master
    handler: Handler
    linear: bool = False  # category=linear is required
    required: tuple[str, ...] = ()


def _paged(ctx: Ctx, rows: list[dict[str, Any]]) -> dict[str, Any]:
    limit, start = ctx.page()
    end = start + limit
    return {
        "category": "linear",
        "list": rows[start:end],
        "nextPageCursor": str(end) if end < len(rows) else "",
    }


def _ids(order: Order) -> dict[str, str]:
    return {"orderId": str(order.order_id), "orderLinkId": order.client_order_id}


# ---------------------------------------------------------------------------- market
def _time(ctx: Ctx) -> Any:
    return {"timeSecond": str(ctx.now_ms // 1000), "timeNano": str(ctx.now_ms * 1_000_000)}


def _instruments(ctx: Ctx) -> Any:
    sym = ctx.symbol(required=False)
    chosen = [sym] if sym is not None else list(ctx.sim.config.symbols)
    rows = [wire.instrument_record(s) for s in chosen]
    return {"category": "linear", "list": rows, "nextPageCursor": ""}


def _tickers(ctx: Ctx) -> Any:
    sym = ctx.symbol(required=False)
    quotes = ctx.sim.engine.quotes
    names = [sym.symbol] if sym is not None else list(ctx.sim.engine.symbols)
    return {"category": "linear", "list": [wire.ticker_record(n, quotes[n]) for n in names]}


# ---------------------------------------------------------------------------- orders
def _create(ctx: Ctx) -> Any:
    sym = ctx.symbol()
    assert sym is not None
    new = wire.parse_new_order(ctx.params, sym)
    rejection = ctx.sim.faults.reject_orders
    if rejection is not None:
        raise codes.refusal(Refused(REJECTION_CODES[rejection]))
    ctx.sim.engine.paused = ctx.sim.faults.pause_matching
    order = ctx.sim.engine.place(ctx.account, new, ctx.now_ms)
    ctx.sim.flush_user_events()
    return order


def _amend(ctx: Ctx) -> Any:
    sym = ctx.symbol()
    assert sym is not None
    ref = ctx.order_ref()
    qty = price = None
    if "qty" in ctx.params:
        qty = wire.decimal(ctx.params, "qty")
        wire.on_grid(qty, sym.step_size, "qty")
    if "price" in ctx.params:
        price = wire.decimal(ctx.params, "price")
        wire.on_grid(price, sym.tick_size, "price")
    if qty is None and price is None:
        raise codes.params("nothing to amend: send qty and/or price")
    order = ctx.sim.engine.amend(ctx.account, sym.symbol, ref, qty, price, ctx.now_ms)
    ctx.sim.flush_user_events()
    return order


def _cancel(ctx: Ctx) -> Any:
    sym = ctx.symbol()
    assert sym is not None
    order_id, link_id = ctx.order_ref()
    order = ctx.sim.engine.cancel(ctx.account, sym.symbol, order_id, link_id, ctx.now_ms)
    ctx.sim.flush_user_events()
    return order


def _cancel_all(ctx: Ctx) -> Any:
    cancelled: list[Order] = []
    for symbol in ctx.symbols_selected():
        cancelled += ctx.sim.engine.cancel_all(ctx.account, symbol, ctx.now_ms)
    ctx.sim.flush_user_events()
    return {"list": [_ids(o) for o in cancelled], "success": "1"}


def _matches(ctx: Ctx, o: Order, symbols: Iterable[str] | None) -> bool:
    p = ctx.params
    return (
        (symbols is None or o.symbol in symbols)
        and ("orderId" not in p or str(o.order_id) == p["orderId"])
        and ("orderLinkId" not in p or o.client_order_id == p["orderLinkId"])
    )


def _realtime(ctx: Ctx) -> Any:
    """Open orders (``openOnly=0``, the default) or the latest 500 closed ones (``openOnly=1``);
    an order named by ``orderId`` / ``orderLinkId`` is found whatever its status, as the venue
    does (``openOnly`` is then ignored)."""
    open_only = ctx.params.get("openOnly", "0")
    if open_only not in ("0", "1", "2"):
        raise codes.params("openOnly must be 0, 1 or 2")
    by_id = "orderId" in ctx.params or "orderLinkId" in ctx.params
    symbols = None if by_id and not _has_selector(ctx) else ctx.symbols_selected()
    account = ctx.sim.engine.accounts[ctx.account]
    closed = list(account.history.values())[-RECENT_CLOSED:]
    pool: list[Order] = list(account.open.values())
    if by_id:
        pool += closed
    elif open_only != "0":
        pool = closed
    pool.sort(key=lambda o: o.order_id, reverse=True)
    rows = [wire.order_record(o) for o in pool if _matches(ctx, o, symbols)]
    return _paged(ctx, rows)


def _has_selector(ctx: Ctx) -> bool:
    return any(k in ctx.params for k in ("symbol", "baseCoin", "settleCoin"))


def _history(ctx: Ctx) -> Any:
    symbols = ctx.symbols_selected() if _has_selector(ctx) else None
    account = ctx.sim.engine.accounts[ctx.account]
    pool = [*account.history.values(), *account.open.values()]
    pool.sort(key=lambda o: o.order_id, reverse=True)
    rows = [wire.order_record(o) for o in pool if _matches(ctx, o, symbols)]
    return _paged(ctx, rows)


# ---------------------------------------------------------------------------- account
def _positions(ctx: Ctx) -> Any:
    by_symbol = "symbol" in ctx.params
    names = ctx.symbols_selected()
    engine = ctx.sim.engine
    account = engine.accounts[ctx.account]
    rows = []
    for name in names:
        pos = account.positions[name]
        if pos.qty == 0 and not by_symbol:
            continue  # by settle coin the venue lists only open positions
        rows.append(
            wire.position_record(
                engine.symbols[name],
                pos.qty,
                pos.entry,
                engine.mark(name),
                engine.unrealized(pos),
                pos.update_ms,
                (pos.realized_total, pos.realized_open),
            )
        )
    return _paged(ctx, rows)


def _wallet(ctx: Ctx) -> Any:
    if ctx.params["accountType"] != "UNIFIED":
        raise codes.params("accountType only supports UNIFIED")
    return {"list": [wire.wallet_record(ctx.sim.account_totals(ctx.account))]}


def _set_dcp(ctx: Ctx) -> Any:
    if not ctx.sim.config.dcp_enabled:
        raise codes.params("disconnection protection is not configured for this account")
    product = ctx.params.get("product", "OPTIONS")
    if product not in dcp.PRODUCTS:
        raise codes.params("product must be OPTIONS, DERIVATIVES or SPOT")
    raw = ctx.params["timeWindow"]
    if not auth.digits(raw) or not 3 <= int(raw) <= 300:
        raise codes.params("timeWindow must be an integer in [3, 300]")
    ctx.front.dcp.set_window(ctx.account, product, int(raw))
    return {}


def _dcp_info(ctx: Ctx) -> Any:
    """A configured account, main or sub, sees its own configuration; an account DCP was never
    enabled for (here: ``dcp_enabled = false``, for every account) gets an empty list."""
    if not ctx.sim.config.dcp_enabled:
        return {"dcpInfos": []}
    windows = ctx.front.dcp.windows.get(ctx.account, {})
    return {
        "dcpInfos": [
            {"product": p, "dcpStatus": "ON", "timeWindow": str(w)} for p, w in windows.items()
        ]
        or [
            {
                "product": "DERIVATIVES",
                "dcpStatus": "ON",
                "timeWindow": str(dcp.DEFAULT_WINDOW_S),
            }
        ]
    }


# ---------------------------------------------------------------------------- user
def _delete_sub_api(ctx: Ctx) -> Any:
    """The master names the sub-account key; a sub-account key may delete itself."""
    assert ctx.key is not None
    target = ctx.params.get("apikey")
    perms = ctx.key.config.permissions
    if target is None:
        if ctx.sim.engine.accounts[ctx.account].master:
            raise codes.params("apikey is required when the master key calls")
        target = ctx.key.config.api_key
    elif "master" not in perms:
        raise codes.permission()
    ctx.sim.delete_key(None, target)
    return {}


def _sub_members(ctx: Ctx) -> Any:
    front = ctx.front
    subs = [a for a in ctx.sim.engine.accounts.values() if not a.master]
    return {
        "subMembers": [
            {
                "uid": front.uid_of[a.name],
                "username": a.name,
                "memberType": 1,
                "status": 1,
                "accountMode": 3,
                "remark": "",
            }
            for a in subs
        ]
    }


def _permissions(perms: frozenset[str]) -> dict[str, list[str]]:
    return {
        "ContractTrade": ["Order", "Position"] if "trade" in perms else [],
        "Spot": [],
        "Wallet": ["AccountTransfer", "SubMemberTransfer"] if "master" in perms else [],
        "Options": [],
        "Derivatives": [],
        "CopyTrading": [],
        "BlockTrade": [],
        "Exchange": [],
        "NFT": [],
        "Affiliate": [],
    }


def _key_record(key: Key) -> dict[str, Any]:
    perms = key.config.permissions
    return {
        "id": key.config.label,
        "ips": ["*"],
        "apiKey": key.config.api_key,
        "note": key.config.label,
        "status": 1,
        "expiredAt": "",
        "createdAt": "",
        "type": 1,
        "permissions": _permissions(perms),
        "secret": "********",
        "readOnly": 0 if "trade" in perms else 1,
        "deadlineDay": -1,
        "flag": "hmac",
    }


def _sub_apikeys(ctx: Ctx) -> Any:
    uid = ctx.params["subMemberId"]
    name = ctx.front.account_of_uid.get(uid)
    if name is None or ctx.sim.engine.accounts[name].master:
        raise codes.params("subMemberId: no such sub-account")
    keys = [k for k in ctx.sim.engine.keys.values() if k.account == name and not k.deleted]
    return {"result": [_key_record(k) for k in keys], "nextPageCursor": ""}


def _query_api(ctx: Ctx) -> Any:
    key = ctx.key
    assert key is not None
    account = ctx.sim.engine.accounts[key.account]
    front = ctx.front
    master_uid = next(front.uid_of[a.name] for a in ctx.sim.engine.accounts.values() if a.master)
    record = _key_record(key)
    record.update(
        secret="",
        unified=0,
        uta=1,
        userID=int(front.uid_of[key.account]),
        inviterID=0,
        vipLevel="No VIP",
        mktMakerLevel="0",
        affiliateID=0,
        rsaPublicKey="",
        isMaster=account.master,
        parentUid="0" if account.master else master_uid,
        kycLevel="LEVEL_DEFAULT",
        kycRegion="",
    )
    return record


# ---------------------------------------------------------------------------- routing
def _endpoints() -> dict[tuple[str, str], Endpoint]:
    e = Endpoint
    table = [
        e("GET /v5/market/time", False, None, _time),
        e("GET /v5/market/instruments-info", False, None, _instruments, linear=True),
        e("GET /v5/market/tickers", False, None, _tickers, linear=True),
        e("POST /v5/order/create", True, "trade", _create, True, ("symbol",)),
        e("POST /v5/order/amend", True, "trade", _amend, True, ("symbol",)),
        e("POST /v5/order/cancel", True, "trade", _cancel, True, ("symbol",)),
        e("POST /v5/order/cancel-all", True, "trade", _cancel_all, linear=True),
        e("GET /v5/order/realtime", True, "read", _realtime, linear=True),
        e("GET /v5/order/history", True, "read", _history, linear=True),
        e("GET /v5/position/list", True, "read", _positions, linear=True),
        e("GET /v5/account/wallet-balance", True, "read", _wallet, required=("accountType",)),
        e(
            "POST /v5/order/disconnected-cancel-all",
            True,
            "trade",
            _set_dcp,
            required=("timeWindow",),
        ),
        e("GET /v5/account/query-dcp-info", True, "read", _dcp_info),
        e("POST /v5/user/delete-sub-api", True, None, _delete_sub_api),
        e("GET /v5/user/query-sub-members", True, "master", _sub_members),
        e("GET /v5/user/sub-apikeys", True, "master", _sub_apikeys, required=("subMemberId",)),
        e("GET /v5/user/query-api", True, None, _query_api),
    ]
    return by_route(table)


ENDPOINTS = _endpoints()


def _authenticate(sim: Sim, request: web.Request, endpoint: Endpoint, payload: str) -> Key:
    h = request.headers
    api_key, stamp, signature = (
        h.get("X-BAPI-API-KEY"),
        h.get("X-BAPI-TIMESTAMP"),
        h.get("X-BAPI-SIGN"),
    )
    if not api_key or not stamp or not signature:
        raise codes.missing_auth()
    key = sim.engine.keys.get(api_key)
    if key is None or key.deleted:
        raise codes.key_invalid()
    recv_window = h.get("X-BAPI-RECV-WINDOW")
    auth.check_timestamp(stamp, recv_window, sim.now_ms(), sim.config.recv_window_max_ms)
    text = auth.signed_text(stamp, api_key, recv_window, payload)
    if not auth.signature_valid(key.config.secret, text, signature):
        raise codes.sign()
    if endpoint.permission is not None and endpoint.permission not in key.config.permissions:
        raise codes.permission()
    return key


async def _read(request: web.Request) -> tuple[str, dict[str, str]]:
    """The signed payload (query string or body, exactly as sent) and the parameters."""
    if request.method == "GET":
        raw = request.rel_url.raw_query_string
        return raw, auth.query_params(raw)
    if (request.content_length or 0) > MAX_BODY:
        raise codes.params("body too large")
    body = await request.read()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise codes.params("the body is not UTF-8") from None
    return text, auth.body_params(body)


async def _handle(request: web.Request, endpoint: Endpoint | None, out: Outcome) -> Any:
    sim, front = request.app[SIM], request.app[FRONT]
    fail = sim.faults.take_failure(endpoint.name if endpoint else "")
    if fail is not None:
        raise raw_answer(fail) or codes.injected_failure(fail)
    if not front.limiter.charge_ip(request.remote or "?", sim.now_ms()):
        raise codes.ip_rate_limit()
    if endpoint is None:
        raise codes.route()
    payload, params = await _read(request)
    key = None
    if endpoint.signed:
        key = out.key = _authenticate(sim, request, endpoint, payload)
        verdict = front.limiter.charge(front.uid_of[key.account], request.path, sim.now_ms())
        if verdict is not None:
            out.headers = verdict.headers()
            if not verdict.allowed:
                raise codes.rate_limit()
    for name in endpoint.required:
        if not params.get(name):
            raise codes.params(f"{name} is required")
    if endpoint.linear and params.get("category") != "linear":
        raise codes.params("category: only linear is simulated")
    try:
        result = endpoint.handler(Ctx(sim, front, params, key, sim.now_ms()))
    except Refused as err:
        raise codes.refusal(err) from None
    if isinstance(result, Order):
        out.detail = f"{result.symbol} orderId={result.order_id} {result.status}"
        return _ids(result)
    return result


def _envelope(code: int, msg: str, result: Any, now_ms: int) -> bytes:
    return orjson.dumps(
        {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms}
    )


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Answer one REST request in Bybit's envelope; journal it whatever happens."""
    sim = request.app[SIM]
    endpoint = ENDPOINTS.get((request.method, request.path))
    out = Outcome()

    async def handle() -> Answered:
        result = await _handle(request, endpoint, out)
        return Answered(_envelope(0, "OK", result, sim.now_ms()))

    def refusal(err: VenueError) -> bytes:
        return _envelope(err.code, err.msg, {}, sim.now_ms())

    name = endpoint.name if endpoint else None
    return await journaled(request, name, "X-BAPI-API-KEY", out, handle, refusal)


class BybitFront:
    """Bybit v5's protocol over the core (``exchange_sim.core.state.Front``)."""

    name = "bybit"

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.limiter = RateLimiter(sim.config.rate_limits)
        self.uid_of = {a.name: str(1_000_001 + i) for i, a in enumerate(sim.config.accounts)}
        self.account_of_uid = {uid: name for name, uid in self.uid_of.items()}
        self.dcp = dcp.Dcp(sim.config.dcp_enabled)
        self._seq = itertools.count(1)

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app[SIM] = self.sim
        app[FRONT] = self
        app[dcp.DCP] = self.dcp
        app.router.add_get("/v5/public/linear", ws.public_ws)
        app.router.add_get("/v5/private", ws.private_ws)
        app.router.add_route("*", "/{tail:.*}", dispatch)
        return app

    def publish_quote(self, symbol: str, quote: Quote, now_ms: int, update_id: int) -> None:
        hub = self.sim.hub
        for topic in ws.public_topics(symbol):
            if hub.has_market_subscribers(topic):
                raw = wire.topic_message(topic, symbol, quote, now_ms, update_id)
                hub.publish_market(topic, raw, raw)

    def render_user_event(self, event: UserEvent) -> list[tuple[str, bytes]]:
        """Order changes as ``order`` (fills also as ``execution``); a fill's position and
        balance as ``position`` and ``wallet``."""
        seq, now = next(self._seq), event.now_ms
        if isinstance(event, OrderEvent):
            order_row = {"category": "linear", **wire.order_record(event.order)}
            out = [("order", wire.private_message("order", seq, now, [order_row]))]
            if event.trade is not None:
                mark = self.sim.engine.mark(event.order.symbol)
                fill = wire.execution_record(event.order, event.trade, mark, now)
                out.append(("execution", wire.private_message("execution", seq, now, [fill])))
            return out
        engine = self.sim.engine
        sym = engine.symbols[event.symbol]
        position = wire.position_record(
            sym, event.qty, event.entry, engine.mark(event.symbol), event.unrealized, now,
            (event.realized_total, event.realized_open),
        )  # fmt: skip
        wallet = wire.wallet_record(self.sim.account_totals(event.account))
        return [
            (
                "position",
                wire.private_message("position", seq, now, [{"category": "linear", **position}]),
            ),
            ("wallet", wire.private_message("wallet", seq, now, [wallet])),
        ]

    def expiry_notice(self, channel: Channel, now_ms: int) -> bytes | None:
        return None


FRONT = web.AppKey("bybit_front", BybitFront)
