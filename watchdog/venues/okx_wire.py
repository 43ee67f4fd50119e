"""OKX v5 wire format (USDT-margined perpetual swaps, ``instType=SWAP``), pure: signatures, the
envelope, parsing, errors, and the instrument names.

The suite trades and values USDT swaps only, but an account may hold orders and positions on any
other instrument: those are parsed too, under OKX's own ``instId`` (``listed_symbol``), so a kill
sees and cancels them and the account view names them instead of failing on them.

Written from OKX's public v5 documentation (docs/venues.md lists the pages). No sockets and no
clock: the adapter passes every timestamp in, so each function is tested with fixed inputs.

Every answer is an envelope ``{"code", "msg", "data"}``; ``code`` is a string and "0" the only
plain success. The batch endpoints answer "1" (every item failed) or "2" (some did) with one
``sCode``/``sMsg`` per item: those are read item by item, never as a whole. An answer without a
readable ``code`` (an empty ``{}``, a proxy's page) is never taken for a success.

Sizes on SWAP instruments are in contracts (``sz``, ``pos``), as OKX counts them; the adapter
turns them into the base coin with the instrument's contract value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

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

INST_TYPE = "SWAP"
QUOTE = "USDT"  # the settle coin of the linear swaps this adapter trades
BATCH_MAX = 20  # orders per cancel-batch-orders request
PAGE_MAX = 100  # rows per orders-pending page
DMS_MIN_S = 10  # cancel-all-after's timeOut: 0 disarms, else 10..120 s
DMS_MAX_S = 120
WS_LOGIN_PATH = "/users/self/verify"

# Codes from the v5 error page that get their own type.
CODE_OK = 0
CODE_ALL_FAILED = 1  # batch: every item failed (see each sCode)
CODE_SOME_FAILED = 2  # batch: some items failed
CODE_SERVICE_UNAVAILABLE = 50001
CODE_REQUEST_TIMEOUT = 50004  # the venue's own timeout: the outcome is unknown
CODE_RATE_LIMIT = 50011
CODE_SYSTEM_BUSY = 50013
CODE_SYSTEM_ERROR = 50026
CODE_SUB_ACCOUNT_RATE_LIMIT = 50061
CODE_KEY_FROZEN = 50100
CODE_TIMESTAMP_EXPIRED = 50102
CODE_WRONG_PASSPHRASE = 50105
CODE_IP_NOT_WHITELISTED = 50110
CODE_INVALID_KEY = 50111
CODE_INVALID_TIMESTAMP = 50112
CODE_INVALID_SIGNATURE = 50113
CODE_KEY_NOT_FOUND = 50119
CODE_KEY_NO_PERMISSION = 50120
CODE_CANCEL_FAILED_GONE = 51400  # filled, cancelled, or no such order
CODE_ALREADY_CANCELLED = 51401
CODE_ALREADY_COMPLETED = 51402
CODE_ORDER_NOT_FOUND = 51603

# Codes that say "this key does not exist (any more)": the request was refused on the key.
KEY_GONE_CODES = frozenset({CODE_INVALID_KEY, CODE_KEY_NOT_FOUND})
# Codes that say "the key exists, but this request is not honoured on it".
KEY_EXISTS_CODES = frozenset(
    {CODE_INVALID_SIGNATURE, CODE_WRONG_PASSPHRASE, CODE_IP_NOT_WHITELISTED}
)
ORDER_GONE_CODES = frozenset(
    {CODE_CANCEL_FAILED_GONE, CODE_ALREADY_CANCELLED, CODE_ALREADY_COMPLETED, CODE_ORDER_NOT_FOUND}
)
_REJECTED_BY_CODE: dict[int, type[VenueRejected]] = {
    CODE_INVALID_KEY: KeyRefused,
    CODE_KEY_NOT_FOUND: KeyRefused,
    CODE_KEY_FROZEN: KeyRefused,
    CODE_WRONG_PASSPHRASE: KeyRefused,
    CODE_IP_NOT_WHITELISTED: KeyRefused,
    CODE_KEY_NO_PERMISSION: KeyRefused,
    CODE_INVALID_SIGNATURE: InvalidSignature,
    **dict.fromkeys(ORDER_GONE_CODES, UnknownOrder),
}
_UNAVAILABLE_CODES = frozenset(
    {CODE_SERVICE_UNAVAILABLE, CODE_REQUEST_TIMEOUT, CODE_SYSTEM_BUSY, CODE_SYSTEM_ERROR}
)
_RATE_LIMIT_CODES = frozenset({CODE_RATE_LIMIT, CODE_SUB_ACCOUNT_RATE_LIMIT})
_TIMESTAMP_CODES = frozenset({CODE_TIMESTAMP_EXPIRED, CODE_INVALID_TIMESTAMP})
_BATCH_CODES = frozenset({CODE_ALL_FAILED, CODE_SOME_FAILED})


# --- instruments ----------------------------------------------------------------------------


def inst_id(symbol: str) -> str:
    """The suite's ``BTCUSDT`` as OKX's USDT perpetual ``BTC-USDT-SWAP``."""
    base = symbol.removesuffix(QUOTE)
    if base == symbol or not base or not base.isalnum() or not base.isupper():
        raise ValueError(f"symbol: expected an upper-case USDT pair like 'BTCUSDT', got {symbol!r}")
    return f"{base}-{QUOTE}-{INST_TYPE}"


def symbol_of(instrument: str) -> str:
    """OKX's ``BTC-USDT-SWAP`` as the suite's ``BTCUSDT``; anything else is not ours to read."""
    parts = instrument.split("-")
    if len(parts) != 3 or parts[1:] != [QUOTE, INST_TYPE] or not parts[0].isalnum():
        raise VenueProtocolError(
            f"instId: expected a USDT perpetual like 'BTC-USDT-SWAP', got {instrument!r}"
        )
    return f"{parts[0]}{QUOTE}"


def listed_symbol(instrument: str) -> str:
    """The symbol of a listed order or position: ``symbol_of`` for a USDT swap; any other
    instrument (an inverse swap, a future, spot, an option) keeps OKX's ``instId``. An account
    may hold one, and the kill must still see and cancel it. Its name holds a "-", which no
    suite symbol does, so ``valued`` tells the two apart."""
    if not instrument:
        raise VenueProtocolError("instId: empty")
    parts = instrument.split("-")
    if len(parts) == 3 and parts[1:] == [QUOTE, INST_TYPE] and parts[0].isalnum():
        return symbol_of(instrument)
    return instrument


def valued(symbol: str) -> bool:
    """Whether a symbol ``listed_symbol`` gave is a USDT swap, whose sizes and PnL the suite
    reads in the base coin and USDT; any other instrument is one it cannot value."""
    return "-" not in symbol


def listed_inst_id(symbol: str) -> str:
    """The ``instId`` of a symbol ``listed_symbol`` gave: what a cancel of a listed order names."""
    return inst_id(symbol) if valued(symbol) else symbol


# --- signing --------------------------------------------------------------------------------


def iso_timestamp(epoch_ms: int) -> str:
    """``OK-ACCESS-TIMESTAMP``: ISO 8601 in UTC with milliseconds, e.g. 2020-12-08T09:08:57.715Z."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def sign_payload(timestamp: str, method: str, request_path: str, body: str) -> str:
    """What ``OK-ACCESS-SIGN`` signs: timestamp + METHOD + path with its query + body."""
    return f"{timestamp}{method.upper()}{request_path}{body}"


