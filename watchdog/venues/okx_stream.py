"""OKX v5 private WebSocket: log in, subscribe, and hand the same user events the other venues
produce (``user_events``) to a sink; reconnect with jittered back-off.

Mapping (pure, ``decode_private``, sizes still in contracts): an ``orders`` push with a fill
(``fillSz`` > 0) is one ``TRADE`` with its own size and price; otherwise its state gives the
lifecycle step (live: NEW, canceled: CANCELED); ``positions`` and ``account`` become
``AccountUpdate``s. The follower then turns contracts into the base coin with the instrument's
contract value, as the REST adapter does. The venue closes a connection silent for 30 s, so the
follower sends ``ping`` every ``ping_interval_s`` and reconnects when not even ``pong`` comes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal

import orjson
from websockets.asyncio.client import ClientConnection

from watchdog.clock import Clock
from watchdog.venues import _fields as f
from watchdog.venues import okx_wire as wire
from watchdog.venues import private_ws
from watchdog.venues.credentials import Credentials
from watchdog.venues.errors import KeyRefused, VenueError, VenueProtocolError
from watchdog.venues.user_events import (
    AccountUpdate,
    BalanceUpdate,
    OrderUpdate,
    PositionUpdate,
    UserEvent,
)
from watchdog.venues.user_stream import Sink

log = logging.getLogger(__name__)

CHANNELS: tuple[dict[str, str], ...] = (
    {"channel": "orders", "instType": wire.INST_TYPE},
    {"channel": "positions", "instType": wire.INST_TYPE},
    {"channel": "account"},
)
# Order states without a fill, in the words the daemon already reads (Binance's).
_LIFECYCLE = {
    "live": ("NEW", "NEW"),
    "canceled": ("CANCELED", "CANCELED"),
    "mmp_canceled": ("CANCELED", "CANCELED"),
}
_FILL_STATES = frozenset({"partially_filled", "filled"})

ContractValue = Callable[[str], Awaitable[Decimal]]


@dataclass(frozen=True, slots=True)
class OkxStreamConfig:
    ws_url: str  # the private endpoint, e.g. wss://ws.okx.com:8443/ws/v5/private
    ping_interval_s: float = 20.0  # under the venue's 30 s idle cut
    reply_timeout_s: float = 5.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 15.0

    def __post_init__(self) -> None:
        if not self.ws_url.startswith(("ws://", "wss://")):
            raise ValueError(f"ws_url: expected a ws(s) URL, got {self.ws_url!r}")
        if min(self.ping_interval_s, self.reply_timeout_s) <= 0:
            raise ValueError("ping_interval_s and reply_timeout_s must be > 0")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s")


# --- decoding (pure) ------------------------------------------------------------------------


def decode_private(raw: str | bytes) -> tuple[UserEvent, ...]:
    """The user events one push carries, sizes in contracts (none for replies and pongs)."""
    if raw in ("pong", b"pong"):
        return ()
    o = f.obj(private_ws.loads(raw, "okx private stream"), "message")
    if "event" in o:
        return ()  # a login or subscribe answer: the follower reads those itself
    arg = f.obj(f.field(o, "arg", "message"), "message.arg")
    channel = f.text(arg, "channel", "message.arg")
    if channel not in ("orders", "positions", "account"):
        return ()
    rows = f.array(f.field(o, "data", channel), f"{channel}.data")
    items = [
        (f.obj(row, f"{channel}.data[{i}]"), f"{channel}.data[{i}]") for i, row in enumerate(rows)
    ]
    if channel == "orders":
        return tuple(_order(item, at) for item, at in items)
    if channel == "positions":
        return tuple(_positions(items))
    return tuple(_account(item, at) for item, at in items)


def _order(o: dict[str, object], where: str) -> OrderUpdate:
    state = f.text(o, "state", where)
    fill = f.decimal(o, "fillSz", where) if o.get("fillSz") not in (None, "") else Decimal(0)
    if fill > 0:
        if state not in _FILL_STATES:
            raise VenueProtocolError(f"{where}.state: a fill of {fill} in state {state!r}")
        execution, status = "TRADE", "FILLED" if state == "filled" else "PARTIALLY_FILLED"
        last_price = f.decimal(o, "fillPx", where)
    elif state in _LIFECYCLE:
        execution, status = _LIFECYCLE[state]
        last_price = Decimal(0)
    else:
        raise VenueProtocolError(f"{where}.state: {state!r} without a fill")
    order_type = f.text(o, "ordType", where)
    updated = f.integer(o, "uTime", where)
    return OrderUpdate(
        event_time_ms=updated,
        trade_time_ms=f.integer(o, "fillTime", where) if fill > 0 else updated,
        symbol=wire.listed_symbol(f.text(o, "instId", where)),
        client_order_id=f.text(o, "clOrdId", where),
        side=wire.side_of(o, where),
        order_type=order_type.upper(),
        execution_type=execution,
        status=status,
        order_id=wire.non_empty(o, "ordId", where),
        orig_qty=f.decimal(o, "sz", where),
        price=Decimal(0)
        if order_type == "market" and o.get("px") == ""
        else f.decimal(o, "px", where),
        last_qty=fill,
        last_price=last_price,
        cum_qty=f.decimal(o, "accFillSz", where),
        reduce_only=wire.flag(o, "reduceOnly", where),
        realized_pnl=f.decimal(o, "pnl", where)
        if fill > 0 and o.get("pnl") not in (None, "")
        else None,
    )


def _positions(items: list[tuple[dict[str, object], str]]) -> list[AccountUpdate]:
    if not items:
        return []
    body = {"code": "0", "data": [item for item, _ in items]}
    stamp = max(f.integer(item, "uTime", at) for item, at in items)
    positions = tuple(
        PositionUpdate(p.symbol, p.qty, p.entry_price, p.unrealized_pnl, p.realized)
        for p in wire.parse_positions(body)
    )
    return [AccountUpdate(stamp, "POSITION", (), positions)]


def _account(o: dict[str, object], where: str) -> AccountUpdate:
    details = f.array(f.field(o, "details", where), f"{where}.details")
    balances = []
    for i, row in enumerate(details):
        at = f"{where}.details[{i}]"
        c = f.obj(row, at)
        cash = f.decimal(c, "cashBal", at)
        balances.append(BalanceUpdate(f.text(c, "ccy", at), cash, cash, None))
    return AccountUpdate(f.integer(o, "uTime", where), "WALLET", tuple(balances), ())


async def in_base_coin(event: UserEvent, contract_value: ContractValue) -> UserEvent:
    """``event`` with its sizes in the base coin instead of contracts; an instrument the suite
    cannot value (``wire.valued``) keeps OKX's units under its ``instId``."""
    if isinstance(event, OrderUpdate) and wire.valued(event.symbol):
        v = await contract_value(event.symbol)
        return replace(
            event, orig_qty=event.orig_qty * v, last_qty=event.last_qty * v,
            cum_qty=event.cum_qty * v,
        )  # fmt: skip
    if isinstance(event, AccountUpdate) and event.positions:
        scaled = [
            replace(p, qty=p.qty * await contract_value(p.symbol)) if wire.valued(p.symbol) else p
            for p in event.positions
        ]
        return replace(event, positions=tuple(scaled))
    return event


