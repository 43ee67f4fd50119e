"""The Binance front: REST under /fapi and /sapi, streams under /ws and /stream.

One dispatcher runs the venue's checks in its documented order (rate limit, API key, mandatory
parameters, timestamp window, signature) before an endpoint handler sees the request, and
records every request in the journal with its monotonic arrival time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from exchange_sim.config import KEY_PATTERN, SymbolConfig
from exchange_sim.core.engine import Key
from exchange_sim.core.events import UserEvent
from exchange_sim.core.faults import RawAnswer, raw_answer
from exchange_sim.core.market import Quote
from exchange_sim.core.orders import fmt, order_record
from exchange_sim.core.refusals import REJECTION_CODES, Refused
from exchange_sim.core.state import SIM, Channel, Sim
from exchange_sim.core.streams import Conn, write_loop
from exchange_sim.errors import VenueError
from exchange_sim.fronts.binance import auth, codes
from exchange_sim.fronts.binance.ratelimit import RateLimiter
from exchange_sim.fronts.binance.wire import parse_new_order, user_event

MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class Ctx:
    sim: Sim
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
                raise codes.mandatory("symbol")
            return None
        sym = self.sim.engine.symbols.get(raw)
        if sym is None:
            raise codes.invalid_symbol()
        return sym

    def optional_int(self, name: str) -> int | None:
        return auth.parse_int(self.params, name) if name in self.params else None


Handler = Callable[[Ctx], Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    security: str  # NONE, USER_STREAM or SIGNED
    permission: str | None
    weight: int
    handler: Handler
    required: tuple[str, ...] = ()
    counts_order: bool = False
    weight_without_symbol: int | None = None  # the venue charges more for all-symbol queries


# ---------------------------------------------------------------------------- handlers
def _ping(ctx: Ctx) -> Any:
    return {}


def _time(ctx: Ctx) -> Any:
    return {"serverTime": ctx.now_ms}


def _exchange_info(ctx: Ctx) -> Any:
    limits = ctx.sim.config.rate_limits
    return {
        "timezone": "UTC",
        "serverTime": ctx.now_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": limits.weight_per_minute,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": limits.orders_per_minute,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": limits.orders_per_10s,
            },
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "0"}],
        "symbols": [_symbol_info(s) for s in ctx.sim.config.symbols],
    }


def _precision(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _symbol_info(s: SymbolConfig) -> dict[str, Any]:
    return {
        "symbol": s.symbol,
        "pair": s.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "baseAsset": s.base_asset,
        "quoteAsset": s.quote_asset,
        "marginAsset": s.quote_asset,
        "pricePrecision": _precision(s.tick_size),
        "quantityPrecision": _precision(s.step_size),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        # No tiered margin and no liquidation here: the maintenance rate and the liquidation
        # fee are zero; the initial margin rate follows the symbol's leverage.
        "maintMarginPercent": "0",
        "requiredMarginPercent": fmt(Decimal(100) / s.leverage),
        "liquidationFee": "0",
        "marketTakeBound": "0",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(s.tick_size),
                "maxPrice": "10000000",
                "tickSize": fmt(s.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(max(s.min_qty, s.step_size)),
                "maxQty": fmt(s.max_qty),
                "stepSize": fmt(s.step_size),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": fmt(max(s.min_qty, s.step_size)),
                "maxQty": fmt(s.max_qty),
                "stepSize": fmt(s.step_size),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": s.max_open_orders},
            {"filterType": "MIN_NOTIONAL", "notional": fmt(s.min_notional)},
        ],
        "orderTypes": ["LIMIT", "MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def _book_ticker(ctx: Ctx) -> Any:
    sym = ctx.symbol(required=False)
    names = [sym.symbol] if sym is not None else list(ctx.sim.engine.symbols)
    out = []
    for name in names:
        q = ctx.sim.engine.quotes[name]
        out.append(
            {
                "symbol": name,
                "bidPrice": fmt(q.bid),
                "bidQty": fmt(q.bid_qty),
                "askPrice": fmt(q.ask),
                "askQty": fmt(q.ask_qty),
                "time": ctx.now_ms,
            }
        )
    return out[0] if sym is not None else out


def _new_order(ctx: Ctx) -> Any:
    sym = ctx.symbol()
    assert sym is not None
    new = parse_new_order(ctx.params, sym)
    rejection = ctx.sim.faults.reject_orders
    if rejection is not None:
        raise codes.refusal(Refused(REJECTION_CODES[rejection]))
    ctx.sim.engine.paused = ctx.sim.faults.pause_matching
    order = ctx.sim.engine.place(ctx.account, new, ctx.now_ms)
    ctx.sim.flush_user_events()
    return order_record(order)


def _order_ref(ctx: Ctx) -> tuple[int | None, str | None]:
    order_id = ctx.optional_int("orderId")
    cid = ctx.params.get("origClientOrderId")
    if order_id is None and not cid:
        raise codes.mandatory("orderId")
    return order_id, cid


def _cancel_order(ctx: Ctx) -> Any:
    sym = ctx.symbol()
    assert sym is not None
    order_id, cid = _order_ref(ctx)
    order = ctx.sim.engine.cancel(ctx.account, sym.symbol, order_id, cid, ctx.now_ms)
    ctx.sim.flush_user_events()
    return order_record(order)


def _query_order(ctx: Ctx) -> Any:
    sym = ctx.symbol()
    assert sym is not None
    order_id, cid = _order_ref(ctx)
    return order_record(
        ctx.sim.engine.query(ctx.account, sym.symbol, order_id, cid), with_time=True
    )


def _open_orders(ctx: Ctx) -> Any:
    sym = ctx.symbol(required=False)
    orders = ctx.sim.engine.open_orders(ctx.account, sym.symbol if sym else None)
    return [order_record(o, with_time=True) for o in orders]


def _cancel_all(ctx: Ctx) -> Any:
    sym = ctx.symbol()
    assert sym is not None
    ctx.sim.engine.cancel_all(ctx.account, sym.symbol, ctx.now_ms)
    ctx.sim.flush_user_events()
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def _countdown(ctx: Ctx) -> Any:
    sym = ctx.symbol()
    assert sym is not None
    countdown = auth.parse_int(ctx.params, "countdownTime")
    if countdown < 0:
        raise codes.bad_param("countdownTime")
    ctx.sim.engine.set_countdown(ctx.account, sym.symbol, countdown, ctx.sim.clock.monotonic())
    return {"symbol": sym.symbol, "countdownTime": str(countdown)}


def _assets(ctx: Ctx) -> dict[str, Any]:
    t = ctx.sim.account_totals(ctx.account)
    return {
        "asset": "USDT",
        "walletBalance": fmt(t["wallet"]),
        "unrealizedProfit": fmt(t["unrealized"]),
        "marginBalance": fmt(t["margin_balance"]),
        "maintMargin": "0",
        "initialMargin": fmt(t["position_margin"] + t["order_margin"]),
        "positionInitialMargin": fmt(t["position_margin"]),
        "openOrderInitialMargin": fmt(t["order_margin"]),
        "crossWalletBalance": fmt(t["wallet"]),
        "crossUnPnl": fmt(t["unrealized"]),
        "availableBalance": fmt(t["available"]),
        "maxWithdrawAmount": fmt(max(Decimal(0), t["available"])),
        "marginAvailable": True,
        "updateTime": ctx.sim.engine.accounts[ctx.account].update_ms,
    }


def _account(ctx: Ctx) -> Any:
    t = ctx.sim.account_totals(ctx.account)
    key = ctx.key
    assert key is not None
    positions = []
    for p in ctx.sim.position_view(ctx.account):
        positions.append(
            {
                "symbol": p["symbol"],
                "positionSide": "BOTH",
                "positionAmt": p["positionAmt"],
                "entryPrice": p["entryPrice"],
                "unrealizedProfit": p["unRealizedProfit"],
                "isolatedMargin": "0",
                "notional": p["notional"],
                "isolatedWallet": "0",
                "initialMargin": "0",
                "maintMargin": "0",
                "leverage": p["leverage"],
                "isolated": False,
                "updateTime": p["updateTime"],
            }
        )
    return {
        "feeTier": 0,
        "canTrade": "trade" in key.config.permissions,
        "canDeposit": True,
        "canWithdraw": False,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "totalInitialMargin": fmt(t["position_margin"] + t["order_margin"]),
        "totalMaintMargin": "0",
        "totalWalletBalance": fmt(t["wallet"]),
        "totalUnrealizedProfit": fmt(t["unrealized"]),
        "totalMarginBalance": fmt(t["margin_balance"]),
        "totalPositionInitialMargin": fmt(t["position_margin"]),
        "totalOpenOrderInitialMargin": fmt(t["order_margin"]),
        "totalCrossWalletBalance": fmt(t["wallet"]),
        "totalCrossUnPnl": fmt(t["unrealized"]),
        "availableBalance": fmt(t["available"]),
        "maxWithdrawAmount": fmt(max(Decimal(0), t["available"])),
        "assets": [_assets(ctx)],
        "positions": positions,
    }


def _position_risk(ctx: Ctx) -> Any:
    sym = ctx.symbol(required=False)
    rows = ctx.sim.position_view(ctx.account)
    return [r for r in rows if sym is None or r["symbol"] == sym.symbol]


# One bracket from zero notional up: the simulator has no tiered margin and no liquidation, so
# the maintenance rate is zero, as every margin field it reports.
_BRACKET_CAP = 10**12


def _bracket(sym: SymbolConfig) -> dict[str, Any]:
    return {
        "symbol": sym.symbol,
        "brackets": [
            {
                "bracket": 1,
                "initialLeverage": sym.leverage,
                "notionalCap": _BRACKET_CAP,
                "notionalFloor": 0,
                "maintMarginRatio": 0,
                "cum": 0,
            }
        ],
    }


def _leverage_bracket(ctx: Ctx) -> Any:
    """The venue answers one object for a named symbol, a list for every symbol."""
    sym = ctx.symbol(required=False)
    if sym is not None:
        return _bracket(sym)
    return [_bracket(s) for s in ctx.sim.engine.symbols.values()]


def _symbol_config(ctx: Ctx) -> Any:
    """Each symbol's margin settings: the simulator margins every account cross, at the
    symbol's leverage, up to its one bracket's cap."""
    sym = ctx.symbol(required=False)
    symbols = [sym] if sym is not None else list(ctx.sim.engine.symbols.values())
    return [
        {
            "symbol": s.symbol,
            "marginType": "CROSSED",
            "isAutoAddMargin": False,
            "leverage": s.leverage,
            "maxNotionalValue": str(_BRACKET_CAP),
        }
        for s in symbols
    ]


def _position_mode(ctx: Ctx) -> Any:
    """One-way mode: the simulator keeps one position per symbol (``positionSide`` BOTH)."""
    return {"dualSidePosition": False}


def _balance(ctx: Ctx) -> Any:
    a = _assets(ctx)
    return [
        {
            "accountAlias": "SimAccount",
            "asset": "USDT",
            "balance": a["walletBalance"],
            "crossWalletBalance": a["crossWalletBalance"],
            "crossUnPnl": a["crossUnPnl"],
            "availableBalance": a["availableBalance"],
            "maxWithdrawAmount": a["maxWithdrawAmount"],
            "marginAvailable": True,
            "updateTime": a["updateTime"],
        }
    ]


def open_listen_key(sim: Sim, key: Key) -> Channel:
    """The venue returns the key's active listen key (extended) or creates one."""
    expires = sim.clock.monotonic() + sim.config.listen_key_validity_s
    existing = sim.channel_for(key.config.api_key)
    if existing is not None:
        existing.expires_mono = expires
        return existing
    return sim.open_channel(key, expires)