def auth_headers(api_key: str, timestamp: str, signature: str, passphrase: str) -> dict[str, str]:
    return {
        "OK-ACCESS-KEY": api_key,
        "OK-ACCESS-SIGN": signature,
        "OK-ACCESS-TIMESTAMP": timestamp,
        "OK-ACCESS-PASSPHRASE": passphrase,
    }


def ws_login_payload(epoch_s: int) -> str:
    """What the private WebSocket's ``login`` signs (its timestamp is in whole seconds)."""
    return sign_payload(str(epoch_s), "GET", WS_LOGIN_PATH, "")


# --- errors ---------------------------------------------------------------------------------


def code_of(body: object) -> int | None:
    """The envelope's ``code``: a string of digits (an integer is read too), else None."""
    if not isinstance(body, dict):
        return None
    code = body.get("code")
    if isinstance(code, str) and code.isascii() and code.isdigit():
        return int(code)
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    return None


def error_for(
    status: int,
    body: object,
    headers: Mapping[str, str],
    endpoint: str,
    *,
    batch: bool = False,
) -> VenueError | None:
    """The error an HTTP answer means, or None when it is an envelope to be parsed (for a
    ``batch`` endpoint, "1" and "2" too: their items say what failed)."""
    code = code_of(body)
    msg = _msg(body)
    if status == 429 or code in _RATE_LIMIT_CODES:
        return RateLimited(
            code, msg, http_status=status, endpoint=endpoint,
            # OKX documents no reset header; a proxy's plain Retry-After is honoured.
            retry_after=f.retry_after(headers),
        )  # fmt: skip
    if status >= 500 or status == 408 or code in _UNAVAILABLE_CODES:
        # Outcome UNKNOWN: the venue may have executed the request.
        return VenueUnavailable(f"HTTP {status} ({msg})", endpoint=endpoint, http_status=status)
    if code in _TIMESTAMP_CODES:
        return TimestampOutOfWindow(code, msg, http_status=status, endpoint=endpoint)
    if code is None:
        if status >= 400:
            kind = KeyRefused if status == 401 else VenueRejected
            return kind(None, msg, http_status=status, endpoint=endpoint)
        return VenueProtocolError(f"{endpoint}: answer has no code of digits ({msg})")
    if code == CODE_OK or (batch and code in _BATCH_CODES):
        if status >= 400:
            return VenueRejected(code, msg, http_status=status, endpoint=endpoint)
        return None
    kind = _REJECTED_BY_CODE.get(code, VenueRejected)
    return kind(code, msg, http_status=status, endpoint=endpoint)


