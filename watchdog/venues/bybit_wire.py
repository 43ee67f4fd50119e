"""Bybit v5 wire format (``category=linear``), pure: signatures, the envelope, parsing, errors.

Written from Bybit's public v5 documentation (docs/venues.md lists the pages). No sockets and no
clock: the adapter passes every timestamp in, so each function is tested with fixed inputs.

Every answer is an envelope ``{"retCode", "retMsg", "result", "retExtInfo", "time"}`` and 0 is the
only success. An answer without an integer ``retCode`` (an empty ``{}``, a proxy's page) is never
taken for a success.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote

from watchdog.venues import _fields as f
from watchdog.venues.base import OpenOrder, Position, RealizedPnl, Side
from watchdog.venues.errors import (
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

CATEGORY = "linear"
DCP_PRODUCT = "DERIVATIVES"  # USDT/USDC perpetuals and futures, inverse too
DCP_WINDOW_MIN_S = 3
DCP_WINDOW_MAX_S = 300

# retCodes from the v5 error page that get their own type.
RET_OK = 0
RET_SERVER_TIMEOUT = 10000
RET_TIMESTAMP_OUT_OF_WINDOW = 10002
RET_INVALID_API_KEY = 10003
RET_INVALID_SIGNATURE = 10004
RET_PERMISSION_DENIED = 10005
RET_TOO_MANY_VISITS = 10006
RET_IP_MISMATCH = 10010
RET_SERVER_ERROR = 10016
RET_IP_RATE_LIMIT = 10018
RET_API_KEY_EXPIRED = 33004
RET_ORDER_NOT_FOUND = 110001

# Codes that say "this key is not (or no longer) usable here": the request was refused on it.
KEY_GONE_CODES = frozenset({RET_INVALID_API_KEY, RET_API_KEY_EXPIRED})
_REJECTED_BY_CODE: dict[int, type[VenueRejected]] = {
    RET_INVALID_API_KEY: KeyRefused,
    RET_API_KEY_EXPIRED: KeyRefused,
    RET_PERMISSION_DENIED: KeyRefused,
    RET_IP_MISMATCH: KeyRefused,
    RET_INVALID_SIGNATURE: InvalidSignature,
    RET_ORDER_NOT_FOUND: UnknownOrder,
}
_UNAVAILABLE_CODES = frozenset({RET_SERVER_TIMEOUT, RET_SERVER_ERROR})
_RATE_LIMIT_CODES = frozenset({RET_TOO_MANY_VISITS, RET_IP_RATE_LIMIT})


@dataclass(frozen=True, slots=True)
class OrdersPage:
    orders: tuple[OpenOrder, ...]
    next_cursor: str  # "" on the last page


@dataclass(frozen=True, slots=True)
class PositionsPage:
    positions: tuple[Position, ...]
    next_cursor: str


@dataclass(frozen=True, slots=True)
class Wallet:
    """The unified account's totals (USD). Equity is the margin balance: wallet plus perp UPL."""

    margin_balance: Decimal
    wallet: Decimal
    unrealized: Decimal
    available: Decimal


@dataclass(frozen=True, slots=True)
class DcpState:
    """The account's disconnection protection for derivatives, as the venue reports it.

    ``configured`` False: the venue lists no DERIVATIVES entry, i.e. DCP was never enabled for
    this account (it is enabled by the venue on request): unsupported here.
    """

    configured: bool
    status: str | None  # "ON" when configured
    window_s: int | None


def query_string(params: Params) -> str:
    """``k=v&k=v`` in the order given, percent-encoded: exactly the bytes that are signed."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)


def sign_payload(timestamp_ms: int, api_key: str, recv_window_ms: int, payload: str) -> str:
    """What X-BAPI-SIGN signs: timestamp + api key + recv window + query string or JSON body."""
    return f"{timestamp_ms}{api_key}{recv_window_ms}{payload}"


def auth_headers(
    api_key: str, timestamp_ms: int, recv_window_ms: int, signature: str
) -> dict[str, str]:
    return {
        "X-BAPI-API-KEY": api_key,
        "X-BAPI-TIMESTAMP": str(timestamp_ms),
        "X-BAPI-RECV-WINDOW": str(recv_window_ms),
        "X-BAPI-SIGN": signature,
    }


def ws_auth_payload(expires_ms: int) -> str:
    """What the private WebSocket's ``auth`` signs."""
    return f"GET/realtime{expires_ms}"


# --- errors ---------------------------------------------------------------------------------


def ret_code_of(body: object) -> int | None:
    if isinstance(body, dict):
        code = body.get("retCode")
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    return None