def _listen_key_create(ctx: Ctx) -> Any:
    assert ctx.key is not None
    return {"listenKey": open_listen_key(ctx.sim, ctx.key).token}


def _listen_key_keepalive(ctx: Ctx) -> Any:
    assert ctx.key is not None
    lk = ctx.sim.channel_for(ctx.key.config.api_key)
    wanted = ctx.params.get("listenKey")
    if lk is None or (wanted is not None and wanted != lk.token):
        raise codes.listen_key_missing()
    lk.expires_mono = ctx.sim.clock.monotonic() + ctx.sim.config.listen_key_validity_s
    return {"listenKey": lk.token}


def _listen_key_close(ctx: Ctx) -> Any:
    assert ctx.key is not None
    lk = ctx.sim.channel_for(ctx.key.config.api_key)
    if lk is not None:
        ctx.sim.close_channel(lk, "listenKey closed")
    return {}


def _delete_sub_key(ctx: Ctx) -> Any:
    ctx.sim.delete_key(ctx.params["email"], ctx.params["subAccountApiKey"])
    return {}


def _delete_broker_sub_key(ctx: Ctx) -> Any:
    """The broker flavour of the same call: the sub-account is named by ``subAccountId``."""
    account = ctx.sim.engine.accounts.get(ctx.params["subAccountId"])
    if account is None or account.master:
        raise codes.sub_account_missing()
    ctx.sim.delete_key(account.email, ctx.params["subAccountApiKey"])
    return {}


