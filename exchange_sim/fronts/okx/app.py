"""The OKX v5 front (instType SWAP): REST under /api/v5, WebSockets under /ws/v5/public and
/ws/v5/private.

One dispatcher runs OKX's checks (route, auth headers, API key, passphrase, timestamp,
signature, bound addresses, permission, rate limit, then the endpoint's parameters) before a
handler sees the request, answers in OKX's ``{"code", "msg", "data"}`` envelope, and journals
every request it received whatever happens to it. Trade calls answer per item (``sCode`` /
``sMsg``): ``code`` is "0" when every item succeeded, "1" when all failed, "2" when some did.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from exchange_sim.core.engine import Key
from exchange_sim.core.events import OrderEvent, UserEvent
from exchange_sim.core.faults import raw_answer
from exchange_sim.core.market import Quote
from exchange_sim.core.orders import Order
from exchange_sim.core.refusals import REJECTION_CODES, Reason, Refused
from exchange_sim.core.state import SIM, Channel, Sim
from exchange_sim.errors import VenueError
from exchange_sim.fronts.common.rest import Answered, Outcome, by_route, journaled
from exchange_sim.fronts.okx import auth, codes, wire, ws
from exchange_sim.fronts.okx.contracts import Contract, Instruments
from exchange_sim.fronts.okx.ratelimit import RateLimiter

MAX_BODY = 64 * 1024
PAGE_MAX = 100
BATCH_MAX = 20  # orders per batch-orders / cancel-batch-orders call
CANCEL_AFTER_S = (10, 120)  # cancel-all-after: timeOut 0 disarms, else within these seconds
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
PERMS = {"read_only": "read", "trade": "trade"}


@dataclass(frozen=True, slots=True)
class Answer:
    """A handler's ``data`` and, for per-item calls, the envelope's code and message."""

    data: list[Any]
    code: int = 0
    msg: str = ""


@dataclass(slots=True)
class _Outcome(Outcome):
    """What the journal says about a request, and which orders it touched."""

    orders: list[Order] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Ctx:
    sim: Sim
    front: OkxFront
    params: dict[str, str]
    items: list[dict[str, str]]  # a batch call's orders
    key: Key | None
    now_ms: int
    out: _Outcome

    @property
    def account(self) -> str:
        assert self.key is not None
        return self.key.account

    def contract(self, values: dict[str, str] | None = None) -> Contract:
        raw = (self.params if values is None else values).get("instId")
        if not raw:
            raise codes.empty("instId")
        found = self.front.instruments.by_inst_id.get(raw)
        if found is None:
            raise codes.instrument()
        return found

    def inst_type(self, required: bool) -> bool:
        """Whether the call asks about swaps (another known instType lists nothing here)."""
        raw = self.params.get("instType")
        if raw is None:
            if required:
                raise codes.empty("instType")
            return True
        if raw not in INST_TYPES:
            raise codes.param("instType")
        return raw == "SWAP"


Handler = Callable[[Ctx], "Answer | list[Any]"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    private: bool
    permission: str | None  # read, trade, or master (the master key, bound to an address)
    handler: Handler
    required: tuple[str, ...] = ()
    batch: bool = False  # the body is an array of orders


def _items_answer(results: list[dict[str, Any]]) -> Answer:
    failed = sum(1 for r in results if r["sCode"] != "0")
    if not failed:
        return Answer(results)
    if failed == len(results):
        return Answer(results, codes.OPERATION_FAILED, "All operations failed")
    return Answer(results, codes.PARTIAL, "Bulk operation partially succeeded")


def _item_failure(op: str, reason: str) -> tuple[int, str]:
    return codes.ITEM_FAILURES.get(f"{op} {reason}", (51000, f"Parameter error: {reason}"))


def _order_ref(values: dict[str, str]) -> tuple[int | None, str | None]:
    """``ordId`` wins over ``clOrdId``, as OKX documents; an id that cannot exist finds nothing."""
    raw_id, cid = values.get("ordId") or None, values.get("clOrdId") or None
    if raw_id is None and cid is None:
        raise codes.order_ref_required()
    if raw_id is None:
        return None, cid
    if not auth.digits(raw_id) or len(raw_id) > 19:
        return 0, None
    return int(raw_id), None


# ---------------------------------------------------------------------------- public
def _time(ctx: Ctx) -> list[Any]:
    return [{"ts": str(ctx.now_ms)}]


def _instruments(ctx: Ctx) -> list[Any]:
    if not ctx.inst_type(required=True):
        return []
    chosen = list(ctx.front.instruments)
    if "instId" in ctx.params:
        chosen = [ctx.contract()]
    family = ctx.params.get("instFamily") or ctx.params.get("uly")
    if family is not None:
        chosen = [c for c in chosen if c.family == family]
    return [wire.instrument_record(c, ctx.front.started_ms) for c in chosen]


def _ticker(ctx: Ctx) -> list[Any]:
    c = ctx.contract()
    return [wire.ticker_record(c, ctx.sim.engine.quotes[c.sym.symbol], ctx.now_ms)]


def _tickers(ctx: Ctx) -> list[Any]:
    if not ctx.inst_type(required=True):
        return []
    quotes = ctx.sim.engine.quotes
    return [wire.ticker_record(c, quotes[c.sym.symbol], ctx.now_ms) for c in ctx.front.instruments]


def _books(ctx: Ctx) -> list[Any]:
    c = ctx.contract()
    raw = ctx.params.get("sz", "1")
    if not auth.digits(raw) or not 1 <= int(raw) <= 400:
        raise codes.param("sz")
    quote = ctx.sim.engine.quotes[c.sym.symbol]
    return [wire.book_record(c, quote, ctx.sim.config.market, int(raw), ctx.now_ms)]


# ---------------------------------------------------------------------------- trade
def _place(ctx: Ctx) -> Answer:
    return _items_answer([_place_one(ctx, ctx.params)])


def _batch_place(ctx: Ctx) -> Answer:
    if len(ctx.items) > BATCH_MAX:
        raise codes.too_many_orders(BATCH_MAX)
    if not ctx.items:
        raise codes.empty("body")
    return _items_answer([_place_one(ctx, values) for values in ctx.items])


def _place_one(ctx: Ctx, values: dict[str, str]) -> dict[str, Any]:
    """One order: parameter errors and the core's refusals become the item's sCode; an
    overloaded venue (the outcome unknown) fails the whole call."""
    result: dict[str, Any] = {
        "ordId": "",
        "clOrdId": values.get("clOrdId", ""),
        "tag": values.get("tag", ""),
        "ts": str(ctx.now_ms),
        "sCode": "0",
        "sMsg": "Order placed",
    }
    try:
        c = ctx.contract(values)
        new = wire.parse_new_order(values, c)
        rejection = ctx.sim.faults.reject_orders
        if rejection is not None:
            raise Refused(REJECTION_CODES[rejection])
        ctx.sim.engine.paused = ctx.sim.faults.pause_matching
        order = ctx.sim.engine.place(ctx.account, new, ctx.now_ms)
    except VenueError as err:
        result.update(sCode=str(err.code), sMsg=err.msg)
        return result
    except Refused as err:
        if err.reason is Reason.OVERLOADED:
            raise codes.overloaded() from None
        if err.reason is Reason.NO_QUOTE:
            raise codes.service_unavailable() from None
        code, msg = _item_failure("place", err.reason.name)
        result.update(sCode=str(code), sMsg=msg)
        return result
    finally:
        ctx.sim.flush_user_events()
    result["ordId"] = str(order.order_id)
    ctx.out.orders.append(order)
    return result


def _cancel(ctx: Ctx) -> Answer:
    return _items_answer([_cancel_one(ctx, ctx.params)])


def _batch_cancel(ctx: Ctx) -> Answer:
    if len(ctx.items) > BATCH_MAX:
        raise codes.too_many_cancels(BATCH_MAX)
    if not ctx.items:
        raise codes.empty("body")
    return _items_answer([_cancel_one(ctx, values) for values in ctx.items])


def _closed_state(ctx: Ctx, symbol: str, ref: tuple[int | None, str | None]) -> str:
    """Why an order is not open: CANCELED, FILLED, or NOT_OPEN when the venue never had it."""
    try:
        order = ctx.sim.engine.query(ctx.account, symbol, ref[0], ref[1])
    except Refused:
        return "NOT_OPEN"
    return "FILLED" if order.status == "FILLED" else "CANCELED"


def _cancel_one(ctx: Ctx, values: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ordId": values.get("ordId", ""),
        "clOrdId": values.get("clOrdId", ""),
        "ts": str(ctx.now_ms),
        "sCode": "0",
        "sMsg": "",
    }
    try:
        c = ctx.contract(values)
        ref = _order_ref(values)
        order = ctx.sim.engine.cancel(ctx.account, c.sym.symbol, ref[0], ref[1], ctx.now_ms)
    except VenueError as err:
        result.update(sCode=str(err.code), sMsg=err.msg)
        return result
    except Refused:
        code, msg = _item_failure("cancel", _closed_state(ctx, c.sym.symbol, ref))
        result.update(sCode=str(code), sMsg=msg)
        return result
    finally:
        ctx.sim.flush_user_events()
    result.update(ordId=str(order.order_id), clOrdId=wire.shown_client_id(order))
    ctx.out.orders.append(order)
    return result


def _amend(ctx: Ctx) -> Answer:
    values = ctx.params
    result: dict[str, Any] = {
        "ordId": values.get("ordId", ""),
        "clOrdId": values.get("clOrdId", ""),
        "reqId": values.get("reqId", ""),
        "ts": str(ctx.now_ms),
        "sCode": "0",
        "sMsg": "",
    }
    try:
        c = ctx.contract(values)
        ref = _order_ref(values)
        if not values.get("newSz") and not values.get("newPx"):
            raise codes.failed(51500, "Either order price or amount is required")
        qty = wire.size(values, "newSz", c) if values.get("newSz") else None
        price = None
        if values.get("newPx"):
            price = wire.decimal(values, "newPx")
            wire.on_grid(price, c.sym.tick_size, "newPx")
        order = ctx.sim.engine.amend(ctx.account, c.sym.symbol, ref, qty, price, ctx.now_ms)
    except VenueError as err:
        result.update(sCode=str(err.code), sMsg=err.msg)
        return _items_answer([result])
    except Refused as err:
        reason = err.reason.name
        if err.reason is Reason.NOT_OPEN:
            reason = _closed_state(ctx, c.sym.symbol, ref)
        code, msg = _item_failure("amend", reason)
        result.update(sCode=str(code), sMsg=msg)
        return _items_answer([result])
    finally:
        ctx.sim.flush_user_events()
    result.update(ordId=str(order.order_id), clOrdId=wire.shown_client_id(order))
    ctx.out.orders.append(order)
    return _items_answer([result])


def _order(ctx: Ctx) -> list[Any]:
    c = ctx.contract()
    order_id, cid = _order_ref(ctx.params)
    try:
        order = ctx.sim.engine.query(ctx.account, c.sym.symbol, order_id, cid)
    except Refused:
        raise codes.order_not_found() from None
    return [wire.order_record(order, c)]


def _page(ctx: Ctx, orders: list[Order]) -> list[Order]:
    """Newest first; ``after`` (an ordId): older ones, ``before``: newer ones, at most ``limit``
    (100) of them, the nearest to the cursor."""
    raw_limit = ctx.params.get("limit", str(PAGE_MAX))
    if not auth.digits(raw_limit) or not 1 <= int(raw_limit) <= PAGE_MAX:
        raise codes.param("limit")
    limit = int(raw_limit)
    cursors: dict[str, int] = {}
    for name in ("after", "before"):
        raw = ctx.params.get(name)
        if raw:
            if not auth.digits(raw) or len(raw) > 19:
                raise codes.param(name)
            cursors[name] = int(raw)
    orders.sort(key=lambda o: o.order_id, reverse=True)
    if "after" in cursors:
        orders = [o for o in orders if o.order_id < cursors["after"]]
    if "before" in cursors:
        orders = [o for o in orders if o.order_id > cursors["before"]]
        if "after" not in cursors:
            return orders[-limit:]
    return orders[:limit]


def _filtered(ctx: Ctx, orders: list[Order], states: tuple[str, ...]) -> list[Any]:
    p = ctx.params
    symbol = ctx.contract().sym.symbol if p.get("instId") else None
    state = p.get("state")
    if state is not None and state not in states:
        raise codes.param("state")
    kind = p.get("ordType")
    if kind is not None and kind not in wire.ORD_TYPES:
        raise codes.param("ordType")
    chosen = [
        o
        for o in orders
        if (symbol is None or o.symbol == symbol)
        and (state is None or wire.STATES[o.status] == state)
        and (kind is None or wire.ord_type(o) == kind)
    ]
    by_symbol = ctx.front.instruments.by_symbol
    return [wire.order_record(o, by_symbol[o.symbol]) for o in _page(ctx, chosen)]


def _pending(ctx: Ctx) -> list[Any]:
    if not ctx.inst_type(required=False):
        return []
    account = ctx.sim.engine.accounts[ctx.account]
    return _filtered(ctx, list(account.open.values()), ("live", "partially_filled"))


def _history(ctx: Ctx) -> list[Any]:
    if not ctx.inst_type(required=True):
        return []
    account = ctx.sim.engine.accounts[ctx.account]
    return _filtered(ctx, list(account.history.values()), ("filled", "canceled"))


def _cancel_after(ctx: Ctx) -> list[Any]:
    """Account-wide countdown cancel-all: ``timeOut`` 0 disarms, else 10..120 s; a tag-level
    timer is not simulated."""
    raw = ctx.params["timeOut"]
    low, high = CANCEL_AFTER_S
    if not auth.digits(raw) or len(raw) > 4 or (int(raw) != 0 and not low <= int(raw) <= high):
        raise codes.param("timeOut")
    if ctx.params.get("tag"):
        raise codes.param("tag")
    seconds = int(raw)
    ctx.sim.engine.set_countdown(ctx.account, None, seconds * 1000, ctx.sim.clock.monotonic())
    ctx.out.detail = f"* timeOut={seconds}"
    trigger = str(ctx.now_ms + seconds * 1000) if seconds else "0"
    return [{"triggerTime": trigger, "tag": "", "ts": str(ctx.now_ms)}]


# ---------------------------------------------------------------------------- account
def _balance(ctx: Ctx) -> list[Any]:
    account = ctx.sim.engine.accounts[ctx.account]
    record = wire.balance_record(ctx.sim.account_totals(ctx.account), account.update_ms)
    wanted = ctx.params.get("ccy")
    if wanted is not None and "USDT" not in wanted.split(","):
        record["details"] = []
    return [record]


def _positions(ctx: Ctx) -> list[Any]:
    if not ctx.inst_type(required=False):
        return []
    raw = ctx.params.get("instId")
    contracts = list(ctx.front.instruments)
    if raw:
        contracts = [ctx.contract({"instId": one}) for one in raw.split(",")[:10]]
    engine = ctx.sim.engine
    account = engine.accounts[ctx.account]
    rows = []
    for c in contracts:
        pos = account.positions[c.sym.symbol]
        if pos.qty == 0:
            continue
        pos_id = ctx.front.pos_id(ctx.account, c)
        if ctx.params.get("posId") not in (None, "", pos_id):
            continue
        mark = engine.mark(c.sym.symbol)
        upnl = engine.unrealized(pos)
        rows.append(
            wire.position_record(
                c,
                pos_id,
                pos.qty,
                pos.entry,
                mark,
                upnl,
                pos.opened_ms,
                pos.update_ms,
                (pos.realized_open, pos.fees_open),
            )
        )
    return rows


def _perm(key: Key) -> str:
    return "read_only,trade" if "trade" in key.config.permissions else "read_only"


def _config(ctx: Ctx) -> list[Any]:
    key = ctx.key
    assert key is not None
    front = ctx.front
    master = ctx.sim.engine.accounts[key.account].master
    return [
        {
            "uid": front.uid_of[key.account],
            "mainUid": front.master_uid,
            "acctLv": "2",
            "acctStpMode": "cancel_maker",
            "posMode": "net_mode",
            "autoLoan": False,
            "greeksType": "PA",
            "feeType": "0",
            "level": "Lv1",
            "levelTmp": "",
            "ctIsoMode": "automatic",
            "mgnIsoMode": "automatic",
            "spotOffsetType": "",
            "stgyType": "0",
            "roleType": "0",
            "traderInsts": [],
            "spotRoleType": "0",
            "spotTraderInsts": [],
            "opAuth": "0",
            "kycLv": "2",
            "label": key.config.label,
            "ip": ",".join(key.config.ips),
            "perm": _perm(key),
            "liquidationGear": "-1",
            "enableSpotBorrow": False,
            "spotBorrowAutoRepay": False,
            "type": "0" if master else "1",
            "settleCcy": "USDT",
            "settleCcyList": ["USDT"],
        }
    ]


def _currencies(ctx: Ctx) -> list[Any]:
    """The funding account's currencies (what ccxt reads while loading markets): USDT and every
    swap's base; the simulator moves no funds, so nothing can be deposited or withdrawn."""
    names = {"USDT", *(c.sym.base_asset for c in ctx.front.instruments)}
    wanted = ctx.params.get("ccy")
    if wanted:
        names &= set(wanted.split(","))
    return [wire.currency_record(name) for name in sorted(names)]