def error_for(
    status: int, body: object, headers: Mapping[str, str], endpoint: str, *, now_ms: int
) -> VenueError | None:
    """The error an HTTP answer means, or None when it is a success envelope to be parsed.

    ``now_ms`` is the venue's time as the adapter reckons it, to turn the limit's reset
    timestamp into a pause.
    """
    code = ret_code_of(body)
    msg = _ret_msg(body)
    if status == 429 or code in _RATE_LIMIT_CODES:
        return RateLimited(
            code,
            msg,
            http_status=status,
            endpoint=endpoint,
            retry_after=retry_after_seconds(headers, now_ms),
        )
    if status >= 500 or status == 408 or code in _UNAVAILABLE_CODES:
        # Outcome UNKNOWN: the venue may have executed the request.
        return VenueUnavailable(f"HTTP {status} ({msg})", endpoint=endpoint, http_status=status)
    if code == RET_TIMESTAMP_OUT_OF_WINDOW:
        return TimestampOutOfWindow(code, msg, http_status=status, endpoint=endpoint)
    if code is None:
        if status >= 400:
            kind = KeyRefused if status == 401 else VenueRejected
            return kind(None, msg, http_status=status, endpoint=endpoint)
        return VenueProtocolError(f"{endpoint}: answer has no integer retCode ({msg})")
    if code != RET_OK:
        kind = _REJECTED_BY_CODE.get(code, VenueRejected)
        return kind(code, msg, http_status=status, endpoint=endpoint)
    if status >= 400:
        return VenueRejected(code, msg, http_status=status, endpoint=endpoint)
    return None


def _ret_msg(body: object) -> str:
    if isinstance(body, dict):
        msg = body.get("retMsg")
        if isinstance(msg, str):
            return msg
    return "no retMsg in the answer"


def retry_after_seconds(headers: Mapping[str, str], now_ms: int) -> float | None:
    """The pause the venue implies: its limit's reset time, or a plain Retry-After."""
    reset = headers.get("X-Bapi-Limit-Reset-Timestamp")
    if reset is not None and reset.isdigit():
        return f.pause(max(0.0, (int(reset) - now_ms) / 1000.0))
    return f.retry_after(headers)


# --- parsing --------------------------------------------------------------------------------


def result_of(body: object, where: str) -> dict[str, object]:
    """The ``result`` object of a success envelope (``error_for`` has ruled out the rest)."""
    envelope = f.obj(body, where)
    code = f.integer(envelope, "retCode", where)
    if code != RET_OK:
        raise VenueProtocolError(f"{where}.retCode: expected 0, got {code}")
    return f.obj(f.field(envelope, "result", where), f"{where}.result")


def parse_server_time_ms(body: object) -> int:
    """Server time in ms, from ``timeNano`` (the finer of the two fields)."""
    result = result_of(body, "time")
    return f.integer(result, "timeNano", "time.result") // 1_000_000


def parse_orders_page(body: object) -> OrdersPage:
    where = "realtime.result"
    result = result_of(body, "realtime")
    rows = f.array(f.field(result, "list", where), f"{where}.list")
    orders = tuple(
        _order(f.obj(row, f"{where}.list[{i}]"), f"{where}.list[{i}]") for i, row in enumerate(rows)
    )
    return OrdersPage(orders, _cursor(result, where))


def _order(o: dict[str, object], where: str) -> OpenOrder:
    return OpenOrder(
        symbol=f.text(o, "symbol", where),
        order_id=non_empty(o, "orderId", where),
        client_order_id=f.text(o, "orderLinkId", where),
        side=side_of(o, where),
        order_type=f.text(o, "orderType", where),
        status=f.text(o, "orderStatus", where),
        price=f.decimal(o, "price", where),
        orig_qty=f.decimal(o, "qty", where),
        executed_qty=f.decimal(o, "cumExecQty", where),
        reduce_only=f.boolean(o, "reduceOnly", where),
        time_ms=f.integer(o, "createdTime", where),
    )


def _cursor(result: dict[str, object], where: str) -> str:
    return f.text(result, "nextPageCursor", where)


# Ids: the stream parser reads them through this module too.
non_empty = f.non_empty


def side_of(o: dict[str, object], where: str) -> Side:
    """Bybit's ``side`` (Buy, Sell), in REST rows and stream messages alike."""
    return f.side(o, where, buy="Buy", sell="Sell")


