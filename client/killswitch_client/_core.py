"""What both clients share: validation, buffers, sequencing, acks and the fail-closed state.

No sockets and no threads here: the asyncio client (`aio`) and the threaded one (`sync`) are
shells around this core that decide when buffered telemetry leaves and how.

1. Reporting never blocks. `report_*` validate (an invalid value raises `ReportError` at the
   call: nothing is sent), buffer and return; snapshots coalesce (latest wins per kind and
   symbol), order events queue in a bounded buffer (the oldest is dropped and counted when
   full). A SUBMIT leaves in the call, with whatever waited: the bot reports it before its
   order goes out, and the watchdog judges an order the venue acknowledges without one as
   key misuse, so it must never trail the order. What else can breach a limit (order events,
   account and position snapshots) asks the shell to send soon; the rest goes out with the
   next heartbeat.
2. `state` fails closed: the watchdog's last acked state, HALTED when no ack arrived within
   `ack_timeout` (or none yet), and KILLED once KILLED was acked, for good.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, Self

from killswitch_client import _json
from killswitch_client.config import ClientConfig, resolve_config
from killswitch_client.errors import ProtocolError, ReportError, TradingHalted
from killswitch_client.protocol import (
    MAX_ORDER_ID,
    MAX_REASON,
    MAX_SYMBOL,
    SEQ_BLOCK,
    AckFrame,
    FeedStatus,
    Heartbeat,
    OpenOrdersSnapshot,
    TraderState,
    account_array,
    decode_ack,
    encode_event,
    encode_telemetry,
    new_session_id,
    order_array,
    pack_events,
    position_array,
)
from killswitch_client.states import OrderEventKind, Side, TradingState

log = logging.getLogger(__name__)

SENT_HISTORY = 4096  # datagrams whose send time is kept to judge how fresh an ack is

StateCallback = Callable[[TradingState, TradingState], None]


class Clock(Protocol):
    """Wall time (seconds since the epoch) for timestamps, monotonic time for timeouts."""

    def wall(self) -> float: ...

    def monotonic(self) -> float: ...


class _OsClock:
    wall = staticmethod(time.time)
    monotonic = staticmethod(time.monotonic)


@dataclass
class ClientCounters:
    sent: int = 0  # datagrams handed to the socket
    events_sent: int = 0
    dropped: int = 0  # events lost: buffer full, socket backed up, or no socket
    acks: int = 0
    rejected_acks: int = 0  # forged, stale or malformed acks
    send_errors: int = 0


_SnapshotKey = tuple[str, str]


class ClientCore(ABC):
    """Buffers, sequence numbers and acks, guarded by one lock (the sync client reports from
    any thread; the asyncio one pays an uncontended lock)."""

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        trader_id: str | None = None,
        address: str | None = None,
        key_file: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        on_state_change: StateCallback | None = None,
    ) -> None:
        """From keyword arguments (`trader_id`, `address`: a socket path or `host:port`,
        `key_file`: the HMAC key), or from a `ClientConfig`; never a mix."""
        self.config = resolve_config(config, trader_id, address, key_file)
        self.counters = ClientCounters()
        self._clock: Clock = clock or _OsClock()
        # Carries the start time: the watchdog lets only a later session replace this one.
        started_ns = int(self._clock.wall() * 1_000_000_000)
        self.session_id = new_session_id(started_ns, secrets.token_bytes(8))
        self._on_state_change = on_state_change
        self._lock = threading.RLock()
        # Encoded as reported (JSON arrays): a flush only packs, seals and sends them.
        self._snapshots: dict[_SnapshotKey, bytes] = {}
        self._orders: deque[bytes] = deque()
        self._seq = 0
        self._sent_at: deque[float] = deque(maxlen=SENT_HISTORY)  # monotonic, per sequence
        self._last_ack: AckFrame | None = None
        self._last_ack_at = 0.0
        self._killed = False
        self._notified_state = TradingState.HALTED
        self._jump_armed = False  # an ack arrived since the last sequence jump
        self._answering = 0  # the watchdog's question the next flush answers (0: none)
        self._init_shell()

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, on_state_change: StateCallback | None = None
    ) -> Self:
        """A client from a TOML file with `trader_id`, `address` and `key_file` (relative to
        the file)."""
        return cls(ClientConfig.from_file(path), on_state_change=on_state_change)

    @abstractmethod
    def _init_shell(self) -> None:
        """The shell's own state (sockets, tasks or threads), once the core is set up."""

    @abstractmethod
    def flush(self, *, heartbeat: bool = True) -> None:
        """Send everything buffered now (with a heartbeat event first), without waiting."""

    def _heartbeat(self, due: float, now: Callable[[], float]) -> float:
        """One heartbeat: send, re-judge the state; return when the next one is due. A sender
        that was starved (a blocked loop, a busy host) does not burst to catch up."""
        self.flush()
        self._check_state()
        return max(due + self.config.heartbeat_interval, now())

    @abstractmethod
    def _urgent(self) -> None:
        """A report that can breach a limit was buffered: the shell sends it soon."""

    def _send_now(self) -> None:
        """A SUBMIT was buffered: send it, with whatever waited, before the call returns."""
        self.flush(heartbeat=False)

    # -- state ----------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        """The state the bot must obey now. Fail-closed: HALTED unless the last accepted ack
        acknowledges telemetry sent less than `ack_timeout` ago; KILLED once acked, for good."""
        with self._lock:
            if self._killed:
                return TradingState.KILLED
            if self._last_ack is None:
                return TradingState.HALTED
            if self._clock.monotonic() - self._last_ack_at > self.config.ack_timeout:
                return TradingState.HALTED
            return self._last_ack.ack.state

    @property
    def last_ack(self) -> AckFrame | None:
        return self._last_ack

    def check_order(self, *, reduce_only: bool = False) -> None:
        """Raise `TradingHalted` unless the state allows this new order now.

        New orders need ACTIVE or WARN; reduce-only orders pass in every state but KILLED.
        Cancels need no check: they are never refused."""
        state = self.state
        allowed = state.allows_reduce_only if reduce_only else state.allows_new_orders
        if not allowed:
            raise TradingHalted(state, "a reduce-only order" if reduce_only else "a new order")

    def _check_state(self) -> None:
        state = self.state
        with self._lock:
            if state is self._notified_state:
                return
            previous, self._notified_state = self._notified_state, state
        if self._on_state_change is None:
            return
        try:
            self._on_state_change(previous, state)
        except Exception:  # a bug in the bot's callback must not stop heartbeats: log it
            log.exception("killswitch client: on_state_change callback failed")

    # -- reporting (never blocks; invalid values raise ReportError) -------------------------

    def report_order(
        self,
        kind: OrderEventKind | str,
        symbol: str,
        side: Side | str,
        qty: float,
        price: float,
        *,
        reason: str = "",
        realized_pnl: float | None = None,
        ts: float | None = None,
        order_id: str = "",
    ) -> None:
        """An order's step (submit, ack, reject with reason, fill, cancel): sent at once (a
        SUBMIT before this returns: call it before the order goes out).

        `order_id` is the client order id the venue knows the order by: with it the watchdog
        matches this report with the venue's own event for the same order."""
        kind_ = _KINDS.get(kind) if isinstance(kind, str) else None
        if kind_ is None:
            raise ReportError(f"report_order: kind {kind!r} is not one of {', '.join(_KINDS)}")
        side_ = _SIDES.get(side) if isinstance(side, str) else None
        if side_ is None:
            raise ReportError(f"report_order: side {side!r} must be BUY or SELL")
        event = _json.dumps(
            order_array(
                self._stamp(ts, "report_order"),
                kind_,
                _symbol(symbol, "report_order"),
                side_,
                _nonneg(qty, "report_order: qty"),
                _nonneg(price, "report_order: price"),
                _clean(reason),
                None if realized_pnl is None else _num(realized_pnl, "report_order: realized_pnl"),
                _order_id(order_id),
            )
        )
        with self._lock:
            if len(self._orders) >= self.config.max_pending_orders:
                self._orders.popleft()
                self.counters.dropped += 1
            self._orders.append(event)
        if kind_ is OrderEventKind.SUBMIT:
            self._send_now()
        else:
            self._urgent()

    def rehearse_report(self, symbol: str, order_id: str) -> None:
        """Run what reporting a SUBMIT costs (validate, encode, authenticate a datagram) and
        throw the result away: nothing is buffered, sent, counted or sequenced. A bot's heater
        calls it between orders, so that the SUBMIT sent before an order does not run cold."""
        event = _json.dumps(
            order_array(
                self._stamp(None, "rehearse_report"),
                OrderEventKind.SUBMIT,
                _symbol(symbol, "rehearse_report"),
                Side.BUY,
                _nonneg(1.0, "rehearse_report: qty"),
                _nonneg(1.0, "rehearse_report: price"),
                _clean(""),
                None,
                _order_id(order_id),
            )
        )
        config = self.config
        for group in pack_events([event], config.trader_id):
            encode_telemetry(
                config.key, config.trader_id, self.session_id, self._seq, self._clock.wall(), group
            )

    def report_account(
        self,
        equity: float,
        realized_pnl: float,
        unrealized_pnl: float,
        *,
        ts: float | None = None,
    ) -> None:
        event = account_array(
            self._stamp(ts, "report_account"),
            _num(equity, "report_account: equity"),
            _num(realized_pnl, "report_account: realized_pnl"),
            _num(unrealized_pnl, "report_account: unrealized_pnl"),
        )
        self._put_snapshot(("acct", ""), _json.dumps(event))
        self._urgent()  # equity moves daily loss and drawdown: a breach must not wait

    def report_position(
        self, symbol: str, qty: float, mark_price: float, *, ts: float | None = None
    ) -> None:
        event = position_array(
            self._stamp(ts, "report_position"),
            _symbol(symbol, "report_position"),
            _num(qty, "report_position: qty"),
            _nonneg(mark_price, "report_position: mark_price"),
        )
        self._put_snapshot(("pos", symbol), _json.dumps(event))
        self._urgent()  # a position can breach its notional limits

    def report_feed(self, symbol: str, last_event_ts: float, *, ts: float | None = None) -> None:
        event = FeedStatus(
            ts=self._stamp(ts, "report_feed"),
            symbol=_symbol(symbol, "report_feed"),
            last_event_ts=_nonneg(last_event_ts, "report_feed: last_event_ts"),
        )
        self._put_snapshot(("feed", symbol), encode_event(event))

    def report_open_orders(self, count: int, *, ts: float | None = None) -> None:
        if type(count) is not int or not 0 <= count < 2**63:
            raise ReportError(f"report_open_orders: count {count!r} is not an int >= 0")
        event = OpenOrdersSnapshot(ts=self._stamp(ts, "report_open_orders"), count=count)
        self._put_snapshot(("open", ""), encode_event(event))

    def report_state(
        self, state: TradingState | int, reason: str = "", *, ts: float | None = None
    ) -> None:
        """The bot's own view of its state (recorded by the watchdog, not obeyed)."""
        if state not in _STATES:
            raise ReportError(f"report_state: {state!r} is not a trading state")
        event = TraderState(
            ts=self._stamp(ts, "report_state"), state=TradingState(state), reason=_clean(reason)
        )
        self._put_snapshot(("state", ""), encode_event(event))

    def _stamp(self, ts: float | None, call: str) -> float:
        """The event's time: now by default."""
        return self._clock.wall() if ts is None else _nonneg(ts, f"{call}: ts")

    def _put_snapshot(self, key: _SnapshotKey, event: bytes) -> None:
        with self._lock:
            snapshots = self._snapshots
            if key not in snapshots and len(snapshots) >= self.config.max_snapshot_keys:
                self.counters.dropped += 1
                return
            snapshots[key] = event

    # -- datagrams --------------------------------------------------------------------------

    def _take(self, *, heartbeat: bool) -> list[list[bytes]]:
        """Drain the buffers (with a heartbeat first if asked) into datagram-sized groups of
        encoded events. Call with the lock held.

        An answer to the watchdog's question is a heartbeat after everything else: whatever
        the bot reported before it leaves in the same datagram or an earlier one."""
        events: list[bytes] = []
        answers, self._answering = self._answering, 0
        if heartbeat and not answers:
            events.append(encode_event(Heartbeat(ts=self._clock.wall())))
        events.extend(self._snapshots.values())
        events.extend(self._orders)
        self._snapshots.clear()
        self._orders.clear()
        if answers:
            events.append(encode_event(Heartbeat(ts=self._clock.wall(), answers=answers)))
        if not events:
            return []
        return pack_events(events, self.config.trader_id)

    def _seal(self, group: list[bytes]) -> bytes:
        """The next datagram for `group`: a new sequence number, its send time recorded."""
        self._jump_if_unheard()
        self._seq += 1
        self._sent_at.append(self._clock.monotonic())
        config = self.config
        return encode_telemetry(
            config.key, config.trader_id, self.session_id, self._seq, self._clock.wall(), group
        )

    def _lose(self) -> None:
        """A datagram the shell could not send: its sequence number is used all the same, so
        the watchdog sees that something is missing (and never takes a later answer as proof
        that nothing is in flight). Call with the lock held."""
        self._seq += 1
        self._sent_at.append(self._clock.monotonic())

    def _jump_if_unheard(self) -> None:
        """After an ack silence, skip a block of sequence numbers (once per silence).

        A watchdog that crashed and restarted refuses every sequence up to the mark it had
        reserved, which is at most one block above what it accepted: skipping a block gets this
        session heard again at once, instead of after a block of refused datagrams.
        """
        if not self._jump_armed:
            return
        if self._clock.monotonic() - self._last_ack_at <= self.config.ack_timeout:
            return
        self._jump_armed = False
        self._seq += SEQ_BLOCK
        self._sent_at.clear()  # the send-time history is indexed by contiguous sequences

    def _on_datagram(self, data: bytes) -> None:
        config = self.config
        try:
            frame = decode_ack(data, config.key, config.trader_id, self.session_id)
        except ProtocolError:
            self.counters.rejected_acks += 1
            return
        with self._lock:
            taken = self._take_ack(frame)
            if taken and frame.ack.ask:
                # The watchdog saw the venue acknowledge an order it has no report of: answer
                # at once, after what is buffered (see `_take`), so it knows none is in flight.
                self._answering = frame.ack.ask
        if taken and frame.ack.ask:
            self.flush(heartbeat=False)
        self._check_state()

    def _take_ack(self, frame: AckFrame) -> bool:
        if frame.ack.state is TradingState.KILLED:
            self._killed = True  # authentic and for this session: latch even if out of order
        previous = self._last_ack
        sent_at = self._sent_time(frame.ack.last_seq)
        if sent_at is None or (previous is not None and frame.order_key <= previous.order_key):
            self.counters.rejected_acks += 1  # replayed, reordered, or claims unsent data
            return False
        self.counters.acks += 1
        self._last_ack = frame
        self._jump_armed = True
        # Fresh as of when the acked telemetry left, not when the ack was read: an ack that
        # sat in the socket while the bot was busy proves nothing about the watchdog now.
        self._last_ack_at = max(self._last_ack_at, sent_at)
        return True

    def _sent_time(self, seq: int) -> float | None:
        """When datagram `seq` was sent (monotonic), None if never sent or long forgotten."""
        index = seq - (self._seq - len(self._sent_at) + 1)
        if seq > self._seq or index < 0:
            return None
        return self._sent_at[index]

    def _send_error(self, exc: BaseException) -> None:
        self.counters.send_errors += 1
        errors = self.counters.send_errors
        if errors in (1, 10, 100) or errors % 1000 == 0:
            log.warning("killswitch client: watchdog unreachable: %s (%d errors)", exc, errors)