# ---------------------------------------------------------------------------- sub-accounts
def _sub_key(ctx: Ctx) -> Key:
    """The sub-account named ``subAcct`` and its key ``apiKey`` (59506 when it has no such
    live key)."""
    name = ctx.params["subAcct"]
    account = ctx.sim.engine.accounts.get(name)
    if account is None or account.master:
        raise codes.param("subAcct")
    key = ctx.sim.engine.keys.get(ctx.params["apiKey"])
    if key is None or key.account != name or key.deleted:
        raise codes.sub_key_missing()
    return key


def _delete_apikey(ctx: Ctx) -> list[Any]:
    key = _sub_key(ctx)
    ctx.sim.delete_key(None, key.config.api_key)
    return [{"subAcct": key.account}]


def _ips(raw: str) -> tuple[str, ...]:
    ips = tuple(ip for ip in raw.split(",") if ip)
    if len(ips) > 20:
        raise codes.param("ip")
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise codes.param("ip") from None
    return ips


def _modify_apikey(ctx: Ctx) -> list[Any]:
    key = _sub_key(ctx)
    p = ctx.params
    permissions = None
    if "perm" in p:
        names = [n for n in p["perm"].split(",") if n]
        if not names or any(n not in PERMS for n in names):
            raise codes.param("perm")
        permissions = frozenset({"read", *(PERMS[n] for n in names)})
    ips = _ips(p["ip"]) if "ip" in p else None
    label = p.get("label") or None
    ctx.sim.modify_key(key, permissions=permissions, ips=ips, label=label)
    return [{"subAcct": key.account, **ctx.front.key_record(key)}]