def parse_cancel_all(body: object) -> tuple[str, ...]:
    """The ids the venue says it cancelled. ``success`` (when sent) must be "1"."""
    where = "cancel-all.result"
    result = result_of(body, "cancel-all")
    if "success" in result and f.text(result, "success", where) != "1":
        raise VenueProtocolError(f"{where}.success: expected '1', got {result['success']!r}")
    rows = f.array(f.field(result, "list", where), f"{where}.list")
    return tuple(
        non_empty(f.obj(row, f"{where}.list[{i}]"), "orderId", f"{where}.list[{i}]")
        for i, row in enumerate(rows)
    )


def parse_wallet(body: object) -> Wallet:
    where = "wallet-balance.result"
    result = result_of(body, "wallet-balance")
    rows = f.array(f.field(result, "list", where), f"{where}.list")
    if len(rows) != 1:
        raise VenueProtocolError(f"{where}.list: expected one account, got {len(rows)}")
    where = f"{where}.list[0]"
    account = f.obj(rows[0], where)
    return Wallet(
        margin_balance=f.decimal(account, "totalMarginBalance", where),
        wallet=f.decimal(account, "totalWalletBalance", where),
        unrealized=f.decimal(account, "totalPerpUPL", where),
        available=f.decimal(account, "totalAvailableBalance", where),
    )


def parse_positions_page(body: object) -> PositionsPage:
    where = "position.result"
    result = result_of(body, "position")
    rows = f.array(f.field(result, "list", where), f"{where}.list")
    positions = tuple(
        _position(f.obj(row, f"{where}.list[{i}]"), f"{where}.list[{i}]")
        for i, row in enumerate(rows)
    )
    return PositionsPage(positions, _cursor(result, where))


def _position(o: dict[str, object], where: str) -> Position:
    size = f.decimal(o, "size", where)
    if size < 0:
        raise VenueProtocolError(f"{where}.size: expected >= 0, got {size}")
    side = f.text(o, "side", where)
    if size and side not in ("Buy", "Sell"):
        raise VenueProtocolError(f"{where}.side: a position of {size} needs Buy or Sell")
    flat = size == 0  # a flat position may carry "" for a price it does not have
    return Position(
        symbol=f.text(o, "symbol", where),
        qty=-size if side == "Sell" else size,
        entry_price=f.decimal_or_blank(o, "avgPrice", where, blank_ok=flat),
        unrealized_pnl=f.decimal(o, "unrealisedPnl", where),
        mark_price=f.decimal_or_blank(o, "markPrice", where, blank_ok=flat),
        realized=realized_of(o, where),
    )


def realized_of(o: dict[str, object], where: str) -> RealizedPnl | None:
    """``cumRealisedPnl``: the symbol's realized PnL over its whole history, fees and funding
    included, in a position row and a ``position`` push alike. Absent or "" (the venue's
    blank): not known, None; anything else must be a decimal."""
    if o.get("cumRealisedPnl", "") == "":
        return None
    return RealizedPnl(f.decimal(o, "cumRealisedPnl", where), since_ms=None)


def parse_dcp_info(body: object) -> DcpState:
    where = "query-dcp-info.result"
    result = result_of(body, "query-dcp-info")
    rows = f.array(f.field(result, "dcpInfos", where), f"{where}.dcpInfos")
    for i, row in enumerate(rows):
        at = f"{where}.dcpInfos[{i}]"
        info = f.obj(row, at)
        if f.text(info, "product", at) == DCP_PRODUCT:
            return DcpState(True, f.text(info, "dcpStatus", at), f.integer(info, "timeWindow", at))
    return DcpState(configured=False, status=None, window_s=None)


def parse_empty_result(body: object, where: str) -> None:
    """Calls whose success carries nothing: the envelope must still say 0 with a result."""
    result_of(body, where)


def parse_sub_api_keys(body: object) -> tuple[str, ...]:
    """The key ids a sub-account holds (``/v5/user/sub-apikeys``)."""
    where = "sub-apikeys.result"
    result = result_of(body, "sub-apikeys")
    rows = f.array(f.field(result, "result", where), f"{where}.result")
    return tuple(
        f.text(f.obj(row, f"{where}.result[{i}]"), "apiKey", f"{where}.result[{i}]")
        for i, row in enumerate(rows)
    )


def rate_counters(headers: Mapping[str, str], last: Mapping[str, int]) -> dict[str, int]:
    """The endpoint's limit and what is left of it (``X-Bapi-Limit``, ``X-Bapi-Limit-Status``),
    kept from the last answer that carried them."""
    out = dict(last)
    for header, name in (("X-Bapi-Limit", "limit"), ("X-Bapi-Limit-Status", "limit_remaining")):
        raw = headers.get(header)
        if raw is not None and raw.isdigit():
            out[name] = int(raw)
    return out