def item_error(s_code: int, s_msg: str, endpoint: str) -> VenueError:
    """One failed item of a batch answer as the error a single request would have been."""
    item = {"code": str(s_code), "msg": s_msg}
    error = error_for(200, item, {}, endpoint)
    if error is None:
        raise ValueError(f"item_error: sCode {s_code} is a success")
    return error


def _msg(body: object) -> str:
    if isinstance(body, dict):
        msg = body.get("msg")
        if isinstance(msg, str) and msg:
            return msg
    return "no msg in the answer"


# --- parsing --------------------------------------------------------------------------------


def data_of(body: object, where: str, *, batch: bool = False) -> list[object]:
    """The ``data`` array of an envelope ``error_for`` let through."""
    envelope = f.obj(body, where)
    code = code_of(envelope)
    allowed = {CODE_OK} | (_BATCH_CODES if batch else set())
    if code not in allowed:
        raise VenueProtocolError(f"{where}.code: expected 0, got {envelope.get('code')!r}")
    return f.array(f.field(envelope, "data", where), f"{where}.data")


def _rows(body: object, where: str, *, batch: bool = False) -> list[tuple[dict[str, object], str]]:
    return [
        (f.obj(row, f"{where}.data[{i}]"), f"{where}.data[{i}]")
        for i, row in enumerate(data_of(body, where, batch=batch))
    ]


def _single(body: object, where: str) -> tuple[dict[str, object], str]:
    rows = _rows(body, where)
    if len(rows) != 1:
        raise VenueProtocolError(f"{where}.data: expected one entry, got {len(rows)}")
    return rows[0]


def parse_server_time_ms(body: object) -> int:
    row, where = _single(body, "time")
    return f.integer(row, "ts", where)


def parse_orders(body: object) -> tuple[OpenOrder, ...]:
    """One page of ``orders-pending`` (newest first; the next page is ``after`` the last id)."""
    return tuple(_order(row, where) for row, where in _rows(body, "orders-pending"))


