"""Binance USDⓈ-M futures wire format, pure: query strings, signatures, response parsing, errors.

Written from the venue's public API documentation. No sockets and no clock here: the adapter
passes the timestamp in, so every function is tested with fixed inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from urllib.parse import quote

from watchdog.venues import _fields as f
from watchdog.venues.base import (
    AccountView,
    CountdownAck,
    OpenOrder,
    OrderAck,
    Position,
    RateState,
    Side,
)
from watchdog.venues.errors import (
    CODE_API_KEY_REFUSED,
    CODE_BAD_API_KEY_FORMAT,
    CODE_INVALID_SIGNATURE,
    CODE_NO_SUCH_ORDER,
    CODE_TIMESTAMP_OUTSIDE_WINDOW,
    CODE_TOO_MANY_REQUESTS,
    CODE_UNKNOWN_ORDER_CANCEL,
    Banned,
    InvalidSignature,
    KeyRefused,
    RateLimited,
    TimestampOutOfWindow,
    UnknownOrder,
    VenueError,
    VenueProtocolError,
    VenueRejected,
    VenueUnavailable,
)

Params = Sequence[tuple[str, str]]

_REJECTED_BY_CODE: dict[int, type[VenueRejected]] = {
    CODE_API_KEY_REFUSED: KeyRefused,
    CODE_BAD_API_KEY_FORMAT: KeyRefused,
    CODE_INVALID_SIGNATURE: InvalidSignature,
    CODE_UNKNOWN_ORDER_CANCEL: UnknownOrder,
    CODE_NO_SUCH_ORDER: UnknownOrder,
}


def query_string(params: Params) -> str:
    """``k=v&k=v`` in the order given, percent-encoded; exactly the bytes that are signed."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)


def signed_params(
    params: Params, *, timestamp_ms: int, recv_window_ms: int
) -> list[tuple[str, str]]:
    return [*params, ("recvWindow", str(recv_window_ms)), ("timestamp", str(timestamp_ms))]


def fmt_decimal(value: Decimal) -> str:
    """Plain notation (``0.001``, never ``1E-3``): the venue rejects exponents."""
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value}")
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def rate_state(headers: Mapping[str, str], previous: RateState) -> RateState:
    def read(name: str, old: int | None) -> int | None:
        raw = headers.get(name)
        return int(raw) if raw is not None and raw.isdigit() else old

    return RateState(
        used_weight_1m=read("X-MBX-USED-WEIGHT-1M", previous.used_weight_1m),
        order_count_10s=read("X-MBX-ORDER-COUNT-10S", previous.order_count_10s),
        order_count_1m=read("X-MBX-ORDER-COUNT-1M", previous.order_count_1m),
    )


def error_for(
    status: int, body: object, headers: Mapping[str, str], endpoint: str
) -> VenueError | None:
    """The error an HTTP answer means, or None when it is a success to be parsed."""
    code, msg = _code_and_msg(body)
    if status == 418:
        return Banned(
            code,
            msg,
            http_status=status,
            endpoint=endpoint,
            retry_after=f.retry_after(headers),
        )
    if status == 429 or code == CODE_TOO_MANY_REQUESTS:
        return RateLimited(
            code,
            msg,
            http_status=status,
            endpoint=endpoint,
            retry_after=f.retry_after(headers),
        )
    if status >= 500 or status == 408:
        # The docs: a 5xx means the outcome is UNKNOWN; it may have been executed.
        return VenueUnavailable(f"HTTP {status} ({msg})", endpoint=endpoint, http_status=status)
    if code == CODE_TIMESTAMP_OUTSIDE_WINDOW:
        return TimestampOutOfWindow(code, msg, http_status=status, endpoint=endpoint)
    if status >= 400 or (code is not None and code < 0):
        kind = _REJECTED_BY_CODE.get(code, VenueRejected) if code is not None else VenueRejected
        return kind(code, msg, http_status=status, endpoint=endpoint)
    return None


def _code_and_msg(body: object) -> tuple[int | None, str]:
    if isinstance(body, dict):
        code, msg = body.get("code"), body.get("msg")
        if isinstance(code, int) and not isinstance(code, bool):
            return code, msg if isinstance(msg, str) else ""
    return None, "no error code in the answer"


def parse_server_time(body: object) -> int:
    return f.integer(f.obj(body, "time"), "serverTime", "time")


def parse_open_orders(body: object) -> tuple[OpenOrder, ...]:
    rows = f.array(body, "openOrders")
    return tuple(
        _open_order(f.obj(row, f"openOrders[{i}]"), f"openOrders[{i}]")
        for i, row in enumerate(rows)
    )


