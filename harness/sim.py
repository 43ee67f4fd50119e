"""Run ``exchange_sim`` as a real process (tests, benchmarks), with typed config and an admin
client.

    sim = SimProcess.start(tmp_path)                  # the default world (docs/exchange_sim.md)
    sim.base_url, sim.ws_url, sim.admin_url           # http://127.0.0.1:N, ws://..., http://...
    sim.trader_key, sim.watchdog_key, sim.master_key  # SimKey(api_key, secret, ...)
    sim.admin.open_orders("trader1"); sim.admin.journal(since=0)
    sim.signed_query(sim.trader_key, {"symbol": "BTCUSDT"})  # "...&timestamp=...&signature=..."
    sim.stop()

    bybit = SimProcess.start(tmp_path, venue="bybit")   # the same world behind the Bybit v5 front
    bybit_headers(bybit.trader_key, body)             # X-BAPI-* headers for a query or JSON body
    okx = SimProcess.start(tmp_path, venue="okx")       # ... and behind the OKX v5 front
    okx_headers(okx.trader_key, "POST", "/api/v5/trade/order", body)  # OK-ACCESS-* headers
    sim.venue_link("trader1")                         # the watchdog's [traders.venue], any venue
    sim.place_order(sim.trader_key, "BTCUSDT", "BUY", "0.01", "50000")  # in the sim's protocol

or, in a test, the ``sim_process`` fixture (``tests/support/sim.py``).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import yarl

from harness.configs import VENUE_KIND, VenueLink
from harness.procs import Child, start_module, wait_ready_file

ADMIN_TIMEOUT_S = 10.0
# Every key's OKX passphrase unless its config names another (docs/exchange_sim.md).
DEFAULT_PASSPHRASE = "SimPassphrase1"


@dataclass(frozen=True)
class SimKey:
    label: str
    api_key: str
    secret: str
    permissions: tuple[str, ...] = ("read", "trade")
    passphrase: str = DEFAULT_PASSPHRASE  # OKX's OK-ACCESS-PASSPHRASE
    ips: tuple[str, ...] = ()  # the addresses the key is bound to (OKX checks them)


@dataclass(frozen=True)
class SimAccount:
    name: str
    email: str
    usdt: str = "100000"
    master: bool = False
    keys: tuple[SimKey, ...] = ()


@dataclass(frozen=True)
class SimSymbol:
    symbol: str
    price: str
    tick_size: str
    step_size: str
    min_notional: str
    leverage: int = 20
    contract_value: str | None = None  # OKX's ctVal; one step when None


def _key(label: str, kind: str) -> str:
    """Documented default keys: readable prefix padded with zeros to the venue's 64 chars."""
    return f"Sim{label}{kind}".ljust(64, "0")


# The master key is bound to loopback: OKX manages sub-account keys only with an IP-bound master.
MASTER_KEY = SimKey(
    "master",
    _key("Master", "Key"),
    _key("Master", "Secret"),
    ("master", "read", "trade"),
    ips=("127.0.0.1",),
)
TRADER_KEY = SimKey("trader", _key("Trader", "Key"), _key("Trader", "Secret"))
WATCHDOG_KEY = SimKey("watchdog", _key("Watchdog", "Key"), _key("Watchdog", "Secret"))
MASTER_ACCOUNT = SimAccount("master", "master@sim", "1000000", True, (MASTER_KEY,))
TRADER_ACCOUNT = SimAccount(
    "trader1", "trader1@sub.sim", "100000", False, (TRADER_KEY, WATCHDOG_KEY)
)
BTCUSDT = SimSymbol("BTCUSDT", "60000", "0.10", "0.001", "100", contract_value="0.01")
ETHUSDT = SimSymbol("ETHUSDT", "3000", "0.01", "0.001", "20", contract_value="0.1")


