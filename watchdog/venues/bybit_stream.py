"""Bybit v5 private WebSocket: authenticate, subscribe, and hand the same user events the Binance
user stream produces (``user_events``) to a sink; reconnect with jittered back-off.

The connection is also what keeps Bybit's disconnection protection (DCP) from firing: the venue
starts its countdown once the account's last private connection subscribed to ``dcp`` is gone.
So the follower subscribes to ``dcp`` too, and pings every ``ping_interval_s`` (the venue cuts
a private connection that stays silent too long).

Mapping (pure, ``decode_private``): a fill comes from the ``execution`` topic (one
``OrderUpdate`` per execution, ``TRADE``, with its own quantity and price); the ``order`` topic
gives the order's other lifecycle steps (NEW, CANCELED, EXPIRED, REJECTED), and its fill states
are left to ``execution`` so a fill is never counted twice. ``position`` and ``wallet`` become
``AccountUpdate``s.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal

import orjson
from websockets.asyncio.client import ClientConnection

from watchdog.venues import _fields as f
from watchdog.venues import bybit_wire as wire
from watchdog.venues import private_ws
from watchdog.venues.errors import KeyRefused, VenueError, VenueProtocolError
from watchdog.venues.user_events import (
    AccountUpdate,
    BalanceUpdate,
    OrderUpdate,
    PositionUpdate,
    UserEvent,
)

log = logging.getLogger(__name__)

TOPICS = ("order", "execution", "position", "wallet", "dcp")

# Order statuses from the order topic, in the words the daemon already reads (Binance's).
_LIFECYCLE = {
    "New": ("NEW", "NEW"),
    "Cancelled": ("CANCELED", "CANCELED"),
    "PartiallyFilledCanceled": ("CANCELED", "CANCELED"),
    "Deactivated": ("EXPIRED", "EXPIRED"),
    "Rejected": ("REJECTED", "REJECTED"),
}
# Fills are the execution topic's to report; a conditional order is not on the book until it
# triggers, and then it arrives again as New.
_NOT_LIFECYCLE = frozenset({"PartiallyFilled", "Filled", "Untriggered", "Triggered"})
_FILL_EXEC_TYPES = frozenset({"Trade", "AdlTrade", "BustTrade"})


@dataclass(frozen=True, slots=True)
class BybitStreamConfig:
    ws_url: str  # the private endpoint, e.g. wss://stream.bybit.com/v5/private
    auth_expiry_s: float = 10.0
    ping_interval_s: float = 20.0
    reply_timeout_s: float = 5.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 15.0
    # Subscribed to ``dcp``: the venue's DCP then watches this connection (it counts down once
    # the last such connection is gone). False when the switch is off, so it is really off.
    hold_dcp: bool = True

    def __post_init__(self) -> None:
        if not self.ws_url.startswith(("ws://", "wss://")):
            raise ValueError(f"ws_url: expected a ws(s) URL, got {self.ws_url!r}")
        if min(self.auth_expiry_s, self.ping_interval_s, self.reply_timeout_s) <= 0:
            raise ValueError("auth_expiry_s, ping_interval_s and reply_timeout_s must be > 0")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s")


# --- decoding (pure) ------------------------------------------------------------------------


def decode_private(raw: str | bytes) -> tuple[UserEvent, ...]:
    """The user events one message carries (none for replies, pongs and unfollowed topics)."""
    o = f.obj(private_ws.loads(raw, "bybit private stream"), "message")
    if "topic" not in o:
        return ()  # an op reply (auth, subscribe, pong): the follower reads those itself
    topic = f.text(o, "topic", "message").split(".")[0]
    if topic not in ("order", "execution", "position", "wallet"):
        return ()
    created = f.integer(o, "creationTime", topic)
    rows = f.array(f.field(o, "data", topic), f"{topic}.data")
    items = [f.obj(row, f"{topic}.data[{i}]") for i, row in enumerate(rows)]
    where = [f"{topic}.data[{i}]" for i in range(len(items))]
    if topic == "order":
        return tuple(u for u in map(_order, items, where) if u is not None)
    if topic == "execution":
        return tuple(u for u in map(_execution, items, where) if u is not None)
    if topic == "position":
        linear = [(item, at) for item, at in zip(items, where, strict=True) if _linear(item, at)]
        positions = tuple(_position(item, at) for item, at in linear)
        return (AccountUpdate(created, "POSITION", (), positions),) if positions else ()
    return tuple(_wallet(created, item, at) for item, at in zip(items, where, strict=True))


def _linear(o: dict[str, object], where: str) -> bool:
    return f.text(o, "category", where) == wire.CATEGORY


def _order(o: dict[str, object], where: str) -> OrderUpdate | None:
    if not _linear(o, where):
        return None
    status = f.text(o, "orderStatus", where)
    if status in _NOT_LIFECYCLE:
        return None
    if status not in _LIFECYCLE:
        raise VenueProtocolError(f"{where}.orderStatus: unknown status {status!r}")
    execution_type, binance_status = _LIFECYCLE[status]
    price = f.decimal(o, "price", where)
    return OrderUpdate(
        event_time_ms=f.integer(o, "updatedTime", where),
        trade_time_ms=f.integer(o, "updatedTime", where),
        symbol=f.text(o, "symbol", where),
        client_order_id=f.text(o, "orderLinkId", where),
        side=wire.side_of(o, where),
        order_type=f.text(o, "orderType", where).upper(),
        execution_type=execution_type,
        status=binance_status,
        order_id=wire.non_empty(o, "orderId", where),
        orig_qty=f.decimal(o, "qty", where),
        price=price,
        last_qty=Decimal(0),
        last_price=Decimal(0),
        cum_qty=f.decimal(o, "cumExecQty", where),
        reduce_only=f.boolean(o, "reduceOnly", where),
        realized_pnl=None,
    )


def _execution(o: dict[str, object], where: str) -> OrderUpdate | None:
    if not _linear(o, where) or f.text(o, "execType", where) not in _FILL_EXEC_TYPES:
        return None  # funding and settlement move the wallet, which its own topic reports
    orig = f.decimal(o, "orderQty", where)
    leaves = f.decimal(o, "leavesQty", where)
    exec_time = f.integer(o, "execTime", where)
    return OrderUpdate(
        event_time_ms=exec_time,
        trade_time_ms=exec_time,
        symbol=f.text(o, "symbol", where),
        client_order_id=f.text(o, "orderLinkId", where),
        side=wire.side_of(o, where),
        order_type=f.text(o, "orderType", where).upper(),
        execution_type="TRADE",
        status="FILLED" if leaves == 0 else "PARTIALLY_FILLED",
        order_id=wire.non_empty(o, "orderId", where),
        orig_qty=orig,
        price=f.decimal(o, "orderPrice", where),
        last_qty=f.decimal(o, "execQty", where),
        last_price=f.decimal(o, "execPrice", where),
        cum_qty=orig - leaves,
        reduce_only=None,
        realized_pnl=f.optional_decimal(o, "execPnl", where),
    )


def _position(o: dict[str, object], where: str) -> PositionUpdate:
    size = f.decimal(o, "size", where)
    side = f.text(o, "side", where)
    if size and side not in ("Buy", "Sell"):
        raise VenueProtocolError(f"{where}.side: a position of {size} needs Buy or Sell")
    flat_without_price = size == 0 and o.get("entryPrice") == ""
    return PositionUpdate(
        symbol=f.text(o, "symbol", where),
        qty=-size if side == "Sell" else size,
        entry_price=Decimal(0) if flat_without_price else f.decimal(o, "entryPrice", where),
        unrealized_pnl=f.decimal(o, "unrealisedPnl", where),
        realized=wire.realized_of(o, where),
    )


def _wallet(created: int, o: dict[str, object], where: str) -> AccountUpdate:
    coins = f.array(f.field(o, "coin", where), f"{where}.coin")
    balances = []
    for i, row in enumerate(coins):
        at = f"{where}.coin[{i}]"
        c = f.obj(row, at)
        wallet_balance = f.decimal(c, "walletBalance", at)
        balances.append(BalanceUpdate(f.text(c, "coin", at), wallet_balance, wallet_balance, None))
    return AccountUpdate(created, "WALLET", tuple(balances), ())


# --- the follower (I/O) ---------------------------------------------------------------------


class BybitPrivateStream(private_ws.PrivateStream[BybitStreamConfig]):
    """Follow the account's private stream until cancelled; every failure ends in a reconnect."""

    _ping = '{"op":"ping"}'
    _down_event = "bybit_private_stream_down"
    _log = log

    async def _subscribe(self, ws: ClientConnection) -> None:
        await self._request(ws, "auth", self._auth_args())
        topics: list[object] = [t for t in TOPICS if self._config.hold_dcp or t != "dcp"]
        await self._request(ws, "subscribe", topics)

    async def _decode(self, raw: str | bytes) -> tuple[UserEvent, ...]:
        return decode_private(raw)

    def _auth_args(self) -> list[object]:
        """``expires`` is judged on the venue's clock."""
        expires = int(self._venue_now_ms() + self._config.auth_expiry_s * 1000.0)
        signature = self._credentials.sign(wire.ws_auth_payload(expires))
        return [self._credentials.api_key, expires, signature]

    async def _request(self, ws: ClientConnection, op: str, args: list[object]) -> None:
        """Send one op and wait for its reply; a refusal is an error naming the venue's words."""
        await ws.send(orjson.dumps({"op": op, "args": args, "req_id": op}).decode())
        async with asyncio.timeout(self._config.reply_timeout_s):
            async for raw in ws:
                reply = f.obj(private_ws.loads(raw, f"ws {op} reply"), f"{op} reply")
                if reply.get("op") != op:
                    continue  # a topic message can only follow a subscribe: none yet
                if f.boolean(reply, "success", f"{op} reply"):
                    return
                msg = f.text(reply, "ret_msg", f"{op} reply")
                if op == "auth":
                    raise KeyRefused(None, msg, http_status=101, endpoint="ws auth")
                raise VenueError(f"ws {op}: refused: {msg}")
        raise VenueProtocolError(f"ws {op}: the venue closed before replying")
