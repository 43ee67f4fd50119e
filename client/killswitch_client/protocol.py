"""The telemetry wire protocol between a trading bot and its watchdog (spec: docs/protocol.md).

The one home of the protocol: the client sends with it, the watchdog receives with it.

Pure: bytes in, values out, no sockets and no clock reads (time is passed in). A datagram is

    header (40 bytes) | trader id (1..64 bytes) | JSON payload | HMAC-SHA256 tag (32 bytes)

and the tag covers everything before it. The receiver checks, in this order: size, magic,
version, header fields, trader id -> key, tag, payload, and finally freshness (`SessionGuard`).
Nothing after the tag check runs on unauthenticated bytes, and every rejection is a
`ProtocolError` subclass with a stable `reason` code.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import math
import re
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from killswitch_client import _json
from killswitch_client.errors import AuthError, MalformedError, ReplayError, VersionError
from killswitch_client.states import OrderEventKind, Side, TradingState

MAGIC = b"KSWD"
VERSION = 1
MAX_DATAGRAM = 1400  # fits one Ethernet frame with IPv4/IPv6 + UDP headers: never fragmented
TAG_SIZE = 32
SESSION_ID_SIZE = 16
MAX_TRADER_ID = 64
MAX_SYMBOL = 32
MAX_REASON = 200
MAX_LIMITS_VERSION = 64
MAX_EVENTS = 256
MIN_KEY_SIZE = 32
MAX_ORDER_ID = 64  # characters: venues allow 32-36, room to spare, bounded all the same

_HEADER = struct.Struct("!4sBBBx16sQd")
HEADER_SIZE = _HEADER.size  # 40
_U64_MAX = 2**64 - 1
MAX_QUESTION = 2**32 - 1  # an ack's `ask`, a heartbeat's `answers`
_TRADER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}\Z")


class MessageType(enum.IntEnum):
    TELEMETRY = 1  # trader -> watchdog
    ACK = 2  # watchdog -> trader


# ---------------------------------------------------------------------------------------------
# Events: what a bot reports. Every event carries `ts`, wall seconds since the epoch.


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The bot is alive (the watchdog times liveness by arrival, not by `ts`).

    `answers`: the number of the watchdog's question this heartbeat answers (0: none). The
    client answers an ack that asks (`Ack.ask`) at once, with this heartbeat after everything
    it had to send: everything the bot reported before it is in this datagram or an earlier one.
    """

    ts: float
    answers: int = 0


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Marked account equity (including unrealized PnL) in quote currency."""

    ts: float
    equity: float
    realized_pnl: float
    unrealized_pnl: float


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """The whole position in one symbol: signed quantity (short < 0) and its mark price."""

    ts: float
    symbol: str
    qty: float
    mark_price: float


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One step of one order; `order_id` is the client order id the venue knows it by."""

    ts: float
    kind: OrderEventKind
    symbol: str
    side: Side
    qty: float
    price: float
    reason: str = ""
    realized_pnl: float | None = None
    order_id: str = ""


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """When the bot last heard from its market data feed for a symbol."""

    ts: float
    symbol: str
    last_event_ts: float


@dataclass(frozen=True, slots=True)
class OpenOrdersSnapshot:
    """How many orders the bot believes it has open."""

    ts: float
    count: int


@dataclass(frozen=True, slots=True)
class TraderState:
    """The trader's own view of its state (it may be stricter than the watchdog's)."""

    ts: float
    state: TradingState
    reason: str


TelemetryEvent = (
    Heartbeat
    | AccountSnapshot
    | PositionSnapshot
    | OrderEvent
    | FeedStatus
    | OpenOrdersSnapshot
    | TraderState
)


@dataclass(frozen=True, slots=True)
class Header:
    version: int
    msg_type: MessageType
    trader_id: str
    session_id: bytes
    seq: int
    sent_ts: float


@dataclass(frozen=True, slots=True)
class Telemetry:
    """An authenticated, decoded telemetry datagram (not yet checked for freshness)."""

    header: Header
    events: tuple[TelemetryEvent, ...]