def _sub_accounts(ctx: Ctx) -> Any:
    subs = [a for a in ctx.sim.engine.accounts.values() if not a.master]
    return {
        "subAccounts": [
            {
                "email": a.email,
                "isFreeze": False,
                "createTime": 0,
                "isManagedSubAccount": False,
                "isAssetManagementSubAccount": False,
            }
            for a in subs
        ]
    }


def _api_restrictions(ctx: Ctx) -> Any:
    assert ctx.key is not None
    perms = ctx.key.config.permissions
    return {
        "ipRestrict": False,
        "createTime": 0,
        "enableReading": "read" in perms,
        "enableFutures": "trade" in perms,
        "enableSpotAndMarginTrading": False,
        "enableWithdrawals": False,
        "enableInternalTransfer": "master" in perms,
        "permitsUniversalTransfer": "master" in perms,
    }


def _endpoints() -> dict[tuple[str, str], Endpoint]:
    e = Endpoint
    table = [
        e("GET /fapi/v1/ping", "NONE", None, 1, _ping),
        e("GET /fapi/v1/time", "NONE", None, 1, _time),
        e("GET /fapi/v1/exchangeInfo", "NONE", None, 1, _exchange_info),
        e("GET /fapi/v1/ticker/bookTicker", "NONE", None, 2, _book_ticker),
        e(
            "POST /fapi/v1/order",
            "SIGNED",
            "trade",
            0,
            _new_order,
            ("symbol", "side", "type", "quantity"),
            counts_order=True,
        ),
        e("DELETE /fapi/v1/order", "SIGNED", "trade", 1, _cancel_order, ("symbol",)),
        e("GET /fapi/v1/order", "SIGNED", "read", 1, _query_order, ("symbol",)),
        e("GET /fapi/v1/openOrders", "SIGNED", "read", 1, _open_orders, weight_without_symbol=40),
        e("DELETE /fapi/v1/allOpenOrders", "SIGNED", "trade", 1, _cancel_all, ("symbol",)),
        e(
            "POST /fapi/v1/countdownCancelAll",
            "SIGNED",
            "trade",
            10,
            _countdown,
            ("symbol", "countdownTime"),
        ),
        e("GET /fapi/v2/account", "SIGNED", "read", 5, _account),
        e("GET /fapi/v3/account", "SIGNED", "read", 5, _account),
        e("GET /fapi/v2/positionRisk", "SIGNED", "read", 5, _position_risk),
        e("GET /fapi/v3/positionRisk", "SIGNED", "read", 5, _position_risk),
        e("GET /fapi/v1/leverageBracket", "SIGNED", "read", 1, _leverage_bracket),
        e("GET /fapi/v1/symbolConfig", "SIGNED", "read", 5, _symbol_config),
        e("GET /fapi/v1/positionSide/dual", "SIGNED", "read", 30, _position_mode),
        e("GET /fapi/v2/balance", "SIGNED", "read", 5, _balance),
        e("GET /fapi/v3/balance", "SIGNED", "read", 5, _balance),
        e("POST /fapi/v1/listenKey", "USER_STREAM", None, 1, _listen_key_create),
        e("PUT /fapi/v1/listenKey", "USER_STREAM", None, 1, _listen_key_keepalive),
        e("DELETE /fapi/v1/listenKey", "USER_STREAM", None, 1, _listen_key_close),
        e(
            "DELETE /sapi/v1/sub-account/subAccountApi",
            "SIGNED",
            "master",
            1,
            _delete_sub_key,
            ("email", "subAccountApiKey"),
        ),
        e(
            "DELETE /sapi/v1/broker/subAccountApi",
            "SIGNED",
            "master",
            1,
            _delete_broker_sub_key,
            ("subAccountId", "subAccountApiKey"),
        ),
        e("GET /sapi/v1/sub-account/list", "SIGNED", "master", 1, _sub_accounts),
        e("GET /sapi/v1/account/apiRestrictions", "SIGNED", None, 1, _api_restrictions),
    ]
    out: dict[tuple[str, str], Endpoint] = {}
    for endpoint in table:
        method, path = endpoint.name.split(" ", 1)
        out[(method, path)] = endpoint
    return out