def _order(o: dict[str, object], where: str) -> OpenOrder:
    order_type = f.text(o, "ordType", where)
    return OpenOrder(
        symbol=listed_symbol(f.text(o, "instId", where)),
        order_id=non_empty(o, "ordId", where),
        client_order_id=f.text(o, "clOrdId", where),
        side=side_of(o, where),
        order_type=order_type,
        status=f.text(o, "state", where),
        # A market order has "" for the price it does not have; others may not.
        price=f.decimal_or_blank(o, "px", where, blank_ok=order_type == "market"),
        orig_qty=f.decimal(o, "sz", where),
        executed_qty=f.decimal(o, "accFillSz", where),
        reduce_only=flag(o, "reduceOnly", where),
        time_ms=f.integer(o, "cTime", where),
    )


# Ids: the stream parser reads them through this module too.
non_empty = f.non_empty


def side_of(o: dict[str, object], where: str) -> Side:
    """OKX's ``side`` (buy, sell), in REST rows and stream messages alike."""
    return f.side(o, where, buy="buy", sell="sell")


def flag(o: dict[str, object], name: str, where: str) -> bool:
    """OKX sends booleans as the strings "true" and "false"."""
    raw = f.field(o, name, where)
    if raw in ("true", True):
        return True
    if raw in ("false", False):
        return False
    raise VenueProtocolError(f"{where}.{name}: expected 'true' or 'false', got {raw!r}")


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One order of a cancel-batch-orders answer: ``s_code`` 0 is cancelled."""

    order_id: str
    s_code: int
    s_msg: str

    @property
    def gone(self) -> bool:
        """Already filled, cancelled or unknown: nothing left to cancel."""
        return self.s_code in ORDER_GONE_CODES


def parse_batch_cancel(body: object, sent: int) -> tuple[BatchItem, ...]:
    """The answer to a batch of ``sent`` cancels: one item per order, each with its sCode."""
    where = "cancel-batch-orders"
    items = tuple(_batch_item(row, at) for row, at in _rows(body, where, batch=True))
    if len(items) != sent:
        raise VenueProtocolError(f"{where}.data: {sent} cancel(s) sent, {len(items)} answered")
    if code_of(body) == CODE_OK and any(item.s_code != CODE_OK for item in items):
        raise VenueProtocolError(f"{where}: code 0 with a failed item")
    return items


def _batch_item(o: dict[str, object], where: str) -> BatchItem:
    raw = f.text(o, "sCode", where)
    if not (raw.isascii() and raw.isdigit()):
        raise VenueProtocolError(f"{where}.sCode: expected a code of digits, got {raw!r}")
    return BatchItem(f.text(o, "ordId", where), int(raw), f.text(o, "sMsg", where))


@dataclass(frozen=True, slots=True)
class Balance:
    """The settle coin's totals in the trading account. Equity includes unrealized PnL."""

    equity: Decimal
    cash: Decimal
    unrealized: Decimal
    available: Decimal


def parse_balance(body: object, ccy: str = QUOTE) -> Balance:
    """``account/balance``: the ``details`` entry of ``ccy``; an account without it holds none
    of it (every figure 0), which OKX shows by leaving the currency out."""
    account, where = _single(body, "balance")
    details = f.array(f.field(account, "details", where), f"{where}.details")
    for i, raw in enumerate(details):
        at = f"{where}.details[{i}]"
        row = f.obj(raw, at)
        if f.text(row, "ccy", at) == ccy:
            return Balance(
                equity=f.decimal(row, "eq", at),
                cash=f.decimal(row, "cashBal", at),
                unrealized=f.decimal(row, "upl", at),
                available=f.decimal(row, "availEq", at),
            )
    return Balance(Decimal(0), Decimal(0), Decimal(0), Decimal(0))


def parse_positions(body: object) -> tuple[Position, ...]:
    """``account/positions``: ``pos`` is signed in net mode; in long/short mode ``posSide`` says
    which way. Sizes are contracts here (the adapter scales them)."""
    return tuple(_position(row, where) for row, where in _rows(body, "positions"))