@dataclass(frozen=True, slots=True)
class Ack:
    """The watchdog's answer: its state for this trader and what it has seen.

    `ts` is the watchdog's wall time when it sent the ack (the header's send time). `ask`, when
    not 0, is a question the client answers at once (a heartbeat with `answers=ask`): the
    watchdog saw the venue acknowledge an order it has no report of, and the answer shows
    whether that report is still in flight (see docs/protocol.md).
    """

    state: TradingState
    limits_version: str
    last_seq: int
    reason: str
    ts: float
    ask: int = 0


@dataclass(frozen=True, slots=True)
class AckFrame:
    """A decoded ack with its ordering data: acks are ordered by (`ack.last_seq`, `ack_seq`)."""

    session_id: bytes
    ack_seq: int
    ack: Ack

    @property
    def order_key(self) -> tuple[int, int]:
        return (self.ack.last_seq, self.ack_seq)


# ---------------------------------------------------------------------------------------------
# Encoding


def check_trader_id(trader_id: str) -> str:
    if not _TRADER_ID_RE.match(trader_id):
        raise ValueError(
            f"trader id {trader_id!r} must be 1..64 of [A-Za-z0-9_.-], starting alphanumeric"
        )
    return trader_id


def encode_event(event: TelemetryEvent) -> bytes:
    """One event as its JSON array (the client encodes once, then packs arrays into datagrams)."""
    return _json.dumps(_event_to_wire(event))


def order_array(
    ts: float,
    kind: OrderEventKind,
    symbol: str,
    side: Side,
    qty: float,
    price: float,
    reason: str,
    realized_pnl: float | None,
    order_id: str,
) -> list[object]:
    """An order event's JSON array, from its fields: a client encodes its hottest reports
    without building the event first (`encode_event` of an `OrderEvent` is the same)."""
    return ["ord", ts, kind.name, symbol, side.value, qty, price, reason, realized_pnl, order_id]


def account_array(ts: float, equity: float, realized: float, unrealized: float) -> list[object]:
    """An account snapshot's JSON array, from its fields (see `order_array`)."""
    return ["acct", ts, equity, realized, unrealized]


def position_array(ts: float, symbol: str, qty: float, mark_price: float) -> list[object]:
    """A position snapshot's JSON array, from its fields (see `order_array`)."""
    return ["pos", ts, symbol, qty, mark_price]


def _event_to_wire(event: TelemetryEvent) -> list[object]:
    if isinstance(event, OrderEvent):
        return order_array(
            event.ts,
            event.kind,
            event.symbol,
            event.side,
            event.qty,
            event.price,
            event.reason,
            event.realized_pnl,
            event.order_id,
        )
    if isinstance(event, Heartbeat):
        return ["hb", event.ts, event.answers] if event.answers else ["hb", event.ts]
    if isinstance(event, AccountSnapshot):
        return account_array(event.ts, event.equity, event.realized_pnl, event.unrealized_pnl)
    if isinstance(event, PositionSnapshot):
        return position_array(event.ts, event.symbol, event.qty, event.mark_price)
    if isinstance(event, FeedStatus):
        return ["feed", event.ts, event.symbol, event.last_event_ts]
    if isinstance(event, OpenOrdersSnapshot):
        return ["open", event.ts, event.count]
    return ["state", event.ts, event.state.name, event.reason]


def telemetry_overhead(trader_id: str) -> int:
    """Bytes of a telemetry datagram that are not event arrays (header, id, brackets, tag)."""
    return HEADER_SIZE + len(trader_id.encode()) + 2 + TAG_SIZE