ENDPOINTS = _endpoints()


# ---------------------------------------------------------------------------- dispatch
def _authenticate(sim: Sim, api_key: str | None, endpoint: Endpoint) -> Key:
    if not api_key or not KEY_PATTERN.fullmatch(api_key):
        raise codes.key_format()
    key = sim.engine.keys.get(api_key)
    if key is None or key.deleted:
        raise codes.rejected_key()
    if endpoint.permission is not None and endpoint.permission not in key.config.permissions:
        raise codes.rejected_key()
    return key


def _verify_signed(
    sim: Sim, key: Key, endpoint: Endpoint, params: auth.Params, now_ms: int
) -> None:
    for name in (*endpoint.required, "timestamp"):
        if not params.values.get(name):
            raise codes.mandatory(name)
    if not params.signature:
        raise codes.mandatory("signature")
    auth.check_timestamp(params.values, now_ms, sim.config.recv_window_max_ms)
    if not auth.signature_valid(key.config.secret, params.signed_payload, params.signature):
        raise codes.bad_signature()


async def _read_params(request: web.Request) -> auth.Params:
    query = request.rel_url.raw_query_string
    body = ""
    if request.body_exists:
        if (request.content_length or 0) > MAX_BODY:
            raise codes.illegal_chars("body")
        raw = await request.read()
        if len(raw) > MAX_BODY:
            raise codes.illegal_chars("body")
        try:
            body = raw.decode("ascii")
        except UnicodeDecodeError:
            raise codes.illegal_chars("body") from None
    return auth.parse_params(query, body)


