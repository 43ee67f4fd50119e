"""A datagram relay (UDP or Unix datagram) that drops, delays, duplicates and reorders.

Clients send to the relay's address instead of the upstream's. For each client address the
relay opens its own socket toward the upstream, so the upstream's replies (the watchdog's acks)
arrive on a socket that says which client they belong to and are sent back from the relay's
address. For Unix datagram sockets this is the only way to keep a return path: the client binds
its own name, and each per-client socket is bound to a name in the relay's private directory.

Everything runs in event-loop callbacks (non-blocking sockets, ``add_reader``, ``call_later``):
no task is spawned, and closing the relay cancels every timer it set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.faultproxy.faults import DatagramFaults, DatagramPath, Direction
from tests.support.faultproxy.lifecycle import AsyncService

UdpAddress = tuple[str, int]
Address = UdpAddress | str  # a str is a Unix datagram socket path
_RECV_SIZE = 256 * 1024  # above the largest Unix datagram the kernel accepts by default
_READS_PER_WAKEUP = 64  # fairness: one busy socket cannot starve the loop
_Send = Callable[[bytes], None]


@dataclass(frozen=True)
class DatagramDirectionStats:
    received: int
    forwarded: int
    bytes_forwarded: int
    dropped: int  # by a fault (drop probability or blackhole)
    delayed: int
    duplicated: int
    reordered: int
    overflow: int  # dropped because a bound was hit (timers pending, socket buffer full)
    send_errors: int  # the destination was not there (no socket bound, port closed)


@dataclass(frozen=True)
class DatagramStats:
    clients: int
    unroutable: int  # replies for a client that has no address to answer to
    in_flight: int  # datagrams waiting in a delay or reorder timer
    upstream: DatagramDirectionStats
    downstream: DatagramDirectionStats


@dataclass
class _Counters:
    received: int = 0
    forwarded: int = 0
    bytes_forwarded: int = 0
    dropped: int = 0
    delayed: int = 0
    duplicated: int = 0
    reordered: int = 0
    overflow: int = 0
    send_errors: int = 0
    ordinal: int = 0

    def snapshot(self) -> DatagramDirectionStats:
        return DatagramDirectionStats(
            self.received,
            self.forwarded,
            self.bytes_forwarded,
            self.dropped,
            self.delayed,
            self.duplicated,
            self.reordered,
            self.overflow,
            self.send_errors,
        )


@dataclass(eq=False)
class _Peer:
    """The relay's socket toward the upstream for one client address."""

    client: Any  # the client's address as the kernel reported it; None/"" if unnamed
    sock: socket.socket
    path: str | None = None  # Unix: the name this socket is bound to


@dataclass
class _Held:
    data: bytes
    send: _Send
    timer: int  # key of the timer that releases it alone


@dataclass
class _State:
    counters: dict[Direction, _Counters] = field(
        default_factory=lambda: {d: _Counters() for d in Direction}
    )
    held: dict[Direction, _Held | None] = field(default_factory=lambda: dict.fromkeys(Direction))
    unroutable: int = 0