def pack_events(encoded: Iterable[bytes], trader_id: str) -> list[list[bytes]]:
    """Split encoded events into groups that each fit one datagram, keeping their order.

    An event too large for any datagram cannot happen for validated events (strings are
    bounded); it raises ValueError so a sender bug surfaces in tests.
    """
    budget = MAX_DATAGRAM - telemetry_overhead(trader_id)
    if isinstance(encoded, list) and len(encoded) == 1 and len(encoded[0]) <= budget:
        return [encoded]  # the usual urgent report: one event, one datagram
    groups: list[list[bytes]] = []
    current: list[bytes] = []
    used = 0
    for item in encoded:
        cost = len(item) + (1 if current else 0)  # the comma between array elements
        if len(item) > budget:
            raise ValueError(f"one event is {len(item)} bytes, over the {budget}-byte budget")
        if used + cost > budget or len(current) >= MAX_EVENTS:
            groups.append(current)
            current, used, cost = [], 0, len(item)
        current.append(item)
        used += cost
    if current:
        groups.append(current)
    return groups


def encode_telemetry(
    key: bytes,
    trader_id: str,
    session_id: bytes,
    seq: int,
    sent_ts: float,
    encoded_events: Sequence[bytes],
) -> bytes:
    payload = b"[" + b",".join(encoded_events) + b"]"
    return _seal(key, MessageType.TELEMETRY, trader_id, session_id, seq, sent_ts, payload)


def encode_ack(key: bytes, trader_id: str, session_id: bytes, ack_seq: int, ack: Ack) -> bytes:
    fields: list[object] = [ack.state.name, ack.limits_version, ack.last_seq, ack.reason]
    if ack.ask:
        fields.append(ack.ask)
    payload = _json.dumps(fields)
    return _seal(key, MessageType.ACK, trader_id, session_id, ack_seq, ack.ts, payload)


def _seal(
    key: bytes,
    msg_type: MessageType,
    trader_id: str,
    session_id: bytes,
    seq: int,
    sent_ts: float,
    payload: bytes,
) -> bytes:
    tid = trader_id.encode()
    body = (
        _HEADER.pack(MAGIC, VERSION, msg_type, len(tid), session_id, seq, sent_ts) + tid + payload
    )
    if len(body) + TAG_SIZE > MAX_DATAGRAM:
        raise ValueError(f"datagram of {len(body) + TAG_SIZE} bytes is over {MAX_DATAGRAM}")
    return body + hmac_sha256(key, body)


_BLOCK = 64  # SHA-256's block size: RFC 2104 pads the key to it


@functools.lru_cache(maxsize=256)
def _pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """SHA-256 states with the key's inner and outer pads already absorbed (RFC 2104)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of `message`, as `hmac.digest(key, message, "sha256")` computes it, from
    the key's padded states prepared once: a third of the cost on every datagram."""
    inner_pad, outer_pad = _pads(key)
    inner = inner_pad.copy()
    inner.update(message)
    outer = outer_pad.copy()
    outer.update(inner.digest())
    return outer.digest()


# ---------------------------------------------------------------------------------------------
# Decoding