class _Outcome:
    __slots__ = ("detail", "headers", "key")

    def __init__(self) -> None:
        self.key: Key | None = None
        self.headers: dict[str, str] = {}
        self.detail = ""


async def _handle(sim: Sim, request: web.Request, endpoint: Endpoint | None, out: _Outcome) -> Any:
    fail = sim.faults.take_failure(endpoint.name if endpoint else "")
    if fail is not None:
        raise raw_answer(fail) or codes.injected_failure(
            fail, sim.config.rate_limits.weight_per_minute
        )
    limiter = request.app[FRONT].limiter
    client = request.remote or "?"
    now_s = sim.clock.wall()
    weight = endpoint.weight if endpoint else 1
    if endpoint and endpoint.weight_without_symbol and "symbol=" not in request.query_string:
        weight = endpoint.weight_without_symbol
    used = limiter.charge_weight(client, weight, now_s)
    out.headers["X-MBX-USED-WEIGHT-1M"] = str(used)
    if endpoint is None:
        raise codes.unknown_endpoint()
    params = await _read_params(request)
    now_ms = sim.now_ms()
    key = None
    if endpoint.security != "NONE":
        key = out.key = _authenticate(sim, request.headers.get("X-MBX-APIKEY"), endpoint)
    if endpoint.security == "SIGNED":
        assert key is not None
        _verify_signed(sim, key, endpoint, params, now_ms)
    if endpoint.counts_order:
        assert key is not None
        n10, n60 = limiter.charge_order(key.account, client, now_s)
        out.headers["X-MBX-ORDER-COUNT-10S"] = str(n10)
        out.headers["X-MBX-ORDER-COUNT-1M"] = str(n60)
    try:
        result = endpoint.handler(Ctx(sim, params.values, key, now_ms))
    except Refused as err:
        raise codes.refusal(err) from None
    if isinstance(result, dict) and "orderId" in result:
        out.detail = f"{result['symbol']} orderId={result['orderId']} {result['status']}"
    elif isinstance(result, dict) and "countdownTime" in result:
        out.detail = f"{result['symbol']} countdownTime={result['countdownTime']}"
    return result