def _open_order(o: dict[str, object], where: str) -> OpenOrder:
    return OpenOrder(
        symbol=f.text(o, "symbol", where),
        order_id=str(f.integer(o, "orderId", where)),
        client_order_id=f.text(o, "clientOrderId", where),
        side=_side(o, where),
        order_type=f.text(o, "type", where),
        status=f.text(o, "status", where),
        price=f.decimal(o, "price", where),
        orig_qty=f.decimal(o, "origQty", where),
        executed_qty=f.decimal(o, "executedQty", where),
        reduce_only=f.boolean(o, "reduceOnly", where),
        time_ms=f.integer(o, "time", where),
    )


def parse_order(body: object, where: str) -> OrderAck:
    o = f.obj(body, where)
    return OrderAck(
        symbol=f.text(o, "symbol", where),
        order_id=str(f.integer(o, "orderId", where)),
        client_order_id=f.text(o, "clientOrderId", where),
        side=_side(o, where),
        order_type=f.text(o, "type", where),
        status=f.text(o, "status", where),
        price=f.decimal(o, "price", where),
        orig_qty=f.decimal(o, "origQty", where),
        executed_qty=f.decimal(o, "executedQty", where),
        avg_price=f.optional_decimal(o, "avgPrice", where),
        reduce_only=f.optional_boolean(o, "reduceOnly", where),
        update_time_ms=f.optional_integer(o, "updateTime", where),
    )


def _side(o: dict[str, object], where: str) -> Side:
    return f.side(o, where, buy="BUY", sell="SELL")


def parse_cancel_all(body: object) -> str:
    """Success is ``{"code": 200, "msg": ...}``; anything else is not success."""
    o = f.obj(body, "allOpenOrders")
    code = f.integer(o, "code", "allOpenOrders")
    if code != 200:
        raise VenueProtocolError(f"allOpenOrders.code: expected 200, got {code}")
    return f"200 {f.text(o, 'msg', 'allOpenOrders')}"


def parse_account(body: object) -> AccountView:
    where = "account"
    o = f.obj(body, where)
    rows = f.array(f.field(o, "positions", where), f"{where}.positions")
    positions = (
        _account_position(f.obj(r, f"{where}.positions[{i}]"), f"{where}.positions[{i}]")
        for i, r in enumerate(rows)
    )
    return AccountView(
        equity=f.decimal(o, "totalMarginBalance", where),
        wallet=f.decimal(o, "totalWalletBalance", where),
        unrealized=f.decimal(o, "totalUnrealizedProfit", where),
        available=f.decimal(o, "availableBalance", where),
        positions=tuple(p for p in positions if p.qty != 0),
    )


def _account_position(o: dict[str, object], where: str) -> Position:
    return Position(
        symbol=f.text(o, "symbol", where),
        qty=f.decimal(o, "positionAmt", where),
        entry_price=f.decimal(o, "entryPrice", where),
        unrealized_pnl=f.decimal(o, "unrealizedProfit", where),
        mark_price=None,
    )


def parse_balances(body: object) -> dict[str, Decimal]:
    rows = f.array(body, "balance")
    out: dict[str, Decimal] = {}
    for i, row in enumerate(rows):
        o = f.obj(row, f"balance[{i}]")
        out[f.text(o, "asset", f"balance[{i}]")] = f.decimal(o, "balance", f"balance[{i}]")
    return out


def parse_sub_accounts(body: object) -> tuple[str, ...]:
    where = "subAccountList"
    rows = f.array(f.field(f.obj(body, where), "subAccounts", where), f"{where}.subAccounts")
    return tuple(
        f.text(f.obj(r, f"{where}.subAccounts[{i}]"), "email", f"{where}.subAccounts[{i}]")
        for i, r in enumerate(rows)
    )


def parse_position_risk(body: object) -> tuple[Position, ...]:
    rows = f.array(body, "positionRisk")
    out = []
    for i, row in enumerate(rows):
        where = f"positionRisk[{i}]"
        o = f.obj(row, where)
        out.append(
            Position(
                symbol=f.text(o, "symbol", where),
                qty=f.decimal(o, "positionAmt", where),
                entry_price=f.decimal(o, "entryPrice", where),
                unrealized_pnl=f.decimal(o, "unRealizedProfit", where),
                mark_price=f.decimal(o, "markPrice", where),
            )
        )
    return tuple(out)


def parse_countdown(body: object) -> CountdownAck:
    o = f.obj(body, "countdownCancelAll")
    return CountdownAck(
        symbol=f.text(o, "symbol", "countdownCancelAll"),
        countdown_ms=f.integer(o, "countdownTime", "countdownCancelAll"),
    )


def parse_listen_key(body: object) -> str:
    key = f.text(f.obj(body, "listenKey"), "listenKey", "listenKey")
    if not key:
        raise VenueProtocolError("listenKey.listenKey: empty")
    return key