@dataclass(frozen=True)
class SimConfig:
    """What a test may change about the simulated world; rendered to the sim's TOML."""

    symbols: tuple[SimSymbol, ...] = (BTCUSDT, ETHUSDT)
    accounts: tuple[SimAccount, ...] = (MASTER_ACCOUNT, TRADER_ACCOUNT)
    seed: int = 1
    book_ticker_hz: float = 10.0
    volatility_bps: float = 1.0
    jump_probability: float = 0.0
    jump_max_pct: float = 2.0
    spread_ticks: int = 1
    depth_levels: int = 10
    level_qty: str = "5"
    level_spacing_ticks: int = 1
    replay_csv: Path | None = None  # header symbol,bid,ask[,bid_qty,ask_qty]: replays it
    send_stamp: bool = False  # market messages carry "sentNs" (CLOCK_MONOTONIC at the write)
    maker_fee: str = "0.0002"
    taker_fee: str = "0.0005"
    weight_per_minute: int = 2400
    orders_per_10s: int = 300
    orders_per_minute: int = 1200
    ban_after_429s: int = 20
    retry_after_s: int = 5
    ban_s: int = 120
    journal_size: int = 200_000
    listen_key_validity_s: float = 3600.0
    countdown_check_ms: float = 10.0
    bybit_orders_per_s: int = 10
    bybit_ip_per_5s: int = 600
    okx_orders_per_2s: int = 60
    dcp_enabled: bool = True
    bybit_private_idle_s: float = 600.0
    okx_ws_idle_s: float = 30.0

    def to_toml(self) -> str:
        q = json.dumps  # a JSON string literal is a valid TOML basic string
        lines = [
            f"listen_key_validity_s = {self.listen_key_validity_s}",
            f"countdown_check_ms = {self.countdown_check_ms}",
            f"journal_size = {self.journal_size}",
            f"dcp_enabled = {'true' if self.dcp_enabled else 'false'}",
            f"bybit_private_idle_s = {self.bybit_private_idle_s}",
            f"okx_ws_idle_s = {self.okx_ws_idle_s}",
            "[market]",
            f"seed = {self.seed}",
            f"book_ticker_hz = {self.book_ticker_hz}",
            f"volatility_bps = {self.volatility_bps}",
            f"jump_probability = {self.jump_probability}",
            f"jump_max_pct = {self.jump_max_pct}",
            f"spread_ticks = {self.spread_ticks}",
            f"depth_levels = {self.depth_levels}",
            f"level_qty = {q(self.level_qty)}",
            f"level_spacing_ticks = {self.level_spacing_ticks}",
            f"send_stamp = {'true' if self.send_stamp else 'false'}",
            *(
                [f"model = {q('replay')}", f"replay_csv = {q(str(self.replay_csv))}"]
                if self.replay_csv is not None
                else []
            ),
            "[fees]",
            f"maker = {q(self.maker_fee)}",
            f"taker = {q(self.taker_fee)}",
            "[rate_limits]",
            f"weight_per_minute = {self.weight_per_minute}",
            f"orders_per_10s = {self.orders_per_10s}",
            f"orders_per_minute = {self.orders_per_minute}",
            f"ban_after_429s = {self.ban_after_429s}",
            f"retry_after_s = {self.retry_after_s}",
            f"ban_s = {self.ban_s}",
            f"bybit_orders_per_s = {self.bybit_orders_per_s}",
            f"bybit_ip_per_5s = {self.bybit_ip_per_5s}",
            f"okx_orders_per_2s = {self.okx_orders_per_2s}",
        ]
        for s in self.symbols:
            lines += [
                f"[symbols.{s.symbol}]",
                f"price = {q(s.price)}",
                f"tick_size = {q(s.tick_size)}",
                f"step_size = {q(s.step_size)}",
                f"min_notional = {q(s.min_notional)}",
                f"leverage = {s.leverage}",
                *([f"contract_value = {q(s.contract_value)}"] if s.contract_value else []),
            ]
        for a in self.accounts:
            lines += [
                f"[accounts.{a.name}]",
                f"email = {q(a.email)}",
                f"usdt = {q(a.usdt)}",
                f"master = {'true' if a.master else 'false'}",
            ]
            for k in a.keys:
                lines += [
                    f"[[accounts.{a.name}.keys]]",
                    f"label = {q(k.label)}",
                    f"api_key = {q(k.api_key)}",
                    f"secret = {q(k.secret)}",
                    f"permissions = {q(list(k.permissions))}",
                    f"passphrase = {q(k.passphrase)}",
                    f"ips = {q(list(k.ips))}",
                ]
        return "\n".join(lines) + "\n"

    def with_(self, **changes: Any) -> SimConfig:
        return replace(self, **changes)


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def bybit_headers(
    key: SimKey, payload: str, timestamp_ms: int | None = None, recv_window: int | None = 5000
) -> dict[str, str]:
    """Bybit v5 auth headers for ``payload`` (the query string or the JSON body as sent)."""
    stamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    window = "" if recv_window is None else str(recv_window)
    headers = {
        "X-BAPI-API-KEY": key.api_key,
        "X-BAPI-TIMESTAMP": stamp,
        "X-BAPI-SIGN": sign(key.secret, f"{stamp}{key.api_key}{window}{payload}"),
    }
    if recv_window is not None:
        headers["X-BAPI-RECV-WINDOW"] = window
    return headers