def _list_apikeys(ctx: Ctx) -> list[Any]:
    name = ctx.params["subAcct"]
    account = ctx.sim.engine.accounts.get(name)
    if account is None or account.master:
        raise codes.param("subAcct")
    wanted = ctx.params.get("apiKey")
    keys = [
        k
        for k in ctx.sim.engine.keys.values()
        if k.account == name and not k.deleted and wanted in (None, k.config.api_key)
    ]
    return [ctx.front.key_record(k) for k in keys]


# ---------------------------------------------------------------------------- routing
def _endpoints() -> dict[tuple[str, str], Endpoint]:
    e = Endpoint
    table = [
        e("GET /api/v5/public/time", False, None, _time),
        e("GET /api/v5/public/instruments", False, None, _instruments),
        e("GET /api/v5/market/ticker", False, None, _ticker),
        e("GET /api/v5/market/tickers", False, None, _tickers),
        e("GET /api/v5/market/books", False, None, _books),
        e("POST /api/v5/trade/order", True, "trade", _place),
        e("POST /api/v5/trade/batch-orders", True, "trade", _batch_place, batch=True),
        e("POST /api/v5/trade/cancel-order", True, "trade", _cancel),
        e("POST /api/v5/trade/cancel-batch-orders", True, "trade", _batch_cancel, batch=True),
        e("POST /api/v5/trade/amend-order", True, "trade", _amend),
        e("GET /api/v5/trade/order", True, "read", _order),
        e("GET /api/v5/trade/orders-pending", True, "read", _pending),
        e("GET /api/v5/trade/orders-history", True, "read", _history),
        e("POST /api/v5/trade/cancel-all-after", True, "trade", _cancel_after, ("timeOut",)),
        e("GET /api/v5/account/balance", True, "read", _balance),
        e("GET /api/v5/account/positions", True, "read", _positions),
        e("GET /api/v5/account/config", True, "read", _config),
        e("GET /api/v5/asset/currencies", True, "read", _currencies),
        e(
            "POST /api/v5/users/subaccount/delete-apikey",
            True,
            "master",
            _delete_apikey,
            ("subAcct", "apiKey"),
        ),
        e(
            "POST /api/v5/users/subaccount/modify-apikey",
            True,
            "master",
            _modify_apikey,
            ("subAcct", "apiKey"),
        ),
        e("GET /api/v5/users/subaccount/apikey", True, "master", _list_apikeys, ("subAcct",)),
    ]
    return by_route(table)