# What the journal says of a request that got no answer: its client left first (nginx's 499).
CLIENT_GONE = 499


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Answer one REST request; journal it whatever happens (a refusal, a client that left
    during an injected latency, a bug), so the journal holds everything the venue received."""
    sim = request.app[SIM]
    arrival = sim.clock.monotonic()
    wall = sim.clock.wall()
    method, path = request.method, request.path
    endpoint = ENDPOINTS.get((method, path))
    out = _Outcome()
    status, code, detail = 500, None, "internal error"
    content_type = "application/json"
    try:
        latency = sim.faults.rest_latency
        if latency is not None:
            await asyncio.sleep(latency.sample_s(sim.rng))
        body = orjson.dumps(await _handle(sim, request, endpoint, out))
        status, detail = 200, out.detail
    except RawAnswer as raw:
        status, body, content_type, detail = raw.status, raw.body, raw.content_type, str(raw)
    except VenueError as err:
        status, code, detail = err.status, err.code, ""
        body = orjson.dumps({"code": err.code, "msg": err.msg})
        if status in (418, 429):
            retry = request.app[FRONT].limiter.retry_after(request.remote or "?", wall)
            out.headers["Retry-After"] = str(retry)
    except ConnectionError:  # the client left while its body was still awaited
        status, body, detail = CLIENT_GONE, b"", "client disconnected before the answer"
    except asyncio.CancelledError:
        status, detail = CLIENT_GONE, "client disconnected before the answer"
        raise
    finally:
        key = out.key
        sim.journal.record(
            mono=arrival,
            wall=wall,
            kind="request",
            method=method,
            path=path,
            endpoint=endpoint.name if endpoint else f"{method} {path}",
            api_key=request.headers.get("X-MBX-APIKEY"),
            account=key.account if key is not None else None,
            status=status,
            code=code,
            detail=detail,
        )
    return web.Response(body=body, status=status, headers=out.headers, content_type=content_type)


# ---------------------------------------------------------------------------- streams
def _stream_name(sim: Sim, raw: str) -> str:
    if raw == "!bookTicker":
        return raw
    symbol, _, event = raw.partition("@")
    if event != "bookTicker" or symbol.upper() not in sim.engine.symbols:
        raise VenueError(-1121, f"Invalid stream name '{raw[:64]}'.", 400)
    return _book_ticker_stream(symbol.upper())


def _error_response(err: VenueError) -> web.Response:
    return web.Response(
        body=orjson.dumps({"code": err.code, "msg": err.msg}),
        status=err.status,
        content_type="application/json",
    )


async def ws_single(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIM]
    name = request.match_info["name"]
    lk = sim.channels.get(name)
    try:
        if lk is not None:
            return await _serve(
                request,
                sim,
                kind="user",
                streams=[],
                combined=False,
                lk=lk.token,
                api_key=lk.api_key,
                topics={PLAIN},
            )
        streams = [_stream_name(sim, s) for s in name.split("/") if s]
    except VenueError as err:
        return _error_response(err)
    if not streams:
        return _error_response(codes.listen_key_missing())
    return await _serve(request, sim, kind="market", streams=streams, combined=False)


async def ws_combined(request: web.Request) -> web.StreamResponse:
    """Market streams, and a listen key among them: the account's user data, each event
    wrapped like the market's (``{"stream": <listenKey>, "data": ...}``)."""
    sim = request.app[SIM]
    names = [s for s in request.query.get("streams", "").split("/") if s]
    keys = [sim.channels[n] for n in names if n in sim.channels]
    try:
        if len(keys) > 1:
            raise VenueError(-1121, "Invalid stream name: one listen key per connection.", 400)
        streams = [_stream_name(sim, s) for s in names if s not in sim.channels]
    except VenueError as err:
        return _error_response(err)
    if not keys:
        return await _serve(request, sim, kind="market", streams=streams, combined=True)
    lk = keys[0]
    return await _serve(
        request,
        sim,
        kind="user",
        streams=streams,
        combined=True,
        lk=lk.token,
        api_key=lk.api_key,
        topics={_combined_topic(lk.token)},
    )