def signed_query(key: SimKey, params: dict[str, Any], timestamp_ms: int | None = None) -> str:
    """Encode ``params`` plus ``timestamp`` and append the HMAC signature, as a client does."""
    full = dict(params)
    full.setdefault(
        "timestamp", timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    )
    payload = urllib.parse.urlencode(full)
    return f"{payload}&signature={sign(key.secret, payload)}"


def bybit_uid(accounts: Sequence[str], account: str) -> str:
    """The Bybit front's UID of ``account``: 1000001 + its place among the config's
    ``accounts`` (documented in docs/exchange_sim.md)."""
    return str(1_000_001 + list(accounts).index(account))


def okx_timestamp(ms: int | None = None) -> str:
    """An OKX ``OK-ACCESS-TIMESTAMP``: ISO 8601 UTC with milliseconds (now by default)."""
    ms = ms if ms is not None else int(time.time() * 1000)
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def okx_sign(secret: str, text: str) -> str:
    """OKX's signature: the Base64 of the HMAC-SHA256 of ``text``."""
    return base64.b64encode(
        hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    ).decode()


def okx_headers(
    key: SimKey, method: str, path: str, body: str = "", timestamp: str | None = None
) -> dict[str, str]:
    """OKX v5 auth headers: ``path`` with its query string as sent, ``body`` the JSON as sent."""
    stamp = timestamp if timestamp is not None else okx_timestamp()
    return {
        "OK-ACCESS-KEY": key.api_key,
        "OK-ACCESS-SIGN": okx_sign(key.secret, f"{stamp}{method.upper()}{path}{body}"),
        "OK-ACCESS-TIMESTAMP": stamp,
        "OK-ACCESS-PASSPHRASE": key.passphrase,
    }


def okx_inst_id(symbol: str) -> str:
    """The OKX front's swap for a sim symbol: BTCUSDT -> BTC-USDT-SWAP."""
    return f"{symbol.removesuffix('USDT')}-USDT-SWAP"


@dataclass(frozen=True)
class LinkNames:
    """How the watchdog's link names a trader's sub-account, whatever the venue asks for."""

    account: str
    email: str
    uid: str


@dataclass(frozen=True)
class OrderRequest:
    """One new order as the sim's protocol sends it: URL, body, headers."""

    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Protocol:
    """One venue protocol of the sim as the harness drives it: a venue is one entry."""

    new_order_endpoint: str  # how the journal names an order placement
    cancel_all_endpoint: str  # ... and the watchdog's cancel sweep (OKX: per-order batches)
    private_ws_path: str  # appended to the sim's ws URL (Binance: the listen key follows)
    market_ws_path: str
    link_fields: Callable[[LinkNames], dict[str, Any]]  # the named fields of its VenueLink
    # (base url, config, key, symbol, side, qty, price or None: market, client order id or None)
    order: Callable[[str, SimConfig, SimKey, str, str, str, str | None, str | None], OrderRequest]
    order_id: Callable[[dict[str, Any]], str | None]  # None: the answer is a refusal