# --- the follower (I/O) ---------------------------------------------------------------------


class OkxPrivateStream(private_ws.PrivateStream[OkxStreamConfig]):
    """Follow the account's private stream until cancelled; every failure ends in a reconnect.
    Sizes reach the sink in the base coin (``contract_value`` per symbol)."""

    _ping = "ping"
    _down_event = "okx_private_stream_down"
    _log = log

    def __init__(
        self,
        credentials: Credentials,
        config: OkxStreamConfig,
        sink: Sink,
        contract_value: ContractValue,
        *,
        clock: Clock | None = None,
        time_offset_ms: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if credentials.passphrase is None:
            raise ValueError("OKX credentials need the key's passphrase (passphrase = ...)")
        super().__init__(
            credentials, config, sink, clock=clock, time_offset_ms=time_offset_ms, rng=rng
        )
        self._passphrase = credentials.passphrase
        self._contract_value = contract_value

    async def _subscribe(self, ws: ClientConnection) -> None:
        await self._request(ws, "login", [self._login_args()], replies=1)
        await self._request(ws, "subscribe", list(CHANNELS), replies=len(CHANNELS))

    async def _decode(self, raw: str | bytes) -> list[UserEvent]:
        return [await in_base_coin(e, self._contract_value) for e in decode_private(raw)]

    def _login_args(self) -> dict[str, str]:
        """The timestamp, in whole seconds, is judged on the venue's clock."""
        now_s = int(self._venue_now_ms() // 1000)
        return {
            "apiKey": self._credentials.api_key,
            "passphrase": self._passphrase,
            "timestamp": str(now_s),
            "sign": self._credentials.sign_base64(wire.ws_login_payload(now_s)),
        }

    async def _request(
        self, ws: ClientConnection, op: str, args: list[dict[str, str]], *, replies: int
    ) -> None:
        """Send one op and wait for its answers (one per subscribed channel); an ``error``
        event is raised with the venue's words."""
        await ws.send(orjson.dumps({"op": op, "args": args}).decode())
        async with asyncio.timeout(self._config.reply_timeout_s):
            async for raw in ws:
                if raw in ("pong", b"pong"):
                    continue
                reply = f.obj(private_ws.loads(raw, f"ws {op} reply"), f"{op} reply")
                event = reply.get("event")
                if event == "error":
                    msg = f"{reply.get('code')!r} {reply.get('msg')!r}"
                    if op == "login":
                        raise KeyRefused(None, msg, http_status=101, endpoint="ws login")
                    raise VenueError(f"ws {op}: refused: {msg}")
                if event == op:
                    if op == "login" and wire.code_of(reply) != wire.CODE_OK:
                        raise KeyRefused(None, repr(reply.get("msg")), http_status=101,
                                         endpoint="ws login")  # fmt: skip
                    replies -= 1
                    if replies == 0:
                        return
        raise VenueProtocolError(f"ws {op}: the venue closed before replying")