class DatagramRelay(AsyncService):
    """Relay datagrams between clients and ``upstream`` with faults applied each way.

    ``upstream`` is ``(host, port)`` for UDP or a filesystem path for Unix datagram sockets.
    ``listen`` defaults to 127.0.0.1 port 0 (UDP) or a name in the relay's private directory
    (Unix). Use as ``async with DatagramRelay(...) as relay:`` and send to ``relay.address``.
    ``tap`` sees every datagram as it reaches the relay, before any fault: a capture point
    (e.g. to replay genuine traffic later).
    """

    def __init__(
        self,
        upstream: Address,
        *,
        listen: Address | None = None,
        rng: random.Random | None = None,
        faults: DatagramFaults | None = None,
        max_clients: int = 256,
        max_pending: int = 4096,
        tap: Callable[[Direction, bytes], None] | None = None,
    ) -> None:
        self._upstream = upstream
        self._tap = tap
        self._unix = isinstance(upstream, str)
        self._listen = listen
        self._rng = rng if rng is not None else random.Random(0)
        self._faults = faults if faults is not None else DatagramFaults()
        self._max_clients = max_clients
        self._max_pending = max_pending  # delayed datagrams held in timers, both ways together
        self._state = _State()
        self._peers: dict[Any, _Peer] = {}
        self._by_fd: dict[int, _Peer] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._next_timer = 0
        self._next_name = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._dir: str | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._dir = tempfile.mkdtemp(prefix="faultproxy-")
        try:
            self._sock = self._listening_socket()
        except OSError:
            await self.aclose()  # no private directory left behind by a relay that never ran
            raise
        self._loop.add_reader(self._sock.fileno(), self._on_client_readable)

    async def aclose(self) -> None:
        """Stop relaying: cancel every timer, close every socket, remove the private names."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for direction in Direction:
            self._drop_held(direction)
        for peer in list(self._peers.values()):
            self._close_peer(peer)
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @property
    def address(self) -> Address:
        """Where clients send. A path for Unix datagram relays, (host, port) for UDP."""
        if self._sock is None:
            raise RuntimeError("DatagramRelay.address read before start()")
        name = self._sock.getsockname()
        return name if isinstance(name, str) else (name[0], name[1])

    # --- faults ------------------------------------------------------------------------------

    @property
    def faults(self) -> DatagramFaults:
        return self._faults

    def set_faults(self, faults: DatagramFaults) -> None:
        """Swap every fault at once; applies to datagrams that arrive from now on."""
        self._faults = faults
        for direction in Direction:
            if faults.path(direction).reorder_probability == 0:
                self._release_held(direction)

    def set_path(self, direction: Direction, path: DatagramPath) -> None:
        up = path if direction is Direction.UPSTREAM else self._faults.upstream
        down = path if direction is Direction.DOWNSTREAM else self._faults.downstream
        self.set_faults(DatagramFaults(upstream=up, downstream=down))

    def blackhole(self, direction: Direction | None = None) -> None:
        """Drop every datagram (one direction, or both) until healed."""
        for each in Direction:
            if direction in (None, each):
                self.set_path(each, DatagramPath(blackhole=True))

    def heal(self) -> None:
        """Come back: clear every fault. Datagrams already delayed still arrive, late."""
        self.set_faults(DatagramFaults())

    # --- observation -------------------------------------------------------------------------

    def stats(self) -> DatagramStats:
        counters = self._state.counters
        return DatagramStats(
            clients=len(self._peers),
            unroutable=self._state.unroutable,
            in_flight=len(self._timers),
            upstream=counters[Direction.UPSTREAM].snapshot(),
            downstream=counters[Direction.DOWNSTREAM].snapshot(),
        )

    # --- sockets -----------------------------------------------------------------------------

    def _listening_socket(self) -> socket.socket:
        if self._unix:
            assert self._dir is not None
            where: Address = (
                self._listen if self._listen is not None else os.path.join(self._dir, "in.sock")
            )
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        else:
            where = self._listen if self._listen is not None else ("127.0.0.1", 0)
            assert isinstance(where, tuple)
            sock = socket.socket(_family(where[0]), socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(where)
        except OSError:
            sock.close()
            raise
        return sock

    def _peer_for(self, client: Any) -> _Peer:
        peer = self._peers.get(client)
        if peer is not None:
            return peer
        if len(self._peers) >= self._max_clients:
            self._close_peer(next(iter(self._peers.values())))  # the oldest client goes first
        peer = self._open_peer(client)
        self._peers[client] = peer
        self._by_fd[peer.sock.fileno()] = peer
        assert self._loop is not None
        self._loop.add_reader(peer.sock.fileno(), self._on_upstream_readable, peer)
        return peer

    def _open_peer(self, client: Any) -> _Peer:
        if self._unix:
            assert self._dir is not None
            self._next_name += 1
            path = os.path.join(self._dir, f"c{self._next_name}.sock")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(path)  # a name, so that the upstream's replies have somewhere to go
            return _Peer(client=client, sock=sock, path=path)
        assert isinstance(self._upstream, tuple)
        sock = socket.socket(_family(self._upstream[0]), socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect(self._upstream)  # UDP connect: picks the route, filters replies
        return _Peer(client=client, sock=sock)

    def _close_peer(self, peer: _Peer) -> None:
        self._peers.pop(peer.client, None)
        self._by_fd.pop(peer.sock.fileno(), None)
        if self._loop is not None:
            self._loop.remove_reader(peer.sock.fileno())
        peer.sock.close()
        if peer.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(peer.path)

    def _on_client_readable(self) -> None:
        assert self._sock is not None
        for _ in range(_READS_PER_WAKEUP):
            try:
                data, client = self._sock.recvfrom(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error for an earlier reply: nothing to relay
            key = client if client else None  # unnamed Unix senders: one shared slot
            peer = self._peer_for(key)
            self._submit(Direction.UPSTREAM, data, self._upstream_sender(peer))

    def _on_upstream_readable(self, peer: _Peer) -> None:
        for _ in range(_READS_PER_WAKEUP):
            try:
                data, sender = peer.sock.recvfrom(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._state.counters[Direction.UPSTREAM].send_errors += 1  # ICMP unreachable
                continue
            if self._unix and sender != self._upstream:
                continue  # not from the upstream: a relay forwards only its upstream's replies
            if peer.client is None:
                self._state.unroutable += 1
                continue
            self._submit(Direction.DOWNSTREAM, data, self._client_sender(peer.client))

    def _upstream_sender(self, peer: _Peer) -> _Send:
        if self._unix:
            return lambda data: _sendto(peer.sock, data, self._upstream)
        return lambda data: _send(peer.sock, data)

    def _client_sender(self, client: Any) -> _Send:
        def send(data: bytes) -> None:
            if self._sock is None:
                raise BlockingIOError  # closed meanwhile: counted as overflow, never raised on
            _sendto(self._sock, data, client)

        return send

    # --- the fault pipeline ------------------------------------------------------------------

    def _submit(self, direction: Direction, data: bytes, send: _Send) -> None:
        if self._tap is not None:
            self._tap(direction, data)
        path = self._faults.path(direction)
        counters = self._state.counters[direction]
        counters.received += 1
        if path.blackhole or self._chance(path.drop_probability):
            counters.dropped += 1
            return
        copies = 2 if self._chance(path.duplicate_probability) else 1
        counters.duplicated += copies - 1
        for _ in range(copies):
            counters.ordinal += 1
            delay = path.delay.sample(counters.ordinal, self._rng)
            if delay <= 0:
                self._emit(direction, data, send)
            elif len(self._timers) >= self._max_pending:
                counters.overflow += 1
            else:
                counters.delayed += 1
                self._later(delay, self._emit, direction, data, send)

    def _emit(self, direction: Direction, data: bytes, send: _Send) -> None:
        """The last stage: reorder (hold one, let the next overtake it), then send."""
        held = self._state.held[direction]
        if held is not None:
            self._cancel(held.timer)
            self._state.held[direction] = None
            self._deliver(direction, data, send)
            self._deliver(direction, held.data, held.send)
            self._state.counters[direction].reordered += 1
            return
        path = self._faults.path(direction)
        if self._chance(path.reorder_probability):
            timer = self._later(path.reorder_hold_s, self._release_held, direction)
            self._state.held[direction] = _Held(data, send, timer)
            return
        self._deliver(direction, data, send)

    def _release_held(self, direction: Direction) -> None:
        held = self._state.held[direction]
        if held is not None:
            self._cancel(held.timer)
            self._state.held[direction] = None
            self._deliver(direction, held.data, held.send)

    def _drop_held(self, direction: Direction) -> None:
        held = self._state.held[direction]
        if held is not None:
            self._cancel(held.timer)
            self._state.held[direction] = None

    def _deliver(self, direction: Direction, data: bytes, send: _Send) -> None:
        counters = self._state.counters[direction]
        try:
            send(data)
        except (BlockingIOError, InterruptedError):
            counters.overflow += 1  # the receiver's buffer is full: a real network drops too
        except OSError:
            counters.send_errors += 1  # nobody bound there (yet): the datagram is lost
        else:
            counters.forwarded += 1
            counters.bytes_forwarded += len(data)

    def _chance(self, probability: float) -> bool:
        # No draw at 0: a healthy path does not consume randomness, so seeds stay comparable.
        return probability > 0 and self._rng.random() < probability

    def _cancel(self, key: int) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _later(self, delay: float, callback: Callable[..., None], *args: Any) -> int:
        """Run ``callback(*args)`` after ``delay`` s; returns the key that cancels it."""
        assert self._loop is not None
        self._next_timer += 1
        key = self._next_timer

        def fire() -> None:
            self._timers.pop(key, None)
            callback(*args)

        self._timers[key] = self._loop.call_later(delay, fire)
        return key


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _send(sock: socket.socket, data: bytes) -> None:
    sock.send(data)


def _sendto(sock: socket.socket, data: bytes, address: Any) -> None:
    sock.sendto(data, address)
