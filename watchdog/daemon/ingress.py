"""The watchdog's datagram endpoint: authenticate, decode, guard, hand over, answer.

Everything that arrives is untrusted. A datagram reaches `on_batch` only after its size,
header, HMAC tag (with that trader's key), payload and freshness (`SessionGuard`) all passed;
anything else is dropped and counted by reason, and never counts as a sign of life. Acks go
back to the address of the trader's last *accepted* datagram, so a forger cannot redirect them.
The replay guard's memory outlives the process: a new sequence mark is handed to `on_reserve`
(which makes it durable) before the datagram that needs it is delivered, and a restarted
ingress is built from the last marks (`IngressConfig.restored`).

Unix datagram sockets: the client binds an abstract address (Linux autobind) so it can receive
acks; the watchdog's socket file is created with mode 0660 (the group decides who may send).
It is read with the kernel's sender pid (`unixcred`), handed to `on_sender` for every accepted
datagram: what ties the trader to its process (`liveness`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import killswitch_client.protocol as wire
from killswitch_client.errors import ProtocolError
from killswitch_client.protocol import (
    MIN_KEY_SIZE,
    Ack,
    GuardMark,
    SessionGuard,
    check_trader_id,
    decode_telemetry,
    encode_ack,
    peek_header,
)
from killswitch_client.states import OrderEventKind as WireKind
from killswitch_client.states import Side as WireSide
from killswitch_client.states import TradingState as WireState

from risk.events import (
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
from watchdog.clock import Clock
from watchdog.daemon.unixcred import CredentialEndpoint
from watchdog.errors import IngressError

log = logging.getLogger(__name__)

RECEIVE_BUFFER = 1 << 20  # absorbs a burst while the loop is busy deciding


# What an accepted datagram delivers: the risk engine's events, and the trader's own state
# report (recorded, not obeyed) as the protocol carries it.
RiskEvent = (
    Heartbeat | AccountSnapshot | PositionSnapshot | OrderEvent | FeedStatus | OpenOrdersSnapshot
)
IngressEvent = RiskEvent | wire.TraderState

# on_batch(trader_id, session_id, events, session_changed): an accepted datagram's events.
BatchHandler = Callable[[str, bytes, Sequence[IngressEvent], bool], None]


@dataclass(frozen=True, slots=True)
class InvalidBurst:
    """Many rejected datagrams in a short time: someone is probing, or a sender is broken."""

    count: int
    window: float
    reasons: Mapping[str, int]


@dataclass(frozen=True)
class IngressConfig:
    keys: Mapping[str, bytes] = field(repr=False)
    unix_path: Path | None = None
    udp: tuple[str, int] | None = None  # port 0 picks a free port (see Ingress.udp_address)
    socket_mode: int = 0o660
    reorder_window: int = 64
    # Per trader: the oldest (or most future) send time accepted, in seconds. The daemon
    # derives it from the trader's heartbeat limits (`TraderConfig.max_send_age`).
    max_send_age: Mapping[str, float] = field(default_factory=dict)
    # Per trader: the guard state persisted by the previous run (replays after a restart).
    restored: Mapping[str, GuardMark] = field(default_factory=dict)
    burst_threshold: int = 50
    burst_window: float = 1.0
    # Traders supervised without telemetry: their datagrams are refused as `telemetry_none`.
    silent: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.unix_path is None and self.udp is None:
            raise ValueError("ingress needs a Unix socket path, a UDP address, or both")
        for trader_id, key in self.keys.items():
            check_trader_id(trader_id)
            if len(key) < MIN_KEY_SIZE:
                raise ValueError(f"trader {trader_id}: HMAC key shorter than {MIN_KEY_SIZE} bytes")
            if not self.max_send_age.get(trader_id, 0.0) > 0:
                raise ValueError(f"trader {trader_id}: needs a max_send_age above 0 s")
        if self.burst_threshold < 1 or self.burst_window <= 0:
            raise ValueError("burst_threshold must be >= 1 and burst_window > 0")


class BurstDetector:
    """Pure: counts rejects in fixed windows and reports a window once it reaches the threshold."""

    def __init__(self, threshold: int, window: float) -> None:
        self._threshold = threshold
        self._window = window
        self._start = float("-inf")
        self._reasons: dict[str, int] = {}
        self._count = 0

    def record(self, now: float, reason: str) -> InvalidBurst | None:
        if now - self._start > self._window:
            self._start, self._count, self._reasons = now, 0, {}
        self._count += 1
        self._reasons[reason] = self._reasons.get(reason, 0) + 1
        if self._count != self._threshold:
            return None
        return InvalidBurst(self._count, self._window, dict(self._reasons))


@dataclass
class _Peer:
    guard: SessionGuard
    transport: asyncio.DatagramTransport | None = None
    address: Any = None
    ack_seq: int = 0


class Ingress:
    """Binds the endpoints, validates every datagram, calls back with accepted batches."""

    def __init__(
        self,
        config: IngressConfig,
        *,
        clock: Clock,
        on_batch: BatchHandler,
        on_reject: Callable[[str], None] | None = None,
        on_invalid_burst: Callable[[InvalidBurst], None] | None = None,
        on_reserve: Callable[[str, GuardMark], None] | None = None,
        on_sender: Callable[[str, int | None], None] | None = None,
    ) -> None:
        self._config = config
        self._on_reserve = on_reserve  # makes a guard mark durable; called before on_batch
        self._on_sender = on_sender
        self._clock = clock
        self._on_batch = on_batch
        self._on_reject = on_reject
        self._on_invalid_burst = on_invalid_burst
        self._keys = dict(config.keys)
        self._peers = {
            trader_id: _Peer(
                SessionGuard(
                    window=config.reorder_window,
                    max_skew=config.max_send_age[trader_id],
                    restored=config.restored.get(trader_id),
                )
            )
            for trader_id in self._keys
        }
        self._burst = BurstDetector(config.burst_threshold, config.burst_window)
        self._transports: list[asyncio.DatagramTransport] = []
        self._unix_inode: int | None = None
        self.rejects: dict[str, int] = {}
        self.accepted_datagrams = 0  # authentic and fresh (late ones included)
        self.late_datagrams = 0  # accepted out of order: only their order events delivered
        self.accepted_events = 0  # events delivered to on_batch
        self.ack_errors = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self._config.unix_path is not None:
                # Read with the kernel's sender pid: it ties the trader to its process.
                endpoint = CredentialEndpoint(
                    self._bind_unix(self._config.unix_path), self._ack_error
                )
                endpoint.start(
                    lambda data, address, pid: self.handle_datagram(
                        data, address, endpoint, sender_pid=pid
                    )
                )
                self._transports.append(endpoint)
            if self._config.udp is not None:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _IngressProtocol(self), local_addr=self._config.udp
                )
                transport.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER
                )
                self._transports.append(transport)
        except OSError as exc:
            await self.close()
            raise IngressError(f"cannot bind the telemetry endpoint: {exc}") from exc

    async def close(self) -> None:
        for transport in self._transports:
            transport.close()
        self._transports.clear()
        path = self._config.unix_path
        if path is not None and self._unix_inode is not None:
            # Remove our socket file only: a newer watchdog may already own the path.
            with contextlib.suppress(FileNotFoundError):
                if os.lstat(path).st_ino == self._unix_inode:
                    path.unlink()
            self._unix_inode = None
        await asyncio.sleep(0)  # let the transports run connection_lost

    async def __aenter__(self) -> Ingress:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def healthy(self) -> bool:
        """Every bound endpoint is still open: a closed transport means telemetry is lost."""
        return bool(self._transports) and not any(t.is_closing() for t in self._transports)

    def marks(self) -> dict[str, GuardMark]:
        """Each trader's tightest guard mark, to persist at a clean shutdown."""
        marks = {trader: peer.guard.exact_mark() for trader, peer in self._peers.items()}
        return {trader: mark for trader, mark in marks.items() if mark is not None}

    @property
    def udp_address(self) -> tuple[str, int] | None:
        """The bound UDP address (with the real port when 0 was configured)."""
        for transport in self._transports:
            sock = transport.get_extra_info("socket")
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                host, port = sock.getsockname()[:2]
                return (host, port)
        return None

    def _bind_unix(self, path: Path) -> socket.socket:
        _remove_stale_socket(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            # The umask closes the window between bind() and chmod() in which the file would
            # carry the process's default mode; nothing else runs in between (no await).
            previous = os.umask(0o777 & ~self._config.socket_mode)
            try:
                sock.bind(str(path))
            finally:
                os.umask(previous)
            os.chmod(path, self._config.socket_mode)
            self._unix_inode = os.lstat(path).st_ino
        except OSError:
            sock.close()
            raise
        return sock

    # -- receive path (sync: one datagram, decided at once) -------------------------------

    def handle_datagram(
        self,
        data: bytes,
        address: Any,
        transport: asyncio.DatagramTransport | None,
        *,
        sender_pid: int | None = None,
    ) -> None:
        """Validate one datagram and deliver it, or drop and count it. Never raises for input.

        `sender_pid` is the kernel's word on who sent it (Unix socket), None when it has none
        (UDP); it is passed on for every accepted datagram, before its events.
        """
        try:
            telemetry = decode_telemetry(data, self._keys.get)
            peer = self._peers[telemetry.header.trader_id]
            admission = peer.guard.admit(telemetry.header, self._clock.wall())
        except ProtocolError as exc:
            self._reject(self._refusal(data, exc.reason))
            return
        header = telemetry.header
        if admission.reserve is not None and self._on_reserve is not None:
            self._on_reserve(header.trader_id, admission.reserve)  # durable before it counts
        if address:
            # An unbound Unix sender has no address (None or ""): it cannot receive acks, and
            # handing sendto() a missing address is a fatal transport error that would close
            # the ingress for every trader.
            peer.transport, peer.address = transport, address
        if self._on_sender is not None:
            self._on_sender(header.trader_id, sender_pid)
        self.accepted_datagrams += 1
        if admission.late:
            # Newer snapshots were already applied and a late datagram is no sign of life;
            # its order events still count (a fill must never be lost).
            self.late_datagrams += 1
            events = [to_risk(e) for e in telemetry.events if isinstance(e, wire.OrderEvent)]
            if not events:
                return
        else:
            events = [to_risk(event) for event in telemetry.events]
            if not peer.guard.complete():
                # A datagram before this one is missing: it may still carry a report, so an
                # answer here proves nothing (key misuse waits out its window instead).
                events = [_unanswered(event) for event in events]
        self.accepted_events += len(events)
        self._on_batch(header.trader_id, header.session_id, events, admission.session_changed)

    def _refusal(self, data: bytes, reason: str) -> str:
        """A datagram for a trader supervised without telemetry has no key to check it with;
        it is counted under its own reason, so an operator sees who still sends."""
        if reason == "unknown_trader" and peek_header(data).trader_id in self._config.silent:
            return "telemetry_none"
        return reason

    def _ack_error(self, error: OSError) -> None:
        # An ack to a trader that went away (ECONNREFUSED, ENOENT): liveness will notice.
        self.ack_errors += 1

    def _reject(self, reason: str) -> None:
        self.rejects[reason] = self.rejects.get(reason, 0) + 1
        if self._on_reject is not None:
            self._on_reject(reason)
        burst = self._burst.record(self._clock.monotonic(), reason)
        if burst is not None:
            log.warning("invalid_telemetry_burst", extra={"count": burst.count})
            if self._on_invalid_burst is not None:
                self._on_invalid_burst(burst)

    # -- acks ---------------------------------------------------------------------------

    def send_ack(
        self,
        trader_id: str,
        state: TradingState,
        *,
        limits_version: str,
        reason: str = "",
        ask: int = 0,
    ) -> bool:
        """Send the watchdog's state to the trader's last accepted address (with `ask`, a
        question the client answers at once).

        Returns False (nothing sent) when the trader has not been heard from yet. Never
        blocks: the datagram goes out now or is queued by the transport.
        """
        peer = self._peers.get(trader_id)
        if peer is None or peer.transport is None or peer.guard.session_id is None:
            return False
        if not peer.address:
            return False
        if peer.transport.is_closing():
            return False
        peer.ack_seq += 1
        ack = Ack(
            _WIRE_STATES[state],
            limits_version,
            peer.guard.highest_seq,
            reason,
            self._clock.wall(),
            ask,
        )
        data = encode_ack(
            self._keys[trader_id], trader_id, peer.guard.session_id, peer.ack_seq, ack
        )
        peer.transport.sendto(data, peer.address)
        return True


def to_risk(event: wire.TelemetryEvent) -> IngressEvent:
    """The watchdog's edge: a protocol event as the risk engine's event (from telemetry).

    The client owns the wire's types so that it needs only the standard library; the risk
    engine owns its own. The trader's state report stays as the protocol carries it."""
    if isinstance(event, wire.OrderEvent):
        return OrderEvent(
            ts=event.ts,
            kind=_KINDS[event.kind],
            symbol=event.symbol,
            side=_SIDES[event.side],
            qty=event.qty,
            price=event.price,
            reason=event.reason,
            realized_pnl=event.realized_pnl,
            source=EventSource.TELEMETRY,
            order_id=event.order_id,
        )
    if isinstance(event, wire.Heartbeat):
        return Heartbeat(ts=event.ts, answers=event.answers)
    if isinstance(event, wire.AccountSnapshot):
        return AccountSnapshot(
            event.ts, event.equity, event.realized_pnl, event.unrealized_pnl, EventSource.TELEMETRY
        )
    if isinstance(event, wire.PositionSnapshot):
        return PositionSnapshot(
            event.ts, event.symbol, event.qty, event.mark_price, EventSource.TELEMETRY
        )
    if isinstance(event, wire.FeedStatus):
        return FeedStatus(event.ts, event.symbol, event.last_event_ts)
    if isinstance(event, wire.OpenOrdersSnapshot):
        return OpenOrdersSnapshot(event.ts, event.count, EventSource.TELEMETRY)
    return event


def _unanswered(event: IngressEvent) -> IngressEvent:
    if isinstance(event, Heartbeat) and event.answers:
        return Heartbeat(ts=event.ts)
    return event


# The same names on both sides: built once, by name, so a member added on one side only
# fails at import rather than mid-stream.
_KINDS: Mapping[str, OrderEventKind] = {kind.name: OrderEventKind[kind.name] for kind in WireKind}
_SIDES: Mapping[str, Side] = {side.name: Side[side.name] for side in WireSide}
_WIRE_STATES: Mapping[TradingState, WireState] = {
    state: WireState[state.name] for state in TradingState
}


def _remove_stale_socket(path: Path) -> None:
    """Remove a socket file left by a dead watchdog; refuse anything else at that path."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise IngressError(f"{path} exists and is not a socket: refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        path.unlink()  # nobody is bound to it: stale
        return
    finally:
        probe.close()
    raise IngressError(f"{path} is in use by a running process (another watchdog?)")


class _IngressProtocol(asyncio.DatagramProtocol):
    def __init__(self, ingress: Ingress) -> None:
        self._ingress = ingress
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector datagram transport does not subclass DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._ingress.handle_datagram(data, addr, self._transport)

    def error_received(self, exc: Exception) -> None:
        # An ack to a trader that went away (ECONNREFUSED, ENOENT): liveness will notice.
        self._ingress.ack_errors += 1