def _position(o: dict[str, object], where: str) -> Position:
    pos = f.decimal(o, "pos", where)
    side = f.text(o, "posSide", where)
    if side == "short":
        pos = -abs(pos)
    elif side == "long":
        pos = abs(pos)
    elif side != "net":
        raise VenueProtocolError(f"{where}.posSide: expected net, long or short, got {side!r}")
    symbol = listed_symbol(f.text(o, "instId", where))
    # Prices of an instrument the suite cannot value are never read: "" reads as 0 there.
    blank_ok = pos == 0 or not valued(symbol)
    return Position(
        symbol=symbol,
        qty=pos,
        entry_price=f.decimal_or_blank(o, "avgPx", where, blank_ok=blank_ok),
        unrealized_pnl=f.decimal_or_blank(o, "upl", where, blank_ok=blank_ok),
        mark_price=f.decimal_or_blank(o, "markPx", where, blank_ok=blank_ok),
        realized=realized_of(o, where),
    )


def realized_of(o: dict[str, object], where: str) -> RealizedPnl | None:
    """``realizedPnl``: the position's realized PnL since it opened at ``cTime`` (pnl, fees,
    funding, liquidation penalty, settlement), in a position row and a ``positions`` push
    alike. Absent or "": not known, None; otherwise a decimal, anchored at an integer cTime."""
    if o.get("realizedPnl", "") == "":
        return None
    return RealizedPnl(f.decimal(o, "realizedPnl", where), f.integer(o, "cTime", where))


def parse_contract_values(body: object) -> dict[str, Decimal]:
    """``public/instruments``: each swap's base coin per contract (``ctVal`` x ``ctMult``)."""
    out: dict[str, Decimal] = {}
    for row, where in _rows(body, "instruments"):
        instrument = f.text(row, "instId", where)
        if not instrument.endswith(f"-{QUOTE}-{INST_TYPE}"):
            continue  # a coin-margined swap: not a book this adapter trades
        value = f.decimal(row, "ctVal", where) * f.decimal(row, "ctMult", where)
        if value <= 0:
            raise VenueProtocolError(f"{where}.ctVal: expected > 0, got {value}")
        out[symbol_of(instrument)] = value
    return out


@dataclass(frozen=True, slots=True)
class CancelAfter:
    """The account's countdown cancel-all as the venue answered: ``trigger_ms`` 0 is off."""

    trigger_ms: int
    ts_ms: int

    @property
    def armed(self) -> bool:
        return self.trigger_ms > 0

    @property
    def remaining_ms(self) -> int:
        return max(0, self.trigger_ms - self.ts_ms) if self.armed else 0


def parse_cancel_all_after(body: object) -> CancelAfter:
    row, where = _single(body, "cancel-all-after")
    return CancelAfter(f.integer(row, "triggerTime", where), f.integer(row, "ts", where))


@dataclass(frozen=True, slots=True)
class KeyConfig:
    """``account/config`` for the key that asked: whose key it is and the IPs it is bound to."""

    uid: str
    main_uid: str
    ip: str  # "" when the key is bound to no IP address
    perm: str

    @property
    def is_master(self) -> bool:
        return self.uid == self.main_uid


def parse_account_config(body: object) -> KeyConfig:
    row, where = _single(body, "account-config")
    return KeyConfig(
        uid=non_empty(row, "uid", where),
        main_uid=non_empty(row, "mainUid", where),
        ip=f.text(row, "ip", where),
        perm=f.text(row, "perm", where),
    )


def parse_sub_api_keys(body: object) -> tuple[str, ...]:
    """The key ids the master sees on a sub-account (``users/subaccount/apikey``)."""
    return tuple(non_empty(row, "apiKey", where) for row, where in _rows(body, "subaccount-apikey"))


def parse_delete_api_key(body: object, sub_account: str) -> None:
    """``delete-apikey``'s success names the sub-account it acted on: it must be ours."""
    row, where = _single(body, "delete-apikey")
    named = f.text(row, "subAcct", where)
    if named != sub_account:
        raise VenueProtocolError(f"{where}.subAcct: asked for {sub_account!r}, got {named!r}")