def _binance_order(
    base_url: str, config: SimConfig, key: SimKey, symbol: str, side: str, qty: str,
    price: str | None, client_id: str | None,
) -> OrderRequest:  # fmt: skip
    params = {"symbol": symbol, "side": side.upper(), "quantity": qty}
    params |= (
        {"type": "LIMIT", "timeInForce": "GTC", "price": price} if price else {"type": "MARKET"}
    )
    if client_id:
        params["newClientOrderId"] = client_id
    url = f"{base_url}/fapi/v1/order?{signed_query(key, params)}"
    return OrderRequest(url, b"", {"X-MBX-APIKEY": key.api_key})


def _bybit_order(
    base_url: str, config: SimConfig, key: SimKey, symbol: str, side: str, qty: str,
    price: str | None, client_id: str | None,
) -> OrderRequest:  # fmt: skip
    order = {"category": "linear", "symbol": symbol, "side": side.capitalize(), "qty": qty}
    order |= {"orderType": "Limit", "price": price} if price else {"orderType": "Market"}
    if client_id:
        order["orderLinkId"] = client_id
    body = json.dumps(order)
    headers = bybit_headers(key, body) | {"Content-Type": "application/json"}
    return OrderRequest(f"{base_url}/v5/order/create", body.encode(), headers)


def _okx_order(
    base_url: str, config: SimConfig, key: SimKey, symbol: str, side: str, qty: str,
    price: str | None, client_id: str | None,
) -> OrderRequest:  # fmt: skip
    """``qty`` in base units, sent as OKX's contracts of the symbol's ``contract_value``."""
    sym = next(s for s in config.symbols if s.symbol == symbol)
    ct_val = Decimal(sym.contract_value or sym.step_size)
    contracts = format((Decimal(qty) / ct_val).normalize(), "f")
    order = {"instId": okx_inst_id(symbol), "tdMode": "cross", "side": side.lower(),
             "sz": contracts}  # fmt: skip
    order |= {"ordType": "limit", "px": price} if price else {"ordType": "market"}
    if client_id:
        order["clOrdId"] = client_id
    body = json.dumps(order)
    path = "/api/v5/trade/order"
    headers = okx_headers(key, "POST", path, body) | {"Content-Type": "application/json"}
    return OrderRequest(f"{base_url}{path}", body.encode(), headers)


def _okx_order_id(answer: dict[str, Any]) -> str | None:
    data = answer.get("data") or [{}]
    if answer.get("code") != "0" or data[0].get("sCode") != "0":
        return None
    return str(data[0]["ordId"])


PROTOCOLS: dict[str, Protocol] = {
    "binance": Protocol(
        "POST /fapi/v1/order",
        "DELETE /fapi/v1/allOpenOrders",
        "",
        "",
        lambda n: {"trader_email": n.email},
        _binance_order,
        lambda a: str(a["orderId"]) if "orderId" in a else None,
    ),
    "bybit": Protocol(
        "POST /v5/order/create",
        "POST /v5/order/cancel-all",
        "/v5/private",
        "/v5/public/linear",
        lambda n: {"trader_uid": n.uid, "dcp_window_s": 10},
        _bybit_order,
        lambda a: str(a["result"]["orderId"]) if a.get("retCode") == 0 else None,
    ),
    "okx": Protocol(
        "POST /api/v5/trade/order",
        "POST /api/v5/trade/cancel-batch-orders",
        "/ws/v5/private",
        "/ws/v5/public",
        # OKX counts account reads (balance, positions) at 10 per 2 s per account, and the
        # trader reads them too: the watchdog reconciles every 0.5 s, not 0.25.
        lambda n: {"trader_sub_account": n.account, "reconcile_period_s": 0.5},
        _okx_order,
        _okx_order_id,
    ),
}
VENUES = tuple(PROTOCOLS)  # the protocols the sim speaks (``exchange-sim --venue``)
# How the sim's journal names an endpoint in each venue's protocol.
NEW_ORDER_ENDPOINT = {venue: p.new_order_endpoint for venue, p in PROTOCOLS.items()}
CANCEL_ALL_ENDPOINT = {venue: p.cancel_all_endpoint for venue, p in PROTOCOLS.items()}