ENDPOINTS = _endpoints()
PATHS = frozenset(path for _, path in ENDPOINTS)


def _header(request: web.Request, name: str) -> str:
    value = request.headers.get(name)
    if not value:
        raise codes.missing_header(name)
    return value


def _authenticate(sim: Sim, request: web.Request, endpoint: Endpoint, body: str) -> Key:
    api_key = _header(request, "OK-ACCESS-KEY")
    signature = _header(request, "OK-ACCESS-SIGN")
    stamp = _header(request, "OK-ACCESS-TIMESTAMP")
    passphrase = _header(request, "OK-ACCESS-PASSPHRASE")
    key = sim.engine.keys.get(api_key)
    if key is None or key.deleted:
        raise codes.key_invalid()
    if passphrase != key.config.passphrase:
        raise codes.passphrase()
    auth.check_timestamp(stamp, sim.now_ms())
    path = request.rel_url.raw_path
    query = request.rel_url.raw_query_string
    text = auth.signed_text(stamp, request.method, f"{path}?{query}" if query else path, body)
    if not auth.signature_valid(key.config.secret, text, signature):
        raise codes.sign()
    remote = request.remote or "?"
    if key.config.ips and remote not in key.config.ips:
        raise codes.ip_not_allowed(remote)
    _authorize(sim, key, endpoint)
    return key