async def _serve(
    request: web.Request,
    sim: Sim,
    *,
    kind: str,
    streams: list[str],
    combined: bool,
    lk: str | None = None,
    api_key: str | None = None,
    topics: set[str] | None = None,
) -> web.StreamResponse:
    ws = web.WebSocketResponse(autoping=False, max_msg_size=64 * 1024)
    await ws.prepare(request)
    conn = Conn(
        ws=ws,
        kind=kind,
        combined=combined,
        api_key=api_key,
        channel=lk,
        streams=set(streams),
        topics=topics,
    )
    sim.hub.add(conn)
    sim.journal.event(
        sim.clock.monotonic(), sim.clock.wall(), "ws_open", None, f"{kind} {request.path_qs[:120]}"
    )
    try:
        async with asyncio.TaskGroup() as tg:
            writer = tg.create_task(write_loop(conn, request))
            await _read_loop(sim, conn)
            conn.done = True
            conn.wake.set()
            if not writer.done():
                writer.cancel()
    finally:
        sim.hub.remove(conn)
        sim.journal.event(
            sim.clock.monotonic(),
            sim.clock.wall(),
            "ws_close",
            None,
            f"{kind} {request.path_qs[:120]} code={ws.close_code}",
        )
    return ws


async def _read_loop(sim: Sim, conn: Conn) -> None:
    async for msg in conn.ws:
        if msg.type == WSMsgType.PING:
            if conn.kind not in sim.faults.stalled:
                with contextlib.suppress(ConnectionError):
                    await conn.ws.pong(msg.data)
        elif msg.type == WSMsgType.TEXT and (conn.kind == "market" or conn.combined):
            _on_control(sim, conn, msg.data)
        elif msg.type == WSMsgType.CLOSE:
            break