def private_ws_url(venue: str, ws_url: str) -> str:
    """The account's private stream as the watchdog's ``ws_url`` names it: Binance's base (the
    listen key is appended), Bybit's and OKX's private endpoints."""
    return ws_url + PROTOCOLS[venue].private_ws_path


def market_ws_url(venue: str, ws_url: str) -> str:
    """The public market stream as the watchdog's ``market_ws_url`` names it: Binance's base
    (the streams are appended), Bybit's public linear endpoint, OKX's public endpoint."""
    return ws_url + PROTOCOLS[venue].market_ws_path


def venue_link(
    venue: str,
    base_url: str,
    ws_url: str,
    *,
    email: str,
    uid: str,
    sub_account: str = "",
    **fields: Any,
) -> VenueLink:
    """The watchdog's ``[traders.venue]`` for a trader whose sub-account is ``sub_account``
    (OKX names it so), with ``email`` (Binance) and ``uid`` (Bybit), on a sim speaking ``venue``
    at ``base_url`` and ``ws_url``; ``fields`` override the link's defaults (a Bybit link arms
    DCP for 10 s by default)."""
    named = PROTOCOLS[venue].link_fields(LinkNames(sub_account, email, uid))
    private = private_ws_url(venue, ws_url)
    return VenueLink(base_url, private, kind=VENUE_KIND[venue], **(named | fields))


class AdminError(RuntimeError):
    """The admin API answered with an error status."""


class OrderRefused(AdminError):
    """The venue refused an order ``place_order`` sent: ``answer`` is its JSON answer."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        super().__init__(f"order refused: {answer}")

    @property
    def rate_limited(self) -> bool:
        """The venue asked for a pause (a flooder waits and goes on; a refused key is final)."""
        code = self.answer.get("code")
        return self.answer.get("retCode") in (10006, 10018) or code in (-1003, "50011")


def _send(url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """POST to the venue; its JSON answer whatever the status (a refusal is an answer)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=ADMIN_TIMEOUT_S) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read() or b"{}")
    if not isinstance(answer, dict):
        raise AdminError(f"{url}: not a JSON object: {answer!r}")
    return answer