_STATES = frozenset(TradingState)
# StrEnum members hash and compare like their values: "FILL" finds OrderEventKind.FILL.
_KINDS: dict[str, OrderEventKind] = {kind: kind for kind in OrderEventKind}
_SIDES: dict[str, Side] = {side: side for side in Side}


def _clean(reason: str) -> str:
    """Bound a reason and replace unprintable characters: every event must fit one datagram."""
    reason = reason[:MAX_REASON] if type(reason) is str else repr(reason)[:MAX_REASON]
    if reason.isprintable():
        return reason
    return "".join(char if char.isprintable() else "?" for char in reason)


def _num(value: float, what: str) -> float:
    # Subclasses (numpy.float64) are fine; bool is an int but never a quantity.
    if isinstance(value, float | int) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ReportError(f"{what} {value!r} is not a finite number")


def _nonneg(value: float, what: str) -> float:
    number = _num(value, what)
    if number < 0:
        raise ReportError(f"{what} {value!r} is negative")
    return number


def _symbol(symbol: str, call: str) -> str:
    if type(symbol) is str and 0 < len(symbol) <= MAX_SYMBOL and symbol.isprintable():
        return symbol
    raise ReportError(f"{call}: symbol {symbol!r} must be 1..{MAX_SYMBOL} printable characters")


def _order_id(order_id: str) -> str:
    if (
        type(order_id) is str
        and len(order_id) <= MAX_ORDER_ID
        and order_id.isascii()
        and order_id.isprintable()
    ):
        return order_id
    raise ReportError(
        f"report_order: order_id {order_id!r} must be at most {MAX_ORDER_ID} printable ASCII"
    )