def peek_header(data: bytes) -> Header:
    """Parse and check the unauthenticated header: says which key to verify the tag with."""
    size = len(data)
    if size > MAX_DATAGRAM:
        raise MalformedError("oversized", f"{size} bytes, limit {MAX_DATAGRAM}")
    if size < HEADER_SIZE + 1 + 2 + TAG_SIZE:
        raise MalformedError("truncated", f"{size} bytes is shorter than any datagram")
    magic, version, msg_type, tid_len, session_id, seq, sent_ts = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise MalformedError("bad_magic", f"magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise VersionError("bad_version", f"protocol version {version}, this side speaks {VERSION}")
    if data[7] != 0:
        raise MalformedError("bad_header", "reserved header byte is not zero")
    message_type = _MESSAGE_TYPES.get(msg_type)
    if message_type is None:
        raise MalformedError("bad_type", f"unknown message type {msg_type}")
    if not 1 <= tid_len <= MAX_TRADER_ID or HEADER_SIZE + tid_len + 2 + TAG_SIZE > size:
        raise MalformedError("bad_header", f"trader id length {tid_len} does not fit")
    try:
        trader_id = data[HEADER_SIZE : HEADER_SIZE + tid_len].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedError("bad_header", "trader id is not ASCII") from None
    if not _TRADER_ID_RE.match(trader_id):
        raise MalformedError("bad_header", f"trader id {trader_id!r} has invalid characters")
    if seq == 0 or not math.isfinite(sent_ts) or sent_ts < 0:
        raise MalformedError("bad_header", f"sequence {seq} or send time {sent_ts} is invalid")
    return Header(version, message_type, trader_id, session_id, seq, sent_ts)


# Name and number lookups built once: an enum's constructor and its `__members__` (a new
# mapping proxy per access) cost more than the rest of a field's check.
_MESSAGE_TYPES: Mapping[int, MessageType] = {int(t): t for t in MessageType}
_STATES: Mapping[str, TradingState] = dict(TradingState.__members__)
_ORDER_KINDS: Mapping[str, OrderEventKind] = dict(OrderEventKind.__members__)
_SIDES: Mapping[str, Side] = dict(Side.__members__)


def _verify(data: bytes, key: bytes) -> bytes:
    """Check the tag in constant time; return the payload bytes."""
    body, tag = data[:-TAG_SIZE], data[-TAG_SIZE:]
    if not hmac.compare_digest(hmac_sha256(key, body), tag):
        raise AuthError("bad_hmac", "HMAC tag does not match: forged, corrupted or wrong key")
    return body


def decode_telemetry(data: bytes, key_for: Callable[[str], bytes | None]) -> Telemetry:
    """Authenticate and decode a telemetry datagram. `key_for(trader_id)` is None if unknown."""
    header = peek_header(data)
    if header.msg_type is not MessageType.TELEMETRY:
        raise MalformedError("bad_type", f"expected telemetry, got {header.msg_type.name}")
    key = key_for(header.trader_id)
    if key is None:
        raise AuthError("unknown_trader", f"no key for trader {header.trader_id!r}")
    body = _verify(data, key)
    items = _load_payload(body, HEADER_SIZE + len(header.trader_id))
    if len(items) > MAX_EVENTS:
        raise MalformedError("bad_payload", f"{len(items)} events, limit {MAX_EVENTS}")
    return Telemetry(header, tuple([_event_from_wire(item) for item in items]))


def decode_ack(data: bytes, key: bytes, trader_id: str, session_id: bytes) -> AckFrame:
    """Authenticate and decode an ack meant for this trader's current session."""
    header = peek_header(data)
    if header.msg_type is not MessageType.ACK:
        raise MalformedError("bad_type", f"expected ack, got {header.msg_type.name}")
    if header.trader_id != trader_id:
        raise AuthError("unknown_trader", f"ack for trader {header.trader_id!r}")
    body = _verify(data, key)
    if header.session_id != session_id:
        raise ReplayError("stale_session", "ack for another session of this trader")
    item = _load_payload(body, HEADER_SIZE + len(trader_id))
    if len(item) not in (4, 5):
        raise MalformedError(
            "bad_payload", "ack must be [state, limits_version, last_seq, reason(, ask)]"
        )
    state = _state(item[0])
    limits_version = _text(item[1], MAX_LIMITS_VERSION, "limits_version")
    last_seq = item[2]
    if type(last_seq) is not int or not 0 <= last_seq <= _U64_MAX:
        raise MalformedError("bad_payload", f"last_seq {last_seq!r} is not a u64")
    reason = _text(item[3], MAX_REASON, "reason")
    ask = _question(item[4]) if len(item) == 5 else 0
    ack = Ack(state, limits_version, last_seq, reason, header.sent_ts, ask)
    return AckFrame(header.session_id, header.seq, ack)


def _load_payload(body: bytes, start: int) -> list[object]:
    try:
        value = _json.loads(body[start:])
    except _json.DecodeError as exc:
        raise MalformedError("bad_payload", f"payload is not JSON: {exc}") from None
    if type(value) is not list:
        raise MalformedError("bad_payload", "payload must be a JSON array")
    return value


def _event_from_wire(item: object) -> TelemetryEvent:
    if type(item) is not list or not item:
        raise MalformedError("bad_payload", "an event must be a non-empty JSON array")
    decoder = _DECODERS.get(item[0]) if type(item[0]) is str else None
    if decoder is None:
        raise MalformedError("bad_payload", f"unknown event kind {item[0]!r}")
    arities, build = decoder
    if len(item) not in arities:
        needs = " or ".join(map(str, arities))
        raise MalformedError("bad_payload", f"{item[0]} needs {needs} fields, got {len(item)}")
    return build(item)


def _num(value: object, name: str) -> float:
    # bool is an int subclass: `type(...) is` keeps true/false out of numeric fields.
    if type(value) is float:
        if math.isfinite(value):
            return value
    elif type(value) is int and -(2**53) <= value <= 2**53:
        return float(value)
    raise MalformedError("bad_payload", f"{name} {value!r} is not a finite number")


def _nonneg(value: object, name: str) -> float:
    # The common case in one test (NaN fails every comparison); the rest is judged below.
    if type(value) is float and 0.0 <= value < math.inf:
        return value
    number = _num(value, name)
    if number < 0:
        raise MalformedError("bad_payload", f"{name} {number} is negative")
    return number


def _text(value: object, limit: int, name: str) -> str:
    if type(value) is not str or len(value) > limit:
        raise MalformedError("bad_payload", f"{name} must be a string of at most {limit} chars")
    return value


def _symbol(value: object) -> str:
    if type(value) is not str or not 0 < len(value) <= MAX_SYMBOL or not value.isprintable():
        raise MalformedError("bad_payload", f"symbol {value!r} must be 1..{MAX_SYMBOL} printable")
    return value


def _state(value: object) -> TradingState:
    member = _STATES.get(value) if type(value) is str else None
    if member is None:
        raise MalformedError("bad_payload", f"unknown trading state {value!r}")
    return member


def _heartbeat(item: list[object]) -> Heartbeat:
    answers = _question(item[2]) if len(item) == 3 else 0
    return Heartbeat(ts=_nonneg(item[1], "ts"), answers=answers)


def _question(value: object) -> int:
    """A question's number: 1..2**32-1 (0 is "none", and is never written)."""
    if type(value) is not int or not 0 < value <= MAX_QUESTION:
        raise MalformedError("bad_payload", f"question {value!r} is not in 1..{MAX_QUESTION}")
    return value


def _account(item: list[object]) -> AccountSnapshot:
    return AccountSnapshot(
        ts=_nonneg(item[1], "ts"),
        equity=_num(item[2], "equity"),
        realized_pnl=_num(item[3], "realized_pnl"),
        unrealized_pnl=_num(item[4], "unrealized_pnl"),
    )


def _position(item: list[object]) -> PositionSnapshot:
    return PositionSnapshot(
        ts=_nonneg(item[1], "ts"),
        symbol=_symbol(item[2]),
        qty=_num(item[3], "qty"),
        mark_price=_nonneg(item[4], "mark_price"),
    )


def _order(item: list[object]) -> OrderEvent:
    kind = _ORDER_KINDS.get(item[2]) if type(item[2]) is str else None
    if kind is None:
        raise MalformedError("bad_payload", f"unknown order event kind {item[2]!r}")
    side = _SIDES.get(item[4]) if type(item[4]) is str else None
    if side is None:
        raise MalformedError("bad_payload", f"side {item[4]!r} must be BUY or SELL")
    pnl = item[8]
    return OrderEvent(
        ts=_nonneg(item[1], "ts"),
        kind=kind,
        symbol=_symbol(item[3]),
        side=side,
        qty=_nonneg(item[5], "qty"),
        price=_nonneg(item[6], "price"),
        reason=_text(item[7], MAX_REASON, "reason"),
        realized_pnl=None if pnl is None else _num(pnl, "realized_pnl"),
        order_id=_order_id(item[9]) if len(item) > _ORD_WITHOUT_ID else "",
    )


_ORD_WITHOUT_ID = 9  # the order array before it carried the order id: still accepted


def _order_id(value: object) -> str:
    # Venues' client order ids are printable ASCII; the bound keeps the widest event in one
    # datagram.
    if (
        type(value) is not str
        or len(value) > MAX_ORDER_ID
        or not (value.isascii() and value.isprintable())
    ):
        raise MalformedError(
            "bad_payload", f"order_id must be at most {MAX_ORDER_ID} printable ASCII characters"
        )
    return value


def _feed(item: list[object]) -> FeedStatus:
    return FeedStatus(
        ts=_nonneg(item[1], "ts"),
        symbol=_symbol(item[2]),
        last_event_ts=_nonneg(item[3], "last_event_ts"),
    )


def _open_orders(item: list[object]) -> OpenOrdersSnapshot:
    count = item[2]
    if type(count) is not int or not 0 <= count <= _U64_MAX:
        raise MalformedError("bad_payload", f"open order count {count!r} is not a u64")
    return OpenOrdersSnapshot(ts=_nonneg(item[1], "ts"), count=count)


def _trader_state(item: list[object]) -> TraderState:
    return TraderState(
        ts=_nonneg(item[1], "ts"),
        state=_state(item[2]),
        reason=_text(item[3], MAX_REASON, "reason"),
    )


_DECODERS: Mapping[object, tuple[tuple[int, ...], Callable[[list[object]], TelemetryEvent]]] = {
    "hb": ((2, 3), _heartbeat),
    "acct": ((5,), _account),
    "pos": ((5,), _position),
    "ord": ((_ORD_WITHOUT_ID, _ORD_WITHOUT_ID + 1), _order),
    "feed": ((4,), _feed),
    "open": ((3,), _open_orders),
    "state": ((4,), _trader_state),
}


# ---------------------------------------------------------------------------------------------
# Sessions: ordered by the trader's start time


def new_session_id(started_ns: int, nonce: bytes) -> bytes:
    """A session id: the trader's start time (ns since the epoch, u64 big-endian), then 8 bytes
    of randomness. The start time orders sessions, so an older one can never displace a newer
    one, even at a receiver that never saw the older one."""
    if len(nonce) != 8 or not 0 <= started_ns <= _U64_MAX:
        raise ValueError("a session id needs a u64 start time and an 8-byte nonce")
    return started_ns.to_bytes(8, "big") + nonce


def session_started(session_id: bytes) -> float:
    """The start time (wall seconds) a session id carries."""
    return int.from_bytes(session_id[:8], "big") / 1e9


# ---------------------------------------------------------------------------------------------
# Freshness: the receiver-side replay guard

# Sequence numbers are reserved durably this many at a time, ahead of use: one fsync per block
# instead of one per datagram. A sender that hears no ack for its ack timeout jumps its
# sequence by a block, past anything a receiver that restarted meanwhile may have reserved.
SEQ_BLOCK = 1024


@dataclass(frozen=True, slots=True)
class GuardMark:
    """What a guard must remember across a restart of the receiver.

    `seq_mark` is at or above every sequence the guard has accepted in `session_id`: a guard
    restored from it refuses every sequence at or below the mark.
    """

    session_id: bytes
    seq_mark: int


@dataclass(frozen=True, slots=True)
class Admission:
    """Why a datagram was let in.

    `session_changed`: first datagram of a new session (a trader restart: audit it).
    `late`: it arrived after a higher sequence number (reordered within the window). Its order
    events still count (a fill must never be lost) but its snapshots are older than ones
    already applied, and it is not a sign of life.
    `reserve`: a new mark the receiver must make durable before it acts on the datagram
    (None: the last one still covers it).
    """

    session_changed: bool
    late: bool
    reserve: GuardMark | None = None


class SessionGuard:
    """Per-trader freshness check: only the newest session's new sequence numbers pass.

    - A send time more than `max_skew` seconds from the receiver's wall clock is rejected
      (`clock_skew`), and so is a session that starts more than `max_skew` in the future.
    - A session id that is not the current one starts a new session (a trader restart) only
      if it started later than the current one; an older or equal one is `stale_session`.
    - A higher sequence number than any seen so far is accepted.
    - A lower one is accepted once if it is within `window` of the highest (UDP may reorder);
      a second copy is a `replay`, anything older is `too_old`.
    - `restored` (the last durable `GuardMark`) makes a guard that refuses every sequence at or
      below the mark: what a receiver accepted before a crash cannot be replayed after it.

    Call `admit` only for authenticated datagrams: forged ones must not move the window.
    """

    def __init__(
        self,
        *,
        max_skew: float,
        window: int = 64,
        block: int = SEQ_BLOCK,
        restored: GuardMark | None = None,
    ) -> None:
        if not 0 <= window <= 1024:
            raise ValueError(f"reorder window {window} must be within 0..1024")
        if not max_skew > 0 or block < 1:
            raise ValueError(f"max_skew {max_skew} must be > 0 and block {block} >= 1")
        self._window = window
        self._max_skew = max_skew
        self._block = block
        self._session: bytes | None = None
        self._highest = 0
        self._seen = 0  # bit i set: sequence (highest - i) was accepted
        self._mark = 0  # every accepted sequence is at or below it (durable once reserved)
        if restored is not None:
            self._session = restored.session_id
            self._highest = self._mark = restored.seq_mark
            self._seen = (1 << (window + 1)) - 1  # the whole window counts as seen

    @property
    def session_id(self) -> bytes | None:
        return self._session

    @property
    def highest_seq(self) -> int:
        return self._highest

    def complete(self) -> bool:
        """Every sequence of this session up to the highest was accepted, as far back as the
        window reaches (sequences start at 1; beyond the window a datagram is `too_old`, lost
        for good). A missing one may still be in flight: what it carries is unknown."""
        span = min(self._window, self._highest - 1) + 1
        want = (1 << span) - 1
        return self._seen & want == want

    def exact_mark(self) -> GuardMark | None:
        """The tightest mark (the highest accepted sequence), for a clean shutdown."""
        return None if self._session is None else GuardMark(self._session, self._highest)

    def admit(self, header: Header, now_wall: float) -> Admission:
        """Accept `header` (updating the window) or raise ReplayError with the reason."""
        if abs(now_wall - header.sent_ts) > self._max_skew:
            raise ReplayError(
                "clock_skew", f"sent {header.sent_ts - now_wall:+.3f} s from receiver time"
            )
        if header.session_id != self._session:
            return self._new_session(header, now_wall)
        return self._same_session(header.seq)

    def _new_session(self, header: Header, now_wall: float) -> Admission:
        started = session_started(header.session_id)
        if started > now_wall + self._max_skew:
            raise ReplayError("clock_skew", f"session starts {started - now_wall:+.3f} s ahead")
        if self._session is not None and started <= session_started(self._session):
            raise ReplayError(
                "stale_session",
                f"session started {session_started(self._session) - started:.3f} s "
                "before the current one",
            )
        self._session = header.session_id
        self._highest = header.seq
        self._seen = 1
        return Admission(session_changed=True, late=False, reserve=self._reserve(header.seq))

    def _reserve(self, seq: int) -> GuardMark:
        assert self._session is not None
        self._mark = min(seq + self._block, _U64_MAX)
        return GuardMark(self._session, self._mark)

    def _same_session(self, seq: int) -> Admission:
        if seq > self._highest:
            shift = seq - self._highest
            # A jump past the window forgets it without building a huge shifted integer.
            kept = self._seen << shift if shift <= self._window else 0
            self._seen = (kept | 1) & ((1 << (self._window + 1)) - 1)
            self._highest = seq
            reserve = self._reserve(seq) if seq > self._mark else None
            return Admission(session_changed=False, late=False, reserve=reserve)
        offset = self._highest - seq
        if offset > self._window:
            raise ReplayError(
                "too_old", f"sequence {seq} is {offset} behind (window {self._window})"
            )
        if self._seen >> offset & 1:
            raise ReplayError("replay", f"sequence {seq} was already accepted")
        self._seen |= 1 << offset
        return Admission(session_changed=False, late=True)
