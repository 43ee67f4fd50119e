"""The watchdog client that any trading bot embeds.

Two promises to the bot:

1. Reporting never blocks and never raises. `report_*` are plain sync calls that validate,
   buffer and return; snapshots coalesce (latest wins per kind and symbol), order events queue
   in a bounded buffer (the oldest is dropped and counted when full). Buffered telemetry goes
   out with every heartbeat. What can breach a limit (order events: submits, fills, rejects;
   account and position snapshots) also goes out at the next loop iteration
   (`loop.call_soon`) when the socket is writable, with everything else buffered by then: the
   reports of one iteration share one datagram. Send errors (no watchdog socket, refused) are
   counted and the socket is reopened on the next heartbeat.
2. `state` fails closed: it is the watchdog's last acked state, HALTED when no ack arrived
   within `ack_timeout` (or none yet), and KILLED once KILLED was acked, for good.

Call the report methods from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
import stat
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from risk.events import (
    MAX_ORDER_ID,
    AccountSnapshot,
    EventSource,
    FeedStatus,
    Heartbeat,
    OpenOrdersSnapshot,
    OrderEvent,
    OrderEventKind,
    PositionSnapshot,
    Side,
)
from risk.state import TradingState
from watchdog.clock import Clock, SystemClock
from watchdog.errors import ConfigError, ProtocolError
from watchdog.protocol import (
    MAX_REASON,
    MAX_SYMBOL,
    MIN_KEY_SIZE,
    SEQ_BLOCK,
    AckFrame,
    TelemetryEvent,
    TraderState,
    check_trader_id,
    decode_ack,
    encode_event,
    encode_telemetry,
    new_session_id,
    pack_events,
)

log = logging.getLogger(__name__)

DEFAULT_SOCKET_PATH = "/run/killswitch-watchdog/telemetry.sock"

SENT_HISTORY = 4096  # datagrams whose send time is kept to judge how fresh an ack is

StateCallback = Callable[[TradingState, TradingState], None]


def load_key(path: str | os.PathLike[str]) -> bytes:
    """Read an HMAC key file: hex text (whitespace ignored), at least 32 bytes of key.

    Refuses a file that other users can read or write: the key is what makes telemetry
    trustworthy.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read key file {path}: {exc}") from None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise ConfigError(f"key file {path} is accessible to other users: chmod o-rwx it")
    try:
        key = bytes.fromhex("".join(text.split()))
    except ValueError:
        raise ConfigError(f"key file {path} is not hex text") from None
    if len(key) < MIN_KEY_SIZE:
        raise ConfigError(f"key file {path} holds {len(key)} bytes, need at least {MIN_KEY_SIZE}")
    return key


@dataclass(frozen=True)
class ClientConfig:
    """What a bot needs to talk to its watchdog. `address`: a socket path, or (host, port)."""

    trader_id: str
    key: bytes = field(repr=False)
    address: str | tuple[str, int] = DEFAULT_SOCKET_PATH
    heartbeat_interval: float = 0.1
    ack_timeout: float = 1.0
    max_pending_orders: int = 1024
    max_snapshot_keys: int = 256
    max_write_buffer: int = 64 * 1024

    def __post_init__(self) -> None:
        try:
            check_trader_id(self.trader_id)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if len(self.key) < MIN_KEY_SIZE:
            raise ConfigError(f"HMAC key must be at least {MIN_KEY_SIZE} bytes")
        if not 0.001 <= self.heartbeat_interval <= 10:
            raise ConfigError(f"heartbeat_interval {self.heartbeat_interval} not in 0.001..10 s")
        if not self.ack_timeout > self.heartbeat_interval:
            raise ConfigError("ack_timeout must be longer than heartbeat_interval")
        if self.max_pending_orders < 1 or self.max_snapshot_keys < 1:
            raise ConfigError("buffer bounds must be at least 1")


@dataclass
class ClientCounters:
    sent: int = 0  # datagrams handed to the socket
    events_sent: int = 0
    dropped: int = 0  # events lost: buffer full, socket backed up, or no socket
    invalid: int = 0  # report_* calls with invalid values (not sent)
    acks: int = 0
    rejected_acks: int = 0  # forged, stale or malformed acks
    send_errors: int = 0


_SnapshotKey = tuple[str, str]