def _on_control(sim: Sim, conn: Conn, text: str) -> None:
    """SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, answered on the same socket."""
    try:
        req = orjson.loads(text)
    except orjson.JSONDecodeError:
        req = None
    if not isinstance(req, dict):
        reply: dict[str, Any] = {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}
    else:
        reply = _control_reply(sim, conn, req)
    conn.queue.append((0.0, orjson.dumps(reply)))
    conn.wake.set()


def _control_reply(sim: Sim, conn: Conn, req: dict[str, Any]) -> dict[str, Any]:
    method, params, ident = req.get("method"), req.get("params", []), req.get("id")
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        return {"error": {"code": 2, "msg": "Invalid request: params must be a list"}, "id": ident}
    try:
        names = [_stream_name(sim, p) for p in params]
    except VenueError as err:
        return {"error": {"code": 2, "msg": err.msg}, "id": ident}
    if method == "SUBSCRIBE":
        sim.hub.subscribe(conn, names)
        return {"result": None, "id": ident}
    if method == "UNSUBSCRIBE":
        sim.hub.unsubscribe(conn, names)
        return {"result": None, "id": ident}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(conn.streams), "id": ident}
    return {"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": ident}


def _book_ticker_stream(symbol: str) -> str:
    return f"{symbol.lower()}@bookTicker"


# User-data topics (``Conn.topics``): a ``/ws/<listenKey>`` socket hears each event as it is;
# a combined one hears it wrapped with its own listen key as the stream's name.
PLAIN = ""


def _combined_topic(token: str) -> str:
    return f"combined:{token}"


class BinanceFront:
    """Binance USDⓈ-M futures' protocol over the core (``exchange_sim.core.state.Front``)."""

    name = "binance"

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.limiter = RateLimiter(sim.config.rate_limits)
        self._stream_names = {
            s.symbol: _book_ticker_stream(s.symbol).encode() for s in sim.config.symbols
        }

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app[SIM] = self.sim
        app[FRONT] = self
        app.router.add_get("/ws/{name:.+}", ws_single)
        app.router.add_get("/stream", ws_combined)
        app.router.add_route("*", "/{tail:.*}", dispatch)
        return app

    def publish_quote(self, symbol: str, quote: Quote, now_ms: int, update_id: int) -> None:
        hub = self.sim.hub
        stream = self._stream_names[symbol]
        single = hub.has_market_subscribers(stream.decode())
        every = hub.has_market_subscribers("!bookTicker")
        if not (single or every):
            return
        raw = orjson.dumps(
            {
                "e": "bookTicker",
                "u": update_id,
                "s": symbol,
                "b": fmt(quote.bid),
                "B": fmt(quote.bid_qty),
                "a": fmt(quote.ask),
                "A": fmt(quote.ask_qty),
                "T": now_ms,
                "E": now_ms,
            }
        )
        if single:
            hub.publish_market(
                stream.decode(), raw, b'{"stream":"' + stream + b'","data":' + raw + b"}"
            )
        if every:
            hub.publish_market("!bookTicker", raw, b'{"stream":"!bookTicker","data":' + raw + b"}")

    def render_user_event(self, event: UserEvent) -> list[tuple[str, bytes]]:
        raw = orjson.dumps(user_event(event))
        out = [(PLAIN, raw)]
        hub = self.sim.hub
        for channel in self.sim.channels.values():
            token = channel.token
            if channel.account == event.account and any(
                c.combined for c in hub.user.get(token, ())
            ):
                wrapped = b'{"stream":"' + token.encode() + b'","data":' + raw + b"}"
                out.append((_combined_topic(token), wrapped))
        return out

    def expiry_notice(self, channel: Channel, now_ms: int) -> bytes | None:
        return orjson.dumps({"e": "listenKeyExpired", "E": now_ms, "listenKey": channel.token})


FRONT = web.AppKey("binance_front", BinanceFront)