class SimAdmin:
    """Synchronous admin client (urllib: usable from any thread, no event loop needed)."""

    def __init__(self, admin_url: str) -> None:
        self.url = admin_url

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=ADMIN_TIMEOUT_S) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            raise AdminError(f"{method} {path}: {err.code} {err.read().decode()}") from None

    def journal(self, since: int = 0, limit: int = 10_000) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self._call(
            "GET", f"/admin/journal?since={since}&limit={limit}"
        )["entries"]
        return entries

    def last_seq(self) -> int:
        return int(self._call("GET", "/admin/health")["journal_seq"])

    def open_orders(self, account: str, symbol: str | None = None) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode(
            {"account": account, **({"symbol": symbol} if symbol else {})}
        )
        orders: list[dict[str, Any]] = self._call("GET", f"/admin/open-orders?{query}")["orders"]
        return orders

    def key_status(self, api_key: str) -> dict[str, Any]:
        status: dict[str, Any] = self._call("GET", f"/admin/keys/{api_key}")
        return status

    def positions(self, account: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._call("GET", f"/admin/positions?account={account}")[
            "positions"
        ]
        return rows

    def accounts(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._call("GET", "/admin/accounts")["accounts"]
        return rows

    def countdowns(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._call("GET", "/admin/countdowns")["countdowns"]
        return rows

    def quotes(self) -> dict[str, dict[str, str]]:
        quotes: dict[str, dict[str, str]] = self._call("GET", "/admin/quotes")
        return quotes

    def set_fault(self, **spec: Any) -> dict[str, Any]:
        """e.g. ``set_fault(rest_latency={"fixed_ms": 50})``, ``reject_orders=True``,
        ``fail_next={"count": 2, "kind": "5xx"}``, ``pause_matching=True``."""
        state: dict[str, Any] = self._call("POST", "/admin/faults", spec)
        return state

    def clear_faults(self) -> None:
        self._call("DELETE", "/admin/faults")

    def streams(self, action: str, kind: str = "all") -> int:
        """action: stall | resume | close | reset; kind: market | user | all."""
        return int(
            self._call("POST", "/admin/streams", {"action": action, "kind": kind})["connections"]
        )

    def price_jump(self, symbol: str, pct: float) -> dict[str, str]:
        quote: dict[str, str] = self._call(
            "POST", "/admin/price-jump", {"symbol": symbol, "pct": pct}
        )
        return quote

    def wait_for_journal(
        self, predicate: Callable[[dict[str, Any]], bool], since: int = 0, deadline_s: float = 15.0
    ) -> dict[str, Any]:
        """Poll the journal until an entry matches; raise with the tail if none does in time."""
        end = time.monotonic() + deadline_s
        seen: list[dict[str, Any]] = []
        while time.monotonic() < end:
            for entry in self.journal(since=since):
                since = entry["seq"]
                seen.append(entry)
                if predicate(entry):
                    return entry
            time.sleep(0.02)
        raise AssertionError(f"no matching journal entry in {deadline_s}s; last: {seen[-5:]}")


class AsyncSimAdmin:
    """The same admin calls for async tests; one ClientSession, closed by ``aclose``."""

    def __init__(self, admin_url: str) -> None:
        self.url = admin_url
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=ADMIN_TIMEOUT_S))

    async def __aenter__(self) -> AsyncSimAdmin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._session.close()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self._session.request(method, self.url + path, json=body) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise AdminError(f"{method} {path}: {resp.status} {data}")
            return data

    async def journal(self, since: int = 0, limit: int = 10_000) -> list[dict[str, Any]]:
        data = await self._call("GET", f"/admin/journal?since={since}&limit={limit}")
        entries: list[dict[str, Any]] = data["entries"]
        return entries

    async def open_orders(self, account: str) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = (
            await self._call("GET", f"/admin/open-orders?account={account}")
        )["orders"]
        return orders

    async def key_status(self, api_key: str) -> dict[str, Any]:
        status: dict[str, Any] = await self._call("GET", f"/admin/keys/{api_key}")
        return status

    async def positions(self, account: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = (
            await self._call("GET", f"/admin/positions?account={account}")
        )["positions"]
        return rows

    async def countdowns(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = (await self._call("GET", "/admin/countdowns"))["countdowns"]
        return rows

    async def last_seq(self) -> int:
        return int((await self._call("GET", "/admin/health"))["journal_seq"])

    async def wait_for_journal(
        self, predicate: Callable[[dict[str, Any]], bool], since: int = 0, deadline_s: float = 15.0
    ) -> dict[str, Any]:
        """Poll the journal until an entry matches; raise with the tail if none does in time."""
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline_s
        seen: list[dict[str, Any]] = []
        while loop.time() < end:
            for entry in await self.journal(since=since):
                since = entry["seq"]
                seen.append(entry)
                if predicate(entry):
                    return entry
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching journal entry in {deadline_s}s; last: {seen[-5:]}")

    async def set_fault(self, **spec: Any) -> dict[str, Any]:
        state: dict[str, Any] = await self._call("POST", "/admin/faults", spec)
        return state

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/admin/faults")

    async def streams(self, action: str, kind: str = "all") -> int:
        data = await self._call("POST", "/admin/streams", {"action": action, "kind": kind})
        return int(data["connections"])

    async def price_jump(self, symbol: str, pct: float) -> dict[str, str]:
        quote: dict[str, str] = await self._call(
            "POST", "/admin/price-jump", {"symbol": symbol, "pct": pct}
        )
        return quote


@dataclass
class SimProcess:
    """A running simulator process and everything a test needs to talk to it."""

    child: Child
    config: SimConfig
    port: int
    admin_port: int
    host: str = "127.0.0.1"
    venue: str = "binance"

    @classmethod
    def start(
        cls,
        tmp_path: Path,
        config: SimConfig | None = None,
        *,
        deadline_s: float = 30.0,
        venue: str = "binance",
    ) -> SimProcess:
        """Start a sim speaking ``venue``'s protocol (one of ``VENUES``)."""
        config = config or SimConfig()
        workdir = tmp_path / "exchange-sim"
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "sim.toml"
        config_path.write_text(config.to_toml(), encoding="utf-8")
        ready = workdir / "ready.json"
        ready.unlink(missing_ok=True)
        args = ["--venue", venue, "--host", "127.0.0.1", "--port", "0", "--admin-port", "0",
                "--config", str(config_path), "--ready-file", str(ready)]  # fmt: skip
        child = start_module(
            "exchange_sim", *args, log_path=workdir / "sim.log", name="exchange-sim"
        )
        info = wait_ready_file(ready, child, deadline_s)
        return cls(child, config, int(info["port"]), int(info["admin_port"]), venue=venue)

    @property
    def pid(self) -> int:
        return self.child.pid

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def private_ws_url(self) -> str:
        return private_ws_url(self.venue, self.ws_url)

    @property
    def market_ws_url(self) -> str:
        return market_ws_url(self.venue, self.ws_url)

    @property
    def watchdog_kind(self) -> str:
        """The watchdog's ``[traders.venue] kind`` for this sim's front."""
        return VENUE_KIND[self.venue]

    def uid(self, account: str) -> str:
        """The Bybit and OKX fronts' UID of ``account``."""
        return bybit_uid([a.name for a in self.config.accounts], account)

    def venue_link(self, account: str, **fields: Any) -> VenueLink:
        """The watchdog's ``[traders.venue]`` for ``account``'s trader on this sim."""
        email = next(a.email for a in self.config.accounts if a.name == account)
        return venue_link(
            self.venue,
            self.base_url,
            self.ws_url,
            email=email,
            uid=self.uid(account),
            sub_account=account,
            **fields,
        )

    def place_order(
        self,
        key: SimKey,
        symbol: str,
        side: str,
        qty: str,
        price: str | None = None,
        client_id: str | None = None,
    ) -> str:
        """An order with ``key``, sent in this sim's venue protocol as any client sends it (a
        limit order when ``price`` is given, else market; with ``client_id``, alphanumeric,
        as its client order id); its venue order id. Raises ``OrderRefused`` with the venue's
        answer when refused."""
        request = PROTOCOLS[self.venue].order(
            self.base_url, self.config, key, symbol, side, qty, price, client_id
        )
        answer = _send(request.url, request.body, request.headers)
        order_id = PROTOCOLS[self.venue].order_id(answer)
        if order_id is None:
            raise OrderRefused(answer)
        return order_id

    @property
    def admin(self) -> SimAdmin:
        return SimAdmin(self.admin_url)

    def async_admin(self) -> AsyncSimAdmin:
        """Create inside a running loop; use ``async with sim.async_admin() as admin``."""
        return AsyncSimAdmin(self.admin_url)

    def key(self, label: str) -> SimKey:
        for account in self.config.accounts:
            for k in account.keys:
                if k.label == label:
                    return k
        raise KeyError(f"no key labelled {label!r} in this sim's config")

    def account_of(self, key: SimKey) -> SimAccount:
        return next(a for a in self.config.accounts if key in a.keys)

    @property
    def master_key(self) -> SimKey:
        return self.key("master")

    @property
    def trader_key(self) -> SimKey:
        return self.key("trader")

    @property
    def watchdog_key(self) -> SimKey:
        return self.key("watchdog")

    def signed_query(self, key: SimKey, params: dict[str, Any]) -> str:
        return signed_query(key, params)

    def signed_url(self, path: str, key: SimKey, params: dict[str, Any]) -> yarl.URL:
        """A URL aiohttp sends byte for byte (``encoded=True``: it must not re-quote what was
        signed, e.g. ``%40`` in an email)."""
        return yarl.URL(f"{self.base_url}{path}?{signed_query(key, params)}", encoded=True)

    def stop(self) -> int:
        """SIGTERM then SIGKILL; reaped."""
        return self.child.stop()

    def kill(self) -> int:
        return self.child.kill()