def _authorize(sim: Sim, key: Key, endpoint: Endpoint) -> None:
    perms = key.config.permissions
    if endpoint.permission == "master":
        if not sim.engine.accounts[key.account].master or "master" not in perms:
            raise codes.master_only()
        if not key.config.ips:
            raise codes.ip_binding_required()
    elif endpoint.permission is not None and endpoint.permission not in perms:
        raise codes.permission()


async def _read(request: web.Request) -> tuple[str, bytes]:
    """The signed body as text (empty for GET) and its bytes, exactly as sent."""
    if request.method == "GET":
        return "", b""
    if (request.content_length or 0) > MAX_BODY:
        raise codes.param("body")
    raw = await request.read()
    try:
        return raw.decode("utf-8"), raw
    except UnicodeDecodeError:
        raise codes.body_not_json() from None


def _parse(request: web.Request, endpoint: Endpoint, raw: bytes) -> Any:
    """The parameters: the query (GET), the body's object, or a batch call's list of them."""
    if request.method == "GET":
        return auth.query_params(request.rel_url.raw_query_string)
    doc = auth.body_doc(raw)
    if isinstance(doc, list) != endpoint.batch:
        raise codes.body_not_json()
    return doc


async def _handle(request: web.Request, endpoint: Endpoint | None, out: _Outcome) -> Answer:
    sim, front = request.app[SIM], request.app[FRONT]
    fail = sim.faults.take_failure(endpoint.name if endpoint else "")
    if fail is not None:
        raise raw_answer(fail) or codes.injected_failure(fail)
    if endpoint is None:
        raise codes.method() if request.path in PATHS else codes.route()
    body, raw = await _read(request)
    key = None
    if endpoint.private:
        key = out.key = _authenticate(sim, request, endpoint, body)
    doc = _parse(request, endpoint, raw)
    who = key.account if key is not None else (request.remote or "?")
    units = len(doc) if endpoint.batch else 1
    if not front.limiter.charge(who, endpoint.name, sim.now_ms(), max(1, units)):
        raise codes.rate_limit()
    params: dict[str, str] = {} if endpoint.batch else doc
    for name in endpoint.required:
        if not params.get(name):
            raise codes.empty(name)
    ctx = Ctx(sim, front, params, doc if endpoint.batch else [], key, sim.now_ms(), out)
    result = endpoint.handler(ctx)
    if out.orders:
        out.detail = " ".join(f"{o.symbol} orderId={o.order_id} {o.status}" for o in out.orders)
    return result if isinstance(result, Answer) else Answer(result)