class WatchdogClient:
    def __init__(
        self,
        config: ClientConfig,
        *,
        clock: Clock | None = None,
        on_state_change: StateCallback | None = None,
    ) -> None:
        self.config = config
        self.counters = ClientCounters()
        self._clock: Clock = clock or SystemClock()
        # Carries the start time: the watchdog lets only a later session replace this one.
        started_ns = int(self._clock.wall() * 1_000_000_000)
        self.session_id = new_session_id(started_ns, secrets.token_bytes(8))
        self._on_state_change = on_state_change
        self._snapshots: dict[_SnapshotKey, TelemetryEvent] = {}
        self._orders: deque[OrderEvent] = deque()
        self._seq = 0
        self._sent_at: deque[float] = deque(maxlen=SENT_HISTORY)  # monotonic, per sequence
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._broken = False
        self._flush_handle: asyncio.Handle | None = None
        self._last_ack: AckFrame | None = None
        self._last_ack_at = 0.0
        self._killed = False
        self._notified_state = TradingState.HALTED
        self._jump_armed = False  # an ack arrived since the last sequence jump

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("WatchdogClient already started")
        self._loop = asyncio.get_running_loop()
        await self._connect()
        self._task = asyncio.create_task(self._heartbeat_loop(), name="watchdog-heartbeat")
        self._task.add_done_callback(_log_crash)

    async def close(self) -> None:
        """Stop heartbeats (the watchdog will notice) and close the socket."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._drop_transport()

    async def __aenter__(self) -> WatchdogClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- state ----------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        """The state the bot must obey now. Fail-closed: HALTED unless the last accepted ack
        acknowledges telemetry sent less than `ack_timeout` ago; KILLED once acked, for good."""
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

    def _check_state(self) -> None:
        state = self.state
        if state is self._notified_state:
            return
        previous, self._notified_state = self._notified_state, state
        if self._on_state_change is None:
            return
        try:
            self._on_state_change(previous, state)
        except Exception:  # a bug in the bot's callback must not stop heartbeats: log it
            log.exception("on_state_change callback failed")

    # -- reporting (sync, never raises, never blocks) ---------------------------------------

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
        """An order's step (submit, ack, reject with reason, fill, cancel): sent at once.

        `order_id` is the client order id the venue knows the order by: with it the watchdog
        matches this report with the venue's own event for the same order."""
        kind_ = _KINDS.get(kind) if isinstance(kind, str) else None
        side_ = _SIDES.get(side) if isinstance(side, str) else None
        now = self._stamp(ts)
        if not (
            now is not None
            and kind_ is not None
            and side_ is not None
            and _ok_symbol(symbol)
            and _ok_nonneg(qty)
            and _ok_nonneg(price)
            and (realized_pnl is None or _ok_num(realized_pnl))
            and _ok_order_id(order_id)
        ):
            self._invalid("order", symbol)
            return
        event = OrderEvent(
            ts=now,
            kind=kind_,
            symbol=symbol,
            side=side_,
            qty=float(qty),
            price=float(price),
            reason=_clean(reason),
            realized_pnl=None if realized_pnl is None else float(realized_pnl),
            source=EventSource.TELEMETRY,
            order_id=order_id,
        )
        if len(self._orders) >= self.config.max_pending_orders:
            self._orders.popleft()
            self.counters.dropped += 1
        self._orders.append(event)
        self._flush_soon()

    def report_account(
        self,
        equity: float,
        realized_pnl: float,
        unrealized_pnl: float,
        *,
        ts: float | None = None,
    ) -> None:
        now = self._stamp(ts)
        if not (
            now is not None
            and _ok_num(equity)
            and _ok_num(realized_pnl)
            and _ok_num(unrealized_pnl)
        ):
            self._invalid("account", "")
            return
        event = AccountSnapshot(
            ts=now,
            equity=float(equity),
            realized_pnl=float(realized_pnl),
            unrealized_pnl=float(unrealized_pnl),
            source=EventSource.TELEMETRY,
        )
        self._put_snapshot(("acct", ""), event)
        self._flush_soon()  # equity moves daily loss and drawdown: a breach must not wait

    def report_position(
        self, symbol: str, qty: float, mark_price: float, *, ts: float | None = None
    ) -> None:
        now = self._stamp(ts)
        if not (now is not None and _ok_symbol(symbol) and _ok_num(qty) and _ok_nonneg(mark_price)):
            self._invalid("position", symbol)
            return
        event = PositionSnapshot(
            ts=now,
            symbol=symbol,
            qty=float(qty),
            mark_price=float(mark_price),
            source=EventSource.TELEMETRY,
        )
        self._put_snapshot(("pos", symbol), event)
        self._flush_soon()  # a position can breach its notional limits

    def report_feed(self, symbol: str, last_event_ts: float, *, ts: float | None = None) -> None:
        now = self._stamp(ts)
        if not (now is not None and _ok_symbol(symbol) and _ok_nonneg(last_event_ts)):
            self._invalid("feed", symbol)
            return
        self._put_snapshot(
            ("feed", symbol), FeedStatus(ts=now, symbol=symbol, last_event_ts=last_event_ts)
        )

    def report_open_orders(self, count: int, *, ts: float | None = None) -> None:
        now = self._stamp(ts)
        if now is None or type(count) is not int or not 0 <= count < 2**63:
            self._invalid("open orders", "")
            return
        event = OpenOrdersSnapshot(ts=now, count=count, source=EventSource.TELEMETRY)
        self._put_snapshot(("open", ""), event)

    def report_state(
        self, state: TradingState, reason: str = "", *, ts: float | None = None
    ) -> None:
        now = self._stamp(ts)
        if now is None or state not in _STATES:
            self._invalid("state", "")
            return
        self._put_snapshot(
            ("state", ""),
            TraderState(ts=now, state=TradingState(state), reason=_clean(reason)),
        )

    def _stamp(self, ts: float | None) -> float | None:
        """The event's time: now by default; None if the caller passed an invalid one."""
        if ts is None:
            return self._clock.wall()
        return float(ts) if _ok_nonneg(ts) else None

    def _put_snapshot(self, key: _SnapshotKey, event: TelemetryEvent) -> None:
        snapshots = self._snapshots
        if key not in snapshots and len(snapshots) >= self.config.max_snapshot_keys:
            self.counters.dropped += 1
            return
        snapshots[key] = event

    def _invalid(self, what: str, symbol: object) -> None:
        self.counters.invalid += 1
        log.warning("invalid %s report not sent (symbol %r)", what, str(symbol)[:MAX_SYMBOL])

    # -- sending --------------------------------------------------------------------------

    def _flush_soon(self) -> None:
        """Send what is buffered at the next loop iteration: one datagram for the reports of
        this one, however many there are."""
        if self._flush_handle is None and self._loop is not None and self._transport is not None:
            self._flush_handle = self._loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_handle = None
        transport = self._transport
        if transport is None or _buffered(transport) > 0:
            return  # backed up: the next heartbeat takes them
        self.flush(heartbeat=False)

    def flush(self, *, heartbeat: bool = True) -> None:
        """Send everything buffered now (with a heartbeat event). The heartbeat loop calls this.

        Without a working socket the buffers are kept (bounded) for when the watchdog is back.
        """
        if self._transport is None or self._broken:
            return
        events: list[TelemetryEvent] = []
        if heartbeat:
            events.append(Heartbeat(ts=self._clock.wall()))
        events.extend(self._snapshots.values())
        events.extend(self._orders)
        self._snapshots.clear()
        self._orders.clear()
        self._send(events)

    def _send(self, events: list[TelemetryEvent]) -> None:
        if not events:
            return
        transport = self._transport
        assert transport is not None
        config = self.config
        groups = pack_events([encode_event(event) for event in events], config.trader_id)
        for group in groups:
            if _buffered(transport) > config.max_write_buffer:
                self.counters.dropped += len(group)
                continue
            self._jump_if_unheard()
            self._seq += 1
            self._sent_at.append(self._clock.monotonic())
            data = encode_telemetry(
                config.key, config.trader_id, self.session_id, self._seq, self._clock.wall(), group
            )
            transport.sendto(data)  # errors come back through error_received, not raised
            if self._broken:
                self.counters.dropped += len(group)
                continue
            self.counters.sent += 1
            self.counters.events_sent += len(group)

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

    async def _heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.heartbeat_interval
        next_at = loop.time()
        while True:
            if self._transport is None or self._broken:
                await self._connect()
            self.flush()
            self._check_state()
            next_at += interval
            now = loop.time()
            if next_at < now:  # the loop was blocked: do not burst to catch up
                next_at = now
            await asyncio.sleep(next_at - now)

    async def _connect(self) -> None:
        """(Re)open the socket; on failure count it and try again at the next heartbeat."""
        self._drop_transport()
        assert self._loop is not None
        address = self.config.address
        try:
            if isinstance(address, str):
                transport, _ = await self._loop.create_datagram_endpoint(
                    lambda: _ClientProtocol(self), sock=_unix_socket(address)
                )
            else:
                transport, _ = await self._loop.create_datagram_endpoint(
                    lambda: _ClientProtocol(self), remote_addr=address
                )
        except OSError as exc:
            self._send_error(exc)
            return
        self._transport = transport
        self._broken = False

    def _drop_transport(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _send_error(self, exc: BaseException) -> None:
        self.counters.send_errors += 1
        self._broken = True
        if self.counters.send_errors in (1, 10, 100) or self.counters.send_errors % 1000 == 0:
            log.warning("watchdog unreachable: %s (%d errors)", exc, self.counters.send_errors)

    def _on_datagram(self, data: bytes) -> None:
        config = self.config
        try:
            frame = decode_ack(data, config.key, config.trader_id, self.session_id)
        except ProtocolError:
            self.counters.rejected_acks += 1
            return
        if frame.ack.state is TradingState.KILLED:
            self._killed = True  # authentic and for this session: latch even if out of order
        previous = self._last_ack
        sent_at = self._sent_time(frame.ack.last_seq)
        if sent_at is None or (previous is not None and frame.order_key <= previous.order_key):
            self.counters.rejected_acks += 1  # replayed, reordered, or claims unsent data
            self._check_state()
            return
        self.counters.acks += 1
        self._last_ack = frame
        self._jump_armed = True
        # Fresh as of when the acked telemetry left, not when the ack was read: an ack that
        # sat in the socket while the loop was blocked proves nothing about the watchdog now.
        self._last_ack_at = max(self._last_ack_at, sent_at)
        self._check_state()

    def _sent_time(self, seq: int) -> float | None:
        """When datagram `seq` was sent (monotonic), None if never sent or long forgotten."""
        index = seq - (self._seq - len(self._sent_at) + 1)
        if seq > self._seq or index < 0:
            return None
        return self._sent_at[index]


def _log_crash(task: asyncio.Task[None]) -> None:
    # The task is awaited (and its error raised) in close(); say at once that heartbeats
    # stopped, because the watchdog will soon treat this bot as hung.
    if not task.cancelled() and task.exception() is not None:
        log.error("watchdog heartbeat loop stopped", exc_info=task.exception())


def _unix_socket(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind("")  # Linux autobind: a unique abstract address the watchdog answers to
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


_STATES = frozenset(TradingState)
# StrEnum members hash and compare like their values: "FILL" finds OrderEventKind.FILL.
_KINDS: dict[str, OrderEventKind] = {kind: kind for kind in OrderEventKind}
_SIDES: dict[str, Side] = {side: side for side in Side}


def _buffered(transport: asyncio.DatagramTransport) -> int:
    # Selector datagram transports have it at run time; typeshed only declares it on
    # WriteTransport.
    size: int = transport.get_write_buffer_size()  # type: ignore[attr-defined]
    return size


def _clean(reason: str) -> str:
    """Bound a reason and replace unprintable characters: every event must fit one datagram."""
    reason = reason[:MAX_REASON] if type(reason) is str else repr(reason)[:MAX_REASON]
    if reason.isprintable():
        return reason
    return "".join(char if char.isprintable() else "?" for char in reason)


def _ok_num(value: float) -> bool:
    # Subclasses (numpy.float64) are fine; bool is an int but never a quantity.
    return isinstance(value, float | int) and not isinstance(value, bool) and math.isfinite(value)


def _ok_nonneg(value: float) -> bool:
    return _ok_num(value) and value >= 0


def _ok_symbol(symbol: str) -> bool:
    return type(symbol) is str and 0 < len(symbol) <= MAX_SYMBOL and symbol.isprintable()


def _ok_order_id(order_id: str) -> bool:
    return (
        type(order_id) is str
        and len(order_id) <= MAX_ORDER_ID
        and order_id.isascii()
        and order_id.isprintable()
    )


class _ClientProtocol(asyncio.DatagramProtocol):
    def __init__(self, client: WatchdogClient) -> None:
        self._client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._client._on_datagram(data)

    def error_received(self, exc: Exception) -> None:
        self._client._send_error(exc)