def _envelope(code: int, msg: str, data: list[Any]) -> bytes:
    return orjson.dumps({"code": str(code), "msg": msg, "data": data})


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Answer one REST request in OKX's envelope; journal it whatever happens."""
    endpoint = ENDPOINTS.get((request.method, request.path))
    out = _Outcome()

    async def handle() -> Answered:
        answer = await _handle(request, endpoint, out)
        return Answered(_envelope(answer.code, answer.msg, answer.data), answer.code or None)

    def refusal(err: VenueError) -> bytes:
        return _envelope(err.code, err.msg, [])

    name = endpoint.name if endpoint else None
    return await journaled(request, name, "OK-ACCESS-KEY", out, handle, refusal)


class OkxFront:
    """OKX v5's protocol over the core (``exchange_sim.core.state.Front``)."""

    name = "okx"

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.limiter = RateLimiter(sim.config.rate_limits)
        self.instruments = Instruments(sim.config.symbols)
        self.uid_of = {a.name: str(1_000_001 + i) for i, a in enumerate(sim.config.accounts)}
        self.master_uid = next(self.uid_of[a.name] for a in sim.config.accounts if a.master)
        self.started_ms = sim.now_ms()

    def pos_id(self, account: str, c: Contract) -> str:
        """A position's stable id: the account's UID and the instrument's place."""
        index = list(self.instruments.by_inst_id).index(c.inst_id)
        return f"{self.uid_of[account]}{index:03d}"

    def key_record(self, key: Key) -> dict[str, Any]:
        return {
            "label": key.config.label,
            "apiKey": key.config.api_key,
            "perm": _perm(key),
            "ip": ",".join(key.config.ips),
            "ts": str(self.started_ms),
        }

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app[SIM] = self.sim
        app[FRONT] = self
        app[ws.INSTRUMENTS] = self.instruments
        app.router.add_get("/ws/v5/public", ws.public_ws)
        app.router.add_get("/ws/v5/private", ws.private_ws)
        app.router.add_route("*", "/{tail:.*}", dispatch)
        return app

    def publish_quote(self, symbol: str, quote: Quote, now_ms: int, update_id: int) -> None:
        c = self.instruments.by_symbol[symbol]
        hub = self.sim.hub
        for channel in ws.PUBLIC_CHANNELS:
            topic = ws.topic(channel, c.inst_id)
            if hub.has_market_subscribers(topic):
                raw = ws.public_push(channel, c, quote, now_ms, update_id)
                hub.publish_market(topic, raw, raw)

    def render_user_event(self, event: UserEvent) -> list[tuple[str, bytes]]:
        """An order change on ``orders``; a fill's position and balance on ``positions`` and
        ``account``."""
        now, uid = event.now_ms, self.uid_of[event.account]
        balance = wire.balance_record(self.sim.account_totals(event.account), now)
        account = ("account", ws.private_push({"channel": "account", "uid": uid}, [balance]))
        if isinstance(event, OrderEvent):
            c = self.instruments.by_symbol[event.order.symbol]
            row = wire.order_record(event.order, c, event.trade)
            arg = {"channel": "orders", "instType": "SWAP", "uid": uid}
            orders = ("orders", ws.private_push(arg, [row]))
            # A fill's balance follows with its position; any other change frees or ties margin.
            return [orders] if event.trade is not None else [orders, account]
        engine = self.sim.engine
        c = self.instruments.by_symbol[event.symbol]
        mark = engine.mark(event.symbol)
        pos_id = self.pos_id(event.account, c)
        position = wire.position_record(
            c, pos_id, event.qty, event.entry, mark, event.unrealized, event.opened_ms, now,
            (event.realized_open, event.fees_open),
        )  # fmt: skip
        arg = {"channel": "positions", "instType": "SWAP", "uid": uid}
        return [("positions", ws.private_push(arg, [position])), account]

    def expiry_notice(self, channel: Channel, now_ms: int) -> bytes | None:
        return None


FRONT = web.AppKey("okx_front", OkxFront)
